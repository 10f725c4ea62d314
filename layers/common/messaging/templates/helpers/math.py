"""handlebars-helpers' math helpers: numbers, or strings that read as numbers."""

from __future__ import annotations

import math
from typing import Any

from messaging.templates.helpers.core import Call, HelperError, Spec, flatten, is_number, number, to_number


def _operands(call: Call, name: str) -> tuple[float, float]:
    a, b = call.arg(0), call.arg(1)
    if not is_number(a):
        raise HelperError(f"expected the first argument to be a number, got {a!r}"[:200])
    if not is_number(b):
        raise HelperError(f"expected the second argument to be a number, got {b!r}"[:200])
    return to_number(a), to_number(b)


def _js_mod(a: float, b: float) -> float:
    return math.nan if b == 0 else math.fmod(a, b)


def add(call: Call) -> Any:
    a, b = call.arg(0), call.arg(1)
    if is_number(a) and is_number(b):
        return number(to_number(a) + to_number(b))
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    return ""


def _binary(name: str, operation: Any) -> Any:
    def helper(call: Call) -> Any:
        a, b = _operands(call, name)
        return number(operation(a, b))

    return helper


def _divide(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b


def _unary(operation: Any) -> Any:
    def helper(call: Call) -> Any:
        value = call.arg(0)
        if not is_number(value):
            raise HelperError(f"expected a number, got {value!r}"[:200])
        return number(operation(to_number(value)))

    return helper


def _numbers(call: Call) -> list[float]:
    return [to_number(value) for value in flatten(call.args) if is_number(value)]


def avg(call: Call) -> Any:
    values = [to_number(value) for value in flatten(call.args)]
    return number(sum(values) / len(values)) if values else math.nan


def round_(value: float) -> float:
    return float(math.floor(value + 0.5))  # Math.round: halves go up


HELPERS: dict[str, Any] = {
    "abs": Spec(_unary(abs)),
    "add": Spec(add),
    "avg": Spec(avg),
    "ceil": Spec(_unary(math.ceil)),
    "divide": Spec(_binary("divide", _divide)),
    "floor": Spec(_unary(math.floor)),
    "minus": Spec(_binary("minus", lambda a, b: a - b)),
    "modulo": Spec(_binary("modulo", _js_mod)),
    "multiply": Spec(_binary("multiply", lambda a, b: a * b)),
    "plus": Spec(_binary("plus", lambda a, b: a + b)),
    "remainder": Spec(_binary("remainder", _js_mod)),
    "round": Spec(_unary(round_)),
    "subtract": Spec(_binary("subtract", lambda a, b: a - b)),
    "sum": Spec(lambda call: number(sum(_numbers(call)))),
    "times": Spec(_binary("times", lambda a, b: a * b)),
}
