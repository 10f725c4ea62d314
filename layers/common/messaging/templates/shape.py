"""What a template can write (`Shape`, from the guard's pass) and what a context holds
(`measure`): together, the most bytes one render can write, known before rendering."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class GuardError(ValueError):
    """A template refused before compiling; the message has no label (the caller adds it)."""


@dataclass(frozen=True)
class Shape:
    """What one template can write: per `each` depth d, `text[d]` literal bytes and `values[d]`
    interpolations. The parts are the source cut at safe top-level boundaries."""

    text: tuple[int, ...]
    values: tuple[int, ...]
    parts: tuple[str, ...]
    tags: int

    @property
    def each_depth(self) -> int:
        return len(self.text) - 1

    def bound(self, widest: int, longest: int) -> int:
        """The most bytes a render writes when no array or object in the context has more than
        `widest` entries and no value renders to more than `longest` bytes."""
        total = 0
        factor = 1
        for text, values in zip(self.text, self.values, strict=True):
            total += (text + values * longest) * factor
            factor *= widest
        return total


def measure(value: Any) -> tuple[int, int]:
    """(widest, longest) of a context value: the most entries of any array or object in it, and
    the most bytes any value in it renders to (handlebars-rust writes arrays as `[a, b]` and
    objects as `[object]`)."""
    widest = 0
    longest = 0

    def walk(item: Any) -> int:
        nonlocal widest, longest
        if isinstance(item, str):
            size = len(item.encode())
        elif isinstance(item, bool):
            size = 5
        elif item is None:
            size = 0
        elif isinstance(item, (int, float)):
            size = max(24, len(json.dumps(item)))
        elif isinstance(item, dict):
            widest = max(widest, len(item))
            for key, child in item.items():
                longest = max(longest, len(str(key).encode()))
                walk(child)
            size = 8
        elif isinstance(item, (list, tuple)):
            widest = max(widest, len(item))
            size = 2 + sum(walk(child) + 2 for child in item)  # a nested object is [object]
        else:
            size = len(str(item).encode())  # ObjectId, datetime...: rendered as their text
        longest = max(longest, size)
        return size

    try:
        walk(value)
    except RecursionError as exc:
        raise GuardError("the data nests too deeply to render") from exc
    return widest, max(longest, len(str(widest)))
