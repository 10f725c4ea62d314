"""Catalogue helpers made fit for the native engine, by rewriting the template once at compile.

The native binding hands a helper its arguments as JSON and takes back a string; a block helper
can render its body and inverse, but only in the current context. So, per catalogue name:

- `{{#name a}}...{{else}}...{{/name}}` becomes `{{#name__block a}}...{{/name__block}}` (and so does
  `{{else name a}}`): the block form renders its body or its inverse;
- `(name a)` becomes `(name__sub a)`: the value goes on to the next helper as marked JSON, never
  escaped (only what is written is escaped);
- a block that changes the context (`forEach`, `withSort`, `forIn`..., and `each`/`with` over a
  catalogue subexpression) becomes one tag, `{{name__iter a __fn="..." __inv="..."}}`: its body
  and inverse are compiled apart (`Rewritten.subs`) and rendered by the helper per item, with the
  item as `this` and the template's root as `@root` (`../` reaches the root too).

Inline `{{name a}}` stays. A template that uses no catalogue helper comes back unchanged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache

from messaging.templates.helpers import CATALOGUE
from messaging.templates.helpers.core import Spec
from messaging.templates.tags import backslashes_before, tag_end

BLOCK = "__block"
SUB = "__sub"
ITER = "__iter"
_OPEN = re.compile(r"^(~?\s*)#\s*([^\s()~}]+)")
_CLOSE = re.compile(r"^(~?\s*)/\s*([^\s()~}]+)")
_ELSE = re.compile(r"^(~?\s*)else\s+([^\s()~}=]+)")
_INVERSE_OPEN = re.compile(r"^(~?\s*)\^\s*([^\s()~}]+)")
_PLAIN_ELSE = re.compile(r"^~?\s*(else|\^)\s*~?$")
_HASH_KEY = re.compile(r"([A-Za-z_$][\w$-]*)\s*=")
_SUB_NAME = re.compile(r"\(\s*([^\s()~}]+)")
# What a context-changing block is rendered with: its items, then the root's own keys.
ITEMS = "__it"


class RewriteError(ValueError):
    """A construct the rewrite cannot carry (a chained `{{else x}}` on a context-changing block)."""


@dataclass(frozen=True)
class Rewritten:
    source: str
    subs: tuple[tuple[str, str], ...] = ()  # (name, source) of bodies rendered by helpers


@dataclass
class _Frame:
    name: str
    renamed: bool = False
    iterating: bool = False
    start: int = 0
    open_end: int = 0
    prefix: str = ""
    args: str = ""
    else_span: tuple[int, int] | None = None


@dataclass
class _State:
    subs: list[tuple[str, str]] = field(default_factory=list)


def _iterates(spec: Spec | None) -> bool:
    return spec is not None and spec.kind in ("iter", "with")


def _tags(source: str) -> list[tuple[int, int, int]]:
    """(start, end, brace count) of the `{{ }}` tags, skipping comments, raw blocks and `\\{{`."""
    tags: list[tuple[int, int, int]] = []
    index = 0
    while True:
        start = source.find("{{", index)
        if start < 0:
            return tags
        backslashes = backslashes_before(source, start)
        if source.startswith("{{{{", start):
            close = source.find("{{{{/", start + 4)
            close_end = source.find("}}}}", close) if close >= 0 else -1
            if close_end < 0:
                return tags
            index = close_end + 4
            continue
        braces = 3 if source.startswith("{{{", start) else 2
        body = start + braces + source.startswith("~", start + braces)
        if backslashes != 1 and braces == 2 and source.startswith("!", body):
            long_comment = source.startswith("!--", body)
            end = source.find("--}}" if long_comment else "}}", body)
            if end < 0:
                return tags
            index = end + (4 if long_comment else 2)
            continue
        end, _ = tag_end(source, start + braces, "}" * braces)
        if end < 0:
            return tags
        if backslashes != 1:
            tags.append((start, end, braces))
        index = end


def _rename_subexpressions(text: str, names: Collection[str]) -> str:
    if "(" not in text:
        return text
    out: list[str] = []
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char in "\"'[":
            end = text.find("]" if char == "[" else char, index + 1)
            end = length if end < 0 else end + 1
            out.append(text[index:end])
            index = end
            continue
        if char == "(":
            match = _SUB_NAME.match(text, index)
            if match and match.group(1) in names:
                out.append(text[index : match.end()] + SUB)
                index = match.end()
                continue
        out.append(char)
        index += 1
    return "".join(out)


def _first_subexpression(args: str, names: Collection[str]) -> bool:
    match = _SUB_NAME.match(args.strip())
    return bool(match and match.group(1) in names)


def _sub_name(source: str) -> str:
    return "sub-" + hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


def _iterator_tag(source: str, frame: _Frame, close_start: int, close_end: int, state: _State) -> str:
    names = CATALOGUE.keys()
    body_end, inverse_start = frame.else_span or (close_start, close_start)
    body = _rewrite(source[frame.open_end : body_end], state)
    inverse = _rewrite(source[inverse_start:close_start], state) if frame.else_span else ""
    body_source = "{{#each " + ITEMS + "}}" + body + "{{/each}}"
    body_name = _sub_name(body_source)
    state.subs.append((body_name, body_source))
    args = frame.args.rstrip()
    args = args[:-1] if args.endswith("~") else args
    extra = f' __fn="{body_name}"'
    if inverse:
        inverse_name = _sub_name(inverse)
        state.subs.append((inverse_name, inverse))
        extra += f' __inv="{inverse_name}"'
    if frame.name == "withHash":
        keys = _HASH_KEY.findall(re.sub(r'"[^"]*"|\'[^\']*\'', '""', args))
        extra += f' __keys="{",".join(keys)}"'
    closer = source[close_start:close_end]
    trim = "~" if closer.rstrip("}").endswith("~") else ""
    return "{{" + frame.prefix + frame.name + ITER + _rename_subexpressions(args, names) + extra + trim + "}}"


def _rewrite(source: str, state: _State) -> str:
    names = CATALOGUE.keys()
    out: list[str] = []
    position = 0
    stack: list[_Frame] = []
    iterating_at: int | None = None  # the stack index of the context-changing block being read
    for start, end, braces in _tags(source):
        inner = source[start + braces : end - braces]
        if iterating_at is not None:
            opened, closed = _OPEN.match(inner), _CLOSE.match(inner)
            inverse_opened = _INVERSE_OPEN.match(inner) if not _PLAIN_ELSE.match(inner) else None
            if (opened or inverse_opened) and braces == 2:
                stack.append(_Frame(""))
            elif closed and braces == 2:
                frame = stack.pop()
                if len(stack) == iterating_at:
                    out.append(source[position : frame.start])
                    out.append(_iterator_tag(source, frame, start, end, state))
                    position = end
                    iterating_at = None
            elif len(stack) == iterating_at + 1 and braces == 2:
                if _PLAIN_ELSE.match(inner) and stack[-1].else_span is None:
                    stack[-1].else_span = (start, end)
                elif _ELSE.match(inner):
                    raise RewriteError(f"{{{{else ...}}}} chains are not supported on {stack[-1].name}")
            continue
        replacement = inner
        if braces == 2 and (opened := _OPEN.match(inner)):
            name, args = opened.group(2), inner[opened.end() :]
            spec = CATALOGUE.get(name)
            if _iterates(spec) or (name in ("each", "with") and _first_subexpression(args, names)):
                stack.append(_Frame(name, iterating=True, start=start, open_end=end, prefix=opened.group(1), args=args))
                iterating_at = len(stack) - 1
                continue
            renamed = spec is not None
            stack.append(_Frame(name, renamed=renamed))
            replacement = (
                opened.group(1) + "#" + name + (BLOCK if renamed else "") + _rename_subexpressions(args, names)
            )
        elif braces == 2 and not _PLAIN_ELSE.match(inner) and _INVERSE_OPEN.match(inner):
            stack.append(_Frame(""))
            replacement = _rename_subexpressions(inner, names)
        elif braces == 2 and (closed := _CLOSE.match(inner)):
            frame = stack.pop() if stack else _Frame("")
            if frame.renamed:
                replacement = closed.group(1) + "/" + closed.group(2) + BLOCK + inner[closed.end() :]
        elif braces == 2 and (chained := _ELSE.match(inner)) and chained.group(2) in names:
            if _iterates(CATALOGUE.get(chained.group(2))):
                raise RewriteError(f"{chained.group(2)} cannot be chained with {{{{else}}}}")
            replacement = inner[: chained.end()] + BLOCK + _rename_subexpressions(inner[chained.end() :], names)
        else:
            replacement = _rename_subexpressions(inner, names)
        if replacement != inner:
            out.append(source[position:start])
            out.append(source[start : start + braces] + replacement + source[end - braces : end])
            position = end
    out.append(source[position:])
    return "".join(out)


@lru_cache(maxsize=1024)
def rewrite(source: str) -> Rewritten:
    """The source fit for the native engine, and the bodies it renders apart."""
    if "{{" not in source:
        return Rewritten(source)
    state = _State()
    text = _rewrite(source, state)
    return Rewritten(text, tuple(dict.fromkeys(state.subs)))
