"""handlebars-helpers' miscellaneous helpers."""

from __future__ import annotations

from typing import Any

from messaging.templates.helpers.core import Call, Spec


def type_of(value: Any) -> str:
    """kind-of's names for JSON values."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def with_hash(call: Call) -> Any:
    # The rewrite lists the hash's keys in `__keys` (the native binding cannot list them).
    keys = str(call.hash("__keys") or "").split(",")
    return [{key: call.hash(key) for key in keys if key}]


HELPERS: dict[str, Spec] = {
    "typeOf": Spec(lambda call: type_of(call.arg(0)) if call.args else "undefined"),
    "noop": Spec(lambda call: True, "cond"),
    # The hash is read from the tag by the rewrite (the native binding cannot list its keys).
    "withHash": Spec(with_hash, "iter"),
}
