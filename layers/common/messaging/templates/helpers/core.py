"""What every catalogue helper shares: the call, JavaScript's conversions, the output forms.

A helper is a plain function of a `Call` returning a Python value; the engine adapts it to the
native binding in three forms (see `messaging.templates.rewrite`): inline `{{name a}}` writes the
value as JavaScript would print it, a subexpression `(name a)` hands the value on to the next
helper (encoded, since the native binding passes strings only), a block `{{#name a}}...{{/name}}`
renders its body or its inverse.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# Marks a subexpression's value that is not a string: the JSON of it follows. Private use: it
# never comes from JSON data (the context strips nothing, but no real text starts with it).
VALUE_MARK = "\ue001"
# Bounds of helpers that could otherwise spend memory on their own (spaces, digits, items).
MAX_REPEAT = 10_000
MAX_DIGITS = 100
# The most text one helper call may make (a replacement or a separator multiplied by its input):
# the message itself holds no more than 1 MiB, so more could only spend memory.
MAX_RESULT_CHARS = 1024 * 1024


class HelperError(ValueError):
    """A helper refused its input; the engine turns it into a TemplateRenderError naming the field."""


class Options(Protocol):
    def context_json(self) -> str: ...
    def hash_value_json(self, key: str) -> str: ...
    def template(self) -> str: ...
    def inverse(self) -> str: ...


@dataclass(frozen=True)
class Safe:
    """Text a helper has escaped itself (or that holds no data): never escaped again."""

    text: str


@dataclass
class Call:
    args: list[Any]
    options: Options
    html: bool = False
    # The helpers a helper may name as its iteratee (`{{map items "upcase"}}`): the engine's
    # catalogue, handed in so that no category module imports the catalogue that imports it.
    catalogue: Mapping[str, Spec] = field(default_factory=dict)
    _hash: dict[str, Any] = field(default_factory=dict)

    def hash(self, key: str, default: Any = None) -> Any:
        if key not in self._hash:
            raw = self.options.hash_value_json(key)
            self._hash[key] = decode(json.loads(raw)) if raw else None
        value = self._hash[key]
        return default if value is None else value

    def arg(self, index: int, default: Any = None) -> Any:
        return self.args[index] if index < len(self.args) and self.args[index] is not None else default

    def fn(self) -> str:
        return self.options.template()

    def inverse(self) -> str:
        return self.options.inverse()

    def escape(self, text: str) -> str:
        return html.escape(text) if self.html else text


Helper = Callable[[Call], Any]


@dataclass(frozen=True)
class Spec:
    """A catalogue entry. kind: "inline" (a block renders the inline value), "cond" (a block
    renders its body when the value is truthy, its inverse otherwise), "unless" (the reverse),
    "iter" (a block renders its body once per item of the value, a list or an object, with the
    item as context; its inverse when the value is None or empty), "body" (a block passes its
    rendered body as the last argument)."""

    fn: Helper
    kind: str = "inline"


def decode(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(VALUE_MARK):
        return json.loads(value[1:])
    return value


def decode_params(params_json: str) -> list[Any]:
    return [decode(value) for value in json.loads(params_json)]


def encode(value: Any) -> str:
    """A subexpression's value: strings as they are, falsy values as "" (so the built-in `if`
    reads them as false), anything else as marked JSON."""
    if isinstance(value, Safe):
        return value.text
    if isinstance(value, str):
        return value
    if value is None or value is False:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return VALUE_MARK + json.dumps(js_str(value))
    return VALUE_MARK + json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# ---- JavaScript's conversions -------------------------------------------------------------


def truthy(value: Any) -> bool:
    """JavaScript's truthiness: [] and {} are true."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def js_number_str(value: float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
    return text


def js_str(value: Any) -> str:
    """`String(value)` the way a template prints it: null and undefined print nothing."""
    if isinstance(value, Safe):
        return value.text
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return js_number_str(value)
    if isinstance(value, list):
        return ",".join("" if item is None else js_str(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


# `\d+(\.\d*)?`, never `\d+\.?\d*`: two quantifiers that may share a digit run backtrack in
# quadratic time on a long run of digits followed by a non-digit (issue 21).
_NUMERIC = re.compile(r"^\s*[-+]?(\d+(\.\d*)?(e[-+]?\d+)?|\.\d+(e[-+]?\d+)?|0x[0-9a-f]+|Infinity)\s*$", re.IGNORECASE)


def is_number(value: Any) -> bool:
    """handlebars-helpers' isNumber: a finite number, or a string that reads as one."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    if isinstance(value, str) and value.strip():
        return math.isfinite(to_number(value))
    return False


def to_number(value: Any) -> float:
    """`Number(value)`; NaN for what does not read as a number."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        if not _NUMERIC.match(text):
            return math.nan
        if text.lower().startswith(("0x", "+0x", "-0x")):
            whole = int(text, 16)  # linear: a power-of-two base
            try:
                return float(whole)
            except OverflowError:
                return math.copysign(math.inf, whole)
        return float(text)
    if isinstance(value, list):
        return to_number(value[0]) if len(value) == 1 else (0.0 if not value else math.nan)
    return math.nan


def number(value: float) -> int | float:
    """A float written back as an int when integral (so JSON and printing agree with JavaScript)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def strict_equal(a: Any, b: Any) -> bool:
    """`===`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return False  # objects are equal only to themselves; data values are always copies
    return type(a) is type(b) and a == b


def loose_equal(a: Any, b: Any) -> bool:
    """`==`."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        if isinstance(a, (list, dict)) and isinstance(b, (list, dict)):
            return False
        other = b if isinstance(a, (list, dict)) else a
        return loose_equal(js_str(a if isinstance(a, (list, dict)) else b), other)
    return to_number(a) == to_number(b)


def compare(a: Any, b: Any, operator: str) -> bool:
    """`a < b` and its kin: strings by code point, anything else as numbers."""
    if isinstance(a, str) and isinstance(b, str):
        left: Any = a
        right: Any = b
    else:
        left, right = to_number(a), to_number(b)
        if math.isnan(left) or math.isnan(right):
            return False
    if operator == "<":
        return bool(left < right)
    if operator == ">":
        return bool(left > right)
    if operator == "<=":
        return bool(left <= right)
    return bool(left >= right)


def get_path(value: Any, path: Any) -> Any:
    """`utils.get(object, "a.b.0")`."""
    if path is None:
        return None
    keys = path if isinstance(path, list) else str(path).split(".")
    for key in keys:
        if isinstance(value, dict):
            value = value.get(str(key))
        elif isinstance(value, list):
            try:
                value = value[int(key)]
            except (ValueError, IndexError):
                return None
        else:
            return None
    return value


def flatten(values: Iterable[Any]) -> list[Any]:
    """Nested lists' items in order; one pass (a recursive extend copies a comb-shaped list
    once per level: quadratic)."""
    flat: list[Any] = []
    stack = [iter(values)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            flat.append(value)
        else:
            stack.pop()
    return flat


def check_result(size: int, name: str) -> None:
    """Refuses, before making it, a text longer than MAX_RESULT_CHARS."""
    if size > MAX_RESULT_CHARS:
        raise HelperError(f"{name} would make more than {MAX_RESULT_CHARS} characters")


def bounded(count: Any, name: str, limit: int = MAX_REPEAT) -> int:
    number_value = to_number(count)
    if math.isnan(number_value):
        return 0
    if number_value > limit:
        raise HelperError(f"{name} is at most {limit} (given {js_str(count)})")
    return max(0, int(number_value))
