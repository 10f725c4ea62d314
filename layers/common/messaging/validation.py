"""Turns pydantic's error lists into one message that names each offending field.

Only `loc` and `msg` are used: an error's `input` may hold personal data, and `ctx` may hold
objects that are not JSON-serialisable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

# The error type of rules that span fields: their message names the fields itself.
CROSS_FIELD = "cross_field"
MAX_PATH = 200


def field_path(loc: Iterable[Any], *, drop_prefix: str | None = None, rename: Mapping[str, str] | None = None) -> str:
    parts = list(loc)
    if drop_prefix is not None and parts[:1] == [drop_prefix]:
        parts = parts[1:]
    if rename and parts and parts[0] in rename:
        parts[0] = rename[parts[0]]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return bounded(path)


def bounded(path: str) -> str:
    """Field names can be the caller's own text (an unknown key): bounded in an error message."""
    return path if len(path) <= MAX_PATH else f"{path[:MAX_PATH]}..."


def describe_errors(
    errors: Iterable[Mapping[str, Any]],
    *,
    drop_prefix: str | None = None,
    prefix: str = "",
    rename: Mapping[str, str] | None = None,
) -> str:
    messages = []
    for error in errors:
        path = field_path(error.get("loc", ()), drop_prefix=drop_prefix, rename=rename)
        if drop_prefix and error.get("type") == "json_invalid":
            path = drop_prefix  # its loc holds a character offset, not a field
        elif drop_prefix and not path and error.get("type") != CROSS_FIELD:
            path = drop_prefix
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        text = str(error.get("msg", "invalid value"))
        messages.append(f"{path}: {text}" if path else text)
    return "; ".join(dict.fromkeys(messages))


class InvalidPayloadError(ValueError):
    """A payload that does not validate, described by field only: pydantic's own message quotes the
    input (addresses, texts), and a function's error travels to logs, traces and its caller."""


def parse_payload(model: type[M], payload: Any) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidPayloadError(f"invalid {model.__name__}: {describe_errors(exc.errors())}") from None
