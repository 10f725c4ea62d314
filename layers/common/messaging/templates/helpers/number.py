"""handlebars-helpers' number helpers, with JavaScript's number formatting."""

from __future__ import annotations

import math
import re
from typing import Any

from messaging.templates.helpers.core import (
    MAX_DIGITS,
    Call,
    HelperError,
    Spec,
    bounded,
    is_number,
    js_number_str,
    js_str,
    number,
    to_number,
)
from messaging.templates.helpers.math import round_

_DIGIT_RUN = re.compile(r"\d+")
_LEADING_INT = re.compile(r"^\s*[-+]?\d+")
_LEADING_FLOAT = re.compile(r"^\s*[-+]?(\d+(\.\d*)?(e[-+]?\d+)?|\.\d+(e[-+]?\d+)?|Infinity)", re.IGNORECASE)


def _exponent(text: str) -> str:
    mantissa, exponent = text.split("e")
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"


def to_fixed(value: float, digits: int) -> str:
    if not math.isfinite(value) or abs(value) >= 1e21:
        return js_number_str(value)
    return f"{value:.{digits}f}"


def to_exponential(value: float, digits: int | None) -> str:
    if not math.isfinite(value):
        return js_number_str(value)
    if digits is None:
        return _exponent(f"{value:e}".replace("0e", "e").rstrip("0")) if value else "0e+0"
    return _exponent(f"{value:.{digits}e}")


def to_precision(value: float, precision: int) -> str:
    if not math.isfinite(value):
        return js_number_str(value)
    if value == 0:
        return "0" + ("." + "0" * (precision - 1) if precision > 1 else "")
    exponent = math.floor(math.log10(abs(float(f"{value:.{precision - 1}e}"))))
    if exponent < -6 or exponent >= precision:
        return _exponent(f"{value:.{precision - 1}e}")
    return f"{value:.{max(precision - 1 - exponent, 0)}f}"


def _digits(call: Call, index: int, default: int, low: int = 0) -> int:
    value = call.arg(index)
    if value is None:
        return default
    digits = bounded(value, "the digits", MAX_DIGITS)
    if digits < low:
        raise HelperError(f"the digits are between {low} and {MAX_DIGITS}")
    return digits


def _number_arg(call: Call) -> float:
    value = call.arg(0)
    if not is_number(value):
        raise HelperError(f"expected a number, got {js_str(value)[:50]!r}")
    return to_number(value)


def _group_thousands(digits: str) -> str:
    head = len(digits) % 3 or 3
    return ",".join([digits[:head]] + [digits[start : start + 3] for start in range(head, len(digits), 3)])


def add_commas(call: Call) -> Any:
    # The library's `/(\d)(?=(\d\d\d)+(?!\d))/g` (a comma after each digit followed by a multiple of
    # three digits, in every run of digits) looks ahead to the run's end from each digit:
    # quadratic. The same commas, one run at a time.
    return _DIGIT_RUN.sub(lambda match: _group_thousands(match.group(0)), js_str(call.arg(0)))


def bytes_(call: Call) -> Any:
    value = call.arg(0)
    if value is None:
        return "0 B"
    if not is_number(value):
        value = len(value) if isinstance(value, (str, list)) else 0
        if not value:
            return "0 B"
    precision = 10 ** (_digits(call, 1, 2) if is_number(call.arg(1)) else 2)
    amount = to_number(value)
    names = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    index = len(names) - 1
    while index >= 0:
        index -= 1  # the library's `len-- >= 0` looks at the name below
        size = 10 ** (index * 3) if index >= 0 else 10 ** (-3)
        if index >= 0 and size <= amount + 1:
            return f"{js_number_str(number(round_(amount * precision / size) / precision))} {names[index]}"
    return js_number_str(number(amount))


def phone_number(call: Call) -> Any:
    text = js_str(call.arg(0))
    return f"({text[0:3]}) {text[3:6]}-{text[6:10]}"


def to_abbr(call: Call) -> Any:
    value = call.arg(0)
    if not is_number(value):
        return ""
    amount = to_number(value)
    precision = 10 ** (_digits(call, 1, 2) if is_number(call.arg(1)) else 2)
    names = ("k", "m", "b", "t", "q")
    for index in range(len(names) - 1, -1, -1):
        size = 10 ** ((index + 1) * 3)
        if size <= amount + 1:
            return js_number_str(number(round_(amount * precision / size) / precision)) + names[index]
    return js_number_str(number(amount))


def to_float(call: Call) -> Any:
    value = call.arg(0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number(float(value))
    match = _LEADING_FLOAT.match(js_str(value))
    return number(float(match.group(0))) if match else math.nan


def to_int(call: Call) -> Any:
    value = call.arg(0)
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    match = _LEADING_INT.match(js_str(value))
    # parseInt gives a double; Python's int() of a long decimal text is quadratic (and refused
    # past 4,300 digits).
    return number(float(match.group(0))) if match else math.nan


HELPERS: dict[str, Spec] = {
    "addCommas": Spec(add_commas),
    "bytes": Spec(bytes_),
    "phoneNumber": Spec(phone_number),
    "toAbbr": Spec(to_abbr),
    "toExponential": Spec(
        lambda call: to_exponential(_number_arg(call), _digits(call, 1, 0) if call.arg(1) is not None else None)
    ),
    "toFixed": Spec(lambda call: to_fixed(_number_arg(call), _digits(call, 1, 0))),
    "toFloat": Spec(to_float),
    "toInt": Spec(to_int),
    "toPrecision": Spec(lambda call: to_precision(_number_arg(call), _digits(call, 1, 1, low=1))),
}
