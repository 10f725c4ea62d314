"""handlebars-helpers' array helpers. The `with*`, `forEach`, `eachIndex` and `filter` blocks
render their body once per item (kind "iter": the value is the list of contexts)."""

from __future__ import annotations

import json
from functools import cmp_to_key
from typing import Any

from messaging.templates.helpers.core import (
    Call,
    HelperError,
    Spec,
    bounded,
    check_result,
    get_path,
    is_number,
    js_str,
    strict_equal,
    to_number,
    truthy,
)

MAX_GROUP = 10_000


def _array(call: Call, index: int = 0) -> list[Any] | None:
    value = call.arg(index)
    return value if isinstance(value, list) else None


def _count(call: Call, index: int) -> int | None:
    value = call.arg(index)
    return int(to_number(value)) if is_number(value) else None


def after(call: Call) -> Any:
    array = _array(call)
    if array is None:
        return ""
    return array[_count(call, 1) or 0 :]


def arrayify(call: Call) -> Any:
    value = call.arg(0)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def before(call: Call) -> Any:
    array = _array(call)
    if array is None:
        return ""
    count = _count(call, 1) or 0
    return array[:-count] if count > 0 else array[: len(array) - count] if count < 0 else []


def each_index(call: Call) -> Any:
    array = _array(call)
    return [{"item": item, "index": index} for index, item in enumerate(array)] if array else None


def filter_(call: Call) -> Any:
    array = _array(call)
    if array is None:
        return None
    value = call.arg(1)
    prop = call.hash("property") or call.hash("prop")
    if prop:
        return [item for item in array if strict_equal(value, get_path(item, prop))] or None
    return [item for item in array if strict_equal(value, item)] or None


def first(call: Call) -> Any:
    array = _array(call)
    if array is None:
        return ""
    count = _count(call, 1)
    return array[0] if count is None and array else array[:count] if count is not None else None


def last(call: Call) -> Any:
    array = _array(call)
    if array is None:
        return ""
    count = _count(call, 1)
    if count is None:
        return array[-1] if array else None
    return array[-count:] if count > 0 else []


def for_each(call: Call) -> Any:
    array = _array(call)
    if not array:
        return None
    total = len(array)
    items = []
    for index, item in enumerate(array):
        if isinstance(item, dict):
            item = {**item, "index": index + 1, "total": total, "isFirst": index == 0, "isLast": index == total - 1}
        items.append(item)
    return items


def in_array(call: Call) -> bool:
    array = _array(call)
    return array is not None and any(strict_equal(item, call.arg(1)) for item in array)


def item_at(call: Call) -> Any:
    array = _array(call)
    if array is None or not is_number(call.arg(1)):
        return None
    index = int(to_number(call.arg(1)))
    if -len(array) <= index < len(array):
        return array[index]
    return None


def join(call: Call) -> Any:
    array = call.arg(0)
    if isinstance(array, str):
        return array
    if not isinstance(array, list):
        return ""
    separator = call.arg(1)
    separator = separator if isinstance(separator, str) else ", "
    check_result(len(separator) * len(array), "join")  # a long separator between many items
    return separator.join("" if item is None else js_str(item) for item in array)


def equals_length(call: Call) -> bool:
    value, length = call.arg(0), call.arg(1)
    if not isinstance(value, (str, list)) or not is_number(length):
        return False
    return len(value) == to_number(length)


def length(call: Call) -> Any:
    value = call.arg(0)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)  # the library reads a JSON array given as text
            if isinstance(parsed, list):
                return len(parsed)
        except ValueError:
            pass
    if isinstance(value, (str, list, dict)):
        return len(value)
    return 0


def pluck(call: Call) -> Any:
    array = _array(call)
    if array is None:
        return ""
    return [value for value in (get_path(item, call.arg(1)) for item in array) if value is not None]


def _named_helper(call: Call, index: int) -> Any:
    name = call.arg(index)
    spec = call.catalogue.get(name) if isinstance(name, str) else None
    if spec is None or spec.kind == "iter":
        raise HelperError(f"expects the name of a catalogue helper as its iteratee, got {js_str(name)[:50]!r}")
    return spec.fn


def map_(call: Call) -> Any:
    array = _array(call)
    if array is None:
        return ""
    helper = _named_helper(call, 1)
    return [helper(Call([item], call.options, call.html, call.catalogue)) for item in array]


