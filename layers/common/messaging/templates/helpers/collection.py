"""handlebars-helpers' collection helpers."""

from __future__ import annotations

from typing import Any

from messaging.templates.helpers.core import Call, Spec


def is_empty(call: Call) -> bool:
    if not call.args:
        return True
    value = call.args[0]
    if value is None or value == "":
        return True
    if isinstance(value, (list, dict)):
        return not value
    return False  # Object.keys of a number or a boolean is empty, but the library's own test says no


def iterate(call: Call) -> Any:
    value = call.arg(0)
    if isinstance(value, (list, dict)) and value:
        return value
    return None


HELPERS: dict[str, Spec] = {"isEmpty": Spec(is_empty, "cond"), "iterate": Spec(iterate, "iter")}
