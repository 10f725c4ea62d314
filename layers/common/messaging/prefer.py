"""The `Prefer` request header (RFC 7240): whether the caller asked for an asynchronous send."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def parse_prefer(values: Sequence[str]) -> set[str]:
    """RFC 7240: comma-separated preferences, each `token[=value]` with `;` parameters; names are
    case-insensitive."""
    found: set[str] = set()
    for value in values:
        for preference in value.split(","):
            name = preference.split(";", 1)[0].split("=", 1)[0].strip().lower()
            if name:
                found.add(name)
    return found


def prefers_async(headers: Mapping[str, str] | None, multi_value_headers: Mapping[str, Sequence[str]] | None) -> bool:
    """`Prefer: respond-async`, in either header map of the event (repeated headers are lists)."""
    values = [value for name, value in (headers or {}).items() if name.lower() == "prefer"]
    for name, many in (multi_value_headers or {}).items():
        if name.lower() == "prefer":
            values += many
    return "respond-async" in parse_prefer(values)
