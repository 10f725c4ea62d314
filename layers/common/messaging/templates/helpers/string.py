"""handlebars-helpers' string helpers: what is not a string gives nothing, as in the library."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from messaging.templates.helpers.core import Call, Safe, Spec, bounded, check_result, is_number, js_str, to_number

# The library's `/^[-_.\W\s]+|[-_.\W\s]+$/g` tries its second branch from every separator of a
# long run that a word character ends: quadratic. The trailing run is found as the leading run of
# the reversed text instead (anchored: one attempt each).
_CHOP = re.compile(r"[-_.\W\s]+")
_CHANGE = re.compile(r"[-_.\W\s]+(\w|$)")
_SENTENCE = re.compile(r"((?:\S[^.?!]*)[.?!]*)")
_WORD = re.compile(r"\w\S*")


def _text(call: Call, index: int = 0) -> str | None:
    value = call.arg(index)
    return value if isinstance(value, str) else None


def _string_helper(transform: Callable[[str], Any]) -> Callable[[Call], Any]:
    def helper(call: Call) -> Any:
        text = _text(call)
        return transform(text) if text is not None else ""

    return helper


def chop(text: str) -> str:
    text = text.strip()
    leading = _CHOP.match(text)
    start = leading.end() if leading else 0
    if start == len(text):
        return ""
    trailing = _CHOP.match(text[::-1])
    return text[start : len(text) - (trailing.end() if trailing else 0)]


def _change_case(text: str, joiner: Callable[[str], str]) -> str:
    if len(text) == 1:
        return text.lower()
    return _CHANGE.sub(lambda match: joiner(match.group(1)), chop(text).lower())


def camelcase(text: str) -> str:
    return _change_case(text, str.upper)


def pascalcase(text: str) -> str:
    changed = camelcase(text)
    return changed[:1].upper() + changed[1:]


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def append(call: Call) -> Any:
    text, suffix = call.arg(0), call.arg(1)
    return text + suffix if isinstance(text, str) and isinstance(suffix, str) else text


def prepend(call: Call) -> Any:
    text, prefix = call.arg(0), call.arg(1)
    return prefix + text if isinstance(text, str) and isinstance(prefix, str) else text


def center(call: Call) -> Any:
    text = _text(call)
    if text is None:
        return ""
    # The library writes `&nbsp;`; escaped texts (an HTML body, an SSML voice text) get the same
    # space as a character reference, which XML knows too (SSML has no `&nbsp;`).
    space = "&#160;" if call.html else "&nbsp;"
    spaces = space * bounded(call.arg(1, 0), "center's spaces")
    return Safe(spaces + call.escape(text) + spaces)


def ellipsis(call: Call) -> Any:
    text, limit = _text(call), call.arg(1)
    if text is None:
        return ""
    size = int(to_number(limit)) if is_number(limit) else len(text)
    return text if len(text) <= size else text[: max(size, 0)] + "…"


def truncate(call: Call) -> Any:
    text, limit = _text(call), call.arg(1)
    suffix = call.arg(2) if isinstance(call.arg(2), str) else ""
    if text is None:
        return ""
    size = int(to_number(limit)) if is_number(limit) else len(text)
    if len(text) > size:
        return text[: max(size - len(suffix), 0)] + suffix
    return text


def truncate_words(call: Call) -> Any:
    text, count = _text(call), call.arg(1)
    if text is None or not is_number(count):
        return ""
    suffix = call.arg(2) if isinstance(call.arg(2), str) else "…"
    words = re.split(r"[ \t]", text)
    size = int(to_number(count))
    if size >= len(words):
        return text
    return " ".join(words[:size]).strip() + suffix


def hyphenate(text: str) -> str:
    return "-".join(text.split(" "))


def occurrences(call: Call) -> Any:
    text, part = _text(call), call.arg(1)
    if text is None or not isinstance(part, str) or not part:
        return ""
    return text.count(part)


def plusify(call: Call) -> Any:
    text, char = _text(call), call.arg(1)
    if text is None:
        return ""
    return "+".join(text.split(char if isinstance(char, str) and char else " "))


def _two(call: Call) -> tuple[str, str] | None:
    text, part = call.arg(0), call.arg(1)
    if not isinstance(text, str):
        return None
    return text, part if isinstance(part, str) else js_str(part)


def remove(call: Call) -> Any:
    pair = _two(call)
    return "" if pair is None else (pair[0].replace(pair[1], "") if pair[1] else pair[0])


def remove_first(call: Call) -> Any:
    pair = _two(call)
    return "" if pair is None else pair[0].replace(pair[1], "", 1)


def replace(call: Call) -> Any:
    pair = _two(call)
    if pair is None:
        return ""
    new = js_str(call.arg(2, ""))
    if not pair[1]:
        return pair[0]
    # A long replacement for every character of a long text would be their product in memory.
    check_result(len(pair[0]) + pair[0].count(pair[1]) * (len(new) - len(pair[1])), "replace")
    return pair[0].replace(pair[1], new)


def replace_first(call: Call) -> Any:
    pair = _two(call)
    return "" if pair is None else pair[0].replace(pair[1], js_str(call.arg(2, "")), 1)


def reverse(call: Call) -> Any:
    value = call.arg(0)
    if isinstance(value, list):
        return value[::-1]
    return value[::-1] if isinstance(value, str) else ""


def sentence(text: str) -> str:
    return _SENTENCE.sub(lambda match: match.group(0)[:1].upper() + match.group(0)[1:].lower(), text)


def split(call: Call) -> Any:
    text, separator = _text(call), call.arg(1)
    if text is None:
        return ""
    separator = separator if isinstance(separator, str) else ","
    return list(text) if separator == "" else text.split(separator)


def starts_with(call: Call) -> bool:
    prefix, text = call.arg(0), call.arg(1)
    return isinstance(text, str) and text.startswith(js_str(prefix))


def titleize(text: str) -> str:
    return " ".join(capitalize(word) for word in re.sub(r"[ \-_]+", " ", text).split(" "))


def uppercase(call: Call) -> Any:
    text = call.args[-1] if call.args else None  # the block form passes its body last
    return text.upper() if isinstance(text, str) else ""


HELPERS: dict[str, Spec] = {
    "append": Spec(append),
    "camelcase": Spec(_string_helper(camelcase)),
    "capitalize": Spec(_string_helper(capitalize)),
    "capitalizeAll": Spec(_string_helper(lambda text: _WORD.sub(lambda m: capitalize(m.group(0)), text))),
    "center": Spec(center),
    "chop": Spec(_string_helper(chop)),
    "dashcase": Spec(_string_helper(lambda text: _change_case(text, lambda ch: "-" + ch))),
    "dotcase": Spec(_string_helper(lambda text: _change_case(text, lambda ch: "." + ch))),
    "downcase": Spec(_string_helper(str.lower)),
    "ellipsis": Spec(ellipsis),
    "hyphenate": Spec(_string_helper(hyphenate)),
    "isString": Spec(lambda call: isinstance(call.arg(0), str), "cond"),
    "lowercase": Spec(_string_helper(str.lower)),
    "occurrences": Spec(occurrences),
    "pascalcase": Spec(_string_helper(pascalcase)),
    "pathcase": Spec(_string_helper(lambda text: _change_case(text, lambda ch: "/" + ch))),
    "plusify": Spec(plusify),
    "prepend": Spec(prepend),
    "remove": Spec(remove),
    "removeFirst": Spec(remove_first),
    "replace": Spec(replace),
    "replaceFirst": Spec(replace_first),
    "reverse": Spec(reverse),
    "sentence": Spec(_string_helper(sentence)),
    "snakecase": Spec(_string_helper(lambda text: _change_case(text, lambda ch: "_" + ch))),
    "split": Spec(split),
    "startsWith": Spec(starts_with, "cond"),
    "titleize": Spec(_string_helper(titleize)),
    "trim": Spec(_string_helper(str.strip)),
    "trimLeft": Spec(_string_helper(str.lstrip)),
    "trimRight": Spec(_string_helper(str.rstrip)),
    "truncate": Spec(truncate),
    "truncateWords": Spec(truncate_words),
    "upcase": Spec(uppercase, "body"),
    "uppercase": Spec(uppercase, "body"),
}
