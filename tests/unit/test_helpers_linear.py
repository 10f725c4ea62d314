"""Every helper of the catalogue runs in time linear (or n log n) in its input (issue 21, item 4).

A profile field has no size limit and one user's render cannot be interrupted: a helper that
backtracks or rescans quadratically on a hostile value (16k digits then `x` took 6 s in `gt`)
holds the whole send. Each helper gets every hostile value family in each argument pattern, at a
small size and a 16 times larger one in the same run; the larger may take at most four times the
size ratio (quadratic is 256 times). No absolute time is asserted: the ratio is measured here.
"""

from __future__ import annotations

import contextlib
import gc
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from messaging.templates.helpers import CATALOGUE
from messaging.templates.helpers import date as date_helpers
from messaging.templates.helpers.core import Call

SMALL = 500
SCALE = 16
REPEATS = 3
ATTEMPTS = 3
ALLOWED = 4 * SCALE  # generous: noise on a shared machine, n log n sorts; quadratic is SCALE**2


class _Options:
    def __init__(self, hash_values: dict[str, Any]) -> None:
        self._hash = hash_values

    def context_json(self) -> str:
        return "{}"

    def hash_value_json(self, key: str) -> str:
        return json.dumps(self._hash[key]) if key in self._hash else ""

    def template(self) -> str:
        return ""

    def inverse(self) -> str:
        return ""


# Hostile value families, by size n: what makes a regex backtrack or a scan repeat itself.
FAMILIES: dict[str, Callable[[int], Any]] = {
    "digits then a letter": lambda n: "1" * n + "x",
    "digits, a point, digits then a letter": lambda n: "1" * n + "." + "1" * n + "x",
    "separators then a letter": lambda n: "-_. !" * (n // 5) + "a",
    "separators inside a word": lambda n: "a" + "-_. !" * (n // 5) + "a",
    "open brackets": lambda n: "[" * n,
    "words": lambda n: "ab " * (n // 3),
    "percents": lambda n: "%" * n,
    "distinct items": lambda n: [str(index) for index in range(n)],
    "numbers": lambda n: list(range(n, 0, -1)),
    "objects": lambda n: [{"a": index % 7, "b": str(index)} for index in range(n)],
    "nested lists": lambda n: [[[index]] for index in range(n)],
    "wide object": lambda n: {str(index): index for index in range(n)},
}
# Where the hostile value goes (H), beside ordinary arguments.
PATTERNS: list[tuple[Any, ...]] = [("H",), ("H", 3), ("H", "H"), (3, "H"), ("H", "<", 17), ("H", "a", "H")]


Case = tuple[list[Any], dict[str, Any]]


def _args(pattern: tuple[Any, ...], value: Any) -> list[Any]:
    return [value if part == "H" else part for part in pattern]


def _native_date(name: str) -> Callable[[list[Any], dict[str, Any]], Any]:
    helper = date_helpers.native_helpers("en-US")[name]
    # A stand-in for the native options: the date helpers read only the hash.
    return lambda args, hash_values: helper(json.dumps(args), _Options(hash_values))  # type: ignore[arg-type]


def _catalogue(name: str) -> Callable[[list[Any], dict[str, Any]], Any]:
    spec = CATALOGUE[name]
    return lambda args, hash_values: spec.fn(Call(list(args), _Options(hash_values), False, CATALOGUE))


HELPERS: dict[str, Callable[[list[Any], dict[str, Any]], Any]] = {
    **{name: _catalogue(name) for name in CATALOGUE},
    **{name: _native_date(name) for name in ("dateFormat", "toLocale")},
}


def _seconds(helper: Callable[[list[Any], dict[str, Any]], Any], args: list[Any], hash_values: dict[str, Any]) -> float:
    """The best of a few runs in this thread's CPU time (a busy machine's other processes do not
    count), without the cyclic collector (its pauses grow with the objects alive, not with the
    helper's work)."""
    best = float("inf")
    gc.disable()
    try:
        for _ in range(REPEATS):
            date_helpers._format_date.cache_clear()  # a cached answer would hide the work
            date_helpers._format_locale.cache_clear()
            start = time.thread_time()
            with contextlib.suppress(Exception):  # a refusal is an answer too: its time counts the same
                helper(args, hash_values)
            best = min(best, time.thread_time() - start)
    finally:
        gc.enable()
    return best


def _hash_cases(name: str, n: int) -> list[dict[str, Any]]:
    """Hash arguments some helpers read (a format, a separator, a property)."""
    if name in ("dateFormat", "toLocale", "moment", "date"):
        return [{"format": "[" * n, "tz": "UTC"}, {"locale": "x" * n}]
    if name in ("filter", "sort", "withSort"):
        return [{"property": "a", "reverse": True}]
    return []


def _ratio(helper: Callable[[list[Any], dict[str, Any]], Any], small: Case, large: Case) -> tuple[float, float]:
    """(large / small time, large time); measured again when over ALLOWED: a busy machine slows
    one measure now and then, a quadratic helper every time."""
    ratio = large_s = 0.0
    for _ in range(ATTEMPTS):
        small_s = _seconds(helper, *small)
        large_s = _seconds(helper, *large)
        # Below a few microseconds the clock's grain is the measure: floor the small time.
        ratio = large_s / max(small_s, 2e-5)
        if ratio <= ALLOWED:
            break
    return ratio, large_s


@pytest.mark.parametrize("name", sorted(HELPERS))
def test_every_helper_is_linear_in_a_hostile_input(name: str) -> None:
    helper = HELPERS[name]
    slow: list[str] = []
    for family, make in FAMILIES.items():
        small, large = make(SMALL), make(SMALL * SCALE)
        for pattern in PATTERNS:
            for hash_small, hash_large in zip(
                [{}, *_hash_cases(name, SMALL)], [{}, *_hash_cases(name, SMALL * SCALE)], strict=True
            ):
                ratio, large_s = _ratio(
                    helper, (_args(pattern, small), hash_small), (_args(pattern, large), hash_large)
                )
                if ratio > ALLOWED:
                    slow.append(f"{family} as {pattern} {sorted(hash_small)}: x{ratio:.0f} ({large_s:.3f} s)")
    assert not slow, f"{name} is super-linear: " + "; ".join(slow)
