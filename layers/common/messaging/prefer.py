"""The `Prefer` request header (RFC 7240): SendFunction answers 202 to `respond-async`."""

from __future__ import annotations

from collections.abc import Sequence


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
