"""handlebars-helpers' comparison helpers. Inline, each gives its boolean; as a block, its body
when true, its inverse (`{{else}}`) otherwise; `compare=` in the hash stands for a missing second
operand, as in the library."""

from __future__ import annotations

from typing import Any

from messaging.templates.helpers.core import (
    Call,
    HelperError,
    Spec,
    compare,
    is_number,
    loose_equal,
    strict_equal,
    to_number,
    truthy,
)
from messaging.templates.helpers.misc import type_of

# The `falsey` module's words, which isFalsey and isTruthy read as false.
FALSEY_WORDS = frozenset({"none", "nil", "nope", "no", "nada", "0", "false", "null", "undefined", "off", "never"})


def _pair(call: Call) -> tuple[Any, Any]:
    return call.arg(0), call.args[1] if len(call.args) > 1 else call.hash("compare")


def and_(call: Call) -> bool:
    return all(truthy(value) for value in call.args)


def or_(call: Call) -> bool:
    return any(truthy(value) for value in call.args)


def compare_(call: Call) -> bool:
    if len(call.args) < 3:
        raise HelperError("expects 3 arguments: a, operator, b")
    a, operator, b = call.args[:3]
    if operator == "==":
        return loose_equal(a, b)
    if operator == "===":
        return strict_equal(a, b)
    if operator == "!=":
        return not loose_equal(a, b)
    if operator == "!==":
        return not strict_equal(a, b)
    if operator in ("<", ">", "<=", ">="):
        return compare(a, b, operator)
    if operator == "typeof":
        return bool(type_of(a) == b)
    raise HelperError(f"invalid operator {operator!r}")


def contains_value(collection: Any, value: Any, start: Any = None) -> bool:
    begin = int(to_number(start)) if is_number(start) else 0
    if isinstance(collection, str):
        if not isinstance(value, str):
            value = str(value)
        return collection.find(value, begin if begin >= 0 else max(0, len(collection) + begin)) >= 0
    if isinstance(collection, list):
        return any(strict_equal(item, value) for item in collection[begin:])
    if isinstance(collection, dict):
        return any(strict_equal(item, value) for item in collection.values())
    return False


def contains(call: Call) -> bool:
    return contains_value(call.arg(0), call.arg(1), call.arg(2))


def default(call: Call) -> Any:
    for value in call.args:
        if value is not None:
            return value
    return ""


def eq(call: Call) -> bool:
    return strict_equal(*_pair(call))


def gt(call: Call) -> bool:
    return compare(*_pair(call), ">")


def gte(call: Call) -> bool:
    return compare(*_pair(call), ">=")


def lt(call: Call) -> bool:
    return compare(*_pair(call), "<")


def lte(call: Call) -> bool:
    return compare(*_pair(call), "<=")


def has(call: Call) -> bool:
    value, pattern = call.arg(0), call.arg(1)
    if len(call.args) < 2 or not isinstance(pattern, str):
        return False
    if isinstance(value, (list, str)):
        return pattern in value
    if isinstance(value, dict):
        return pattern in value
    return False


def falsey(value: Any) -> bool:
    if isinstance(value, str) and value.strip().lower() in FALSEY_WORDS:
        return True
    return not truthy(value)


def is_falsey(call: Call) -> bool:
    return falsey(call.arg(0))


def is_truthy(call: Call) -> bool:
    return not falsey(call.arg(0))


def if_even(call: Call) -> bool:
    value = call.arg(0)
    return is_number(value) and to_number(value) % 2 == 0


def if_odd(call: Call) -> bool:
    value = call.arg(0)
    return is_number(value) and to_number(value) % 2 == 1


def if_nth(call: Call) -> bool:
    a, b = call.arg(0), call.arg(1)
    return is_number(a) and is_number(b) and to_number(a) != 0 and to_number(b) % to_number(a) == 0


def is_(call: Call) -> bool:
    return loose_equal(*_pair(call))


def isnt(call: Call) -> bool:
    return not loose_equal(*_pair(call))


def neither(call: Call) -> bool:
    return not truthy(call.arg(0)) and not truthy(call.arg(1))


def not_(call: Call) -> bool:
    return not truthy(call.arg(0))


# The unless* helpers: true when the comparison holds, and as blocks they render the inverse then.
def unless_eq(call: Call) -> bool:
    return strict_equal(*_pair(call))


def unless_gt(call: Call) -> bool:
    return compare(*_pair(call), ">")


def unless_lt(call: Call) -> bool:
    return compare(*_pair(call), "<")


def unless_gteq(call: Call) -> bool:
    return compare(*_pair(call), ">=")


def unless_lteq(call: Call) -> bool:
    return compare(*_pair(call), "<=")


HELPERS: dict[str, Spec] = {
    "and": Spec(and_, "cond"),
    "compare": Spec(compare_, "cond"),
    "contains": Spec(contains, "cond"),
    "default": Spec(default),
    "eq": Spec(eq, "cond"),
    "gt": Spec(gt, "cond"),
    "gte": Spec(gte, "cond"),
    "has": Spec(has, "cond"),
    "isFalsey": Spec(is_falsey, "cond"),
    "isTruthy": Spec(is_truthy, "cond"),
    "ifEven": Spec(if_even, "cond"),
    "ifNth": Spec(if_nth, "cond"),
    "ifOdd": Spec(if_odd, "cond"),
    "is": Spec(is_, "cond"),
    "isnt": Spec(isnt, "cond"),
    "lt": Spec(lt, "cond"),
    "lte": Spec(lte, "cond"),
    "neither": Spec(neither, "cond"),
    "not": Spec(not_, "cond"),
    "or": Spec(or_, "cond"),
    "unlessEq": Spec(unless_eq, "unless"),
    "unlessGt": Spec(unless_gt, "unless"),
    "unlessLt": Spec(unless_lt, "unless"),
    "unlessGteq": Spec(unless_gteq, "unless"),
    "unlessLteq": Spec(unless_lteq, "unless"),
}
