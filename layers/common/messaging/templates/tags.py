"""Reading `{{ }}` tags the way the native parser does: what the guard and the rewrite both need,
so neither imports the other."""

from __future__ import annotations

import re

_FIRST_WORD = re.compile(r"[^\s()~}]+")


def backslashes_before(source: str, start: int) -> int:
    """How many backslashes precede `start`: exactly one makes `\\{{` literal text."""
    count = 0
    while start - count - 1 >= 0 and source[start - count - 1] == "\\":
        count += 1
    return count


def tag_end(source: str, start: int, closer: str) -> tuple[int, int]:
    """The offset after the tag's closing braces and its deepest subexpression nesting; -1 when
    the tag is not closed. Quoted strings and [segment literals] may hold braces."""
    index = start
    depth = 0
    deepest = 0
    length = len(source)
    while index < length:
        char = source[index]
        if char in "\"'":
            end = source.find(char, index + 1)
            if end < 0:
                return -1, deepest
            index = end + 1
            continue
        if char == "[":
            end = source.find("]", index + 1)
            if end < 0:
                return -1, deepest
            index = end + 1
            continue
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
        elif source.startswith(closer, index):
            return index + len(closer), deepest
        index += 1
    return -1, deepest


def first_word(body: str) -> str:
    match = _FIRST_WORD.match(body.strip())
    return match.group(0) if match else ""