def some(call: Call) -> bool:
    array = _array(call)
    if array is None:
        return False
    helper = _named_helper(call, 1)
    return any(truthy(helper(Call([item], call.options, call.html, call.catalogue))) for item in array)


def _js_sort_key(item: Any) -> str:
    return "" if item is None else js_str(item)  # Array.prototype.sort compares the texts


def sort(call: Call) -> Any:
    array = _array(call)
    if array is None:
        return ""
    key = call.arg(1)
    if isinstance(key, str):
        return sort_by(array, key)
    ordered = sorted(array, key=_js_sort_key)
    return ordered[::-1] if truthy(call.hash("reverse")) else ordered


def _compare_values(a: Any, b: Any) -> int:
    if a is None or b is None:
        return (a is None) - (b is None)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return (a > b) - (a < b)
    left, right = js_str(a), js_str(b)
    return (left > right) - (left < right)


def sort_by(array: list[Any], prop: Any) -> list[Any]:
    return sorted(array, key=cmp_to_key(lambda a, b: _compare_values(get_path(a, prop), get_path(b, prop))))


def sort_by_helper(call: Call) -> Any:
    array = _array(call)
    if array is None:
        return ""
    prop = call.arg(1)
    return sort_by(array, prop) if prop is not None else sorted(array, key=_js_sort_key)


def _identity(item: Any, index: int) -> tuple[Any, ...]:
    """What `===` compares, as a hashable key: booleans apart from numbers (1 == 1.0, as in
    JavaScript), texts by value, objects, arrays and NaN only equal to themselves."""
    if item is None:
        return ("null",)
    if isinstance(item, bool):
        return ("boolean", item)
    if isinstance(item, (int, float)):
        return ("number", item) if item == item else ("nan", index)
    if isinstance(item, str):
        return ("string", item)
    return ("object", index)


def unique(call: Call) -> Any:
    array = _array(call)
    if array is None:
        return ""
    # A set of keys, not a scan of what is kept per item: quadratic on a long array (issue 21).
    seen: set[tuple[Any, ...]] = set()
    kept: list[Any] = []
    for index, item in enumerate(array):
        key = _identity(item, index)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


def with_after(call: Call) -> Any:
    array = _array(call)
    return array[_count(call, 1) or 0 :] if array else None


def with_before(call: Call) -> Any:
    array = _array(call)
    if not array:
        return None
    count = _count(call, 1) or 0
    return array[:-count] if count > 0 else array


def with_first(call: Call) -> Any:
    array = _array(call)
    if not array:
        return None
    count = _count(call, 1)
    return array[:count] if count is not None else array[:1]


def with_last(call: Call) -> Any:
    array = _array(call)
    if not array:
        return None
    count = _count(call, 1)
    return array[-count:] if count else array[-1:]


def with_group(call: Call) -> Any:
    array = _array(call)
    if not array:
        return None
    size = bounded(call.arg(1, 1), "withGroup's size", MAX_GROUP) or 1
    return [array[start : start + size] for start in range(0, len(array), size)]


def with_sort(call: Call) -> Any:
    array = _array(call)
    if array is None:
        return None
    prop = call.arg(1)
    ordered = sort_by(array, prop) if isinstance(prop, str) else sorted(array, key=_js_sort_key)
    return ordered[::-1] if truthy(call.hash("reverse")) else ordered


HELPERS: dict[str, Spec] = {
    "after": Spec(after),
    "arrayify": Spec(arrayify),
    "before": Spec(before),
    "eachIndex": Spec(each_index, "iter"),
    "filter": Spec(filter_, "iter"),
    "first": Spec(first),
    "forEach": Spec(for_each, "iter"),
    "inArray": Spec(in_array, "cond"),
    "isArray": Spec(lambda call: isinstance(call.arg(0), list), "cond"),
    "itemAt": Spec(item_at),
    "join": Spec(join),
    "equalsLength": Spec(equals_length, "cond"),
    "last": Spec(last),
    "length": Spec(length),
    "lengthEqual": Spec(equals_length, "cond"),
    "map": Spec(map_),
    "pluck": Spec(pluck),
    "some": Spec(some, "cond"),
    "sort": Spec(sort),
    "sortBy": Spec(sort_by_helper),
    "unique": Spec(unique),
    "withAfter": Spec(with_after, "iter"),
    "withBefore": Spec(with_before, "iter"),
    "withFirst": Spec(with_first, "iter"),
    "withGroup": Spec(with_group, "iter"),
    "withLast": Spec(with_last, "iter"),
    "withSort": Spec(with_sort, "iter"),
}
