"""handlebars-helpers' object helpers."""

from __future__ import annotations

import json
from typing import Any

from messaging.templates.helpers.core import Call, HelperError, Spec, get_path, truthy

MAX_JSON_CHARS = 256 * 1024


def extend(call: Call) -> Any:
    merged: dict[str, Any] = {}
    for value in call.args:
        if isinstance(value, dict):
            merged.update(value)
    return merged


def _deep_merge(target: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            target[key] = _deep_merge(dict(target[key]), value)
        else:
            target[key] = value
    return target


def merge(call: Call) -> Any:
    merged: dict[str, Any] = {}
    for value in call.args:
        if isinstance(value, dict):
            merged = _deep_merge(merged, value)
    return merged


def for_in(call: Call) -> Any:
    value = call.arg(0)
    return value if isinstance(value, dict) and value else None


def get(call: Call) -> Any:
    return get_path(call.arg(1), call.arg(0))


def get_object(call: Call) -> Any:
    path = call.arg(0)
    if path is None:
        return None
    value = get_path(call.arg(1), path)
    return {str(path).split(".")[-1]: value}


def has_own(call: Call) -> bool:
    value, key = call.arg(0), call.arg(1)
    return isinstance(value, dict) and isinstance(key, str) and key in value


def json_parse(call: Call) -> Any:
    text = call.arg(0)
    if not isinstance(text, str):
        return ""
    if len(text) > MAX_JSON_CHARS:
        raise HelperError(f"reads at most {MAX_JSON_CHARS} characters")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise HelperError(f"invalid JSON: {exc}") from exc


def json_stringify(call: Call) -> Any:
    value = call.arg(0)
    indent = call.arg(1)
    spaces = min(int(indent), 10) if isinstance(indent, (int, float)) and not isinstance(indent, bool) else None
    text = json.dumps(value, ensure_ascii=False, indent=spaces or None, separators=None if spaces else (",", ":"))
    if len(text) > MAX_JSON_CHARS:
        raise HelperError(f"writes at most {MAX_JSON_CHARS} characters")
    return text


def pick(call: Call) -> Any:
    props, value = call.arg(0), call.arg(1)
    if not isinstance(value, dict):
        return {}
    keys = props if isinstance(props, list) else [props]
    picked: dict[str, Any] = {}
    for key in keys:
        found = get_path(value, key)
        if found is not None:
            picked[str(key).split(".")[-1]] = found
    return picked


def is_object(call: Call) -> bool:
    return isinstance(call.arg(0), dict)


HELPERS: dict[str, Spec] = {
    "extend": Spec(extend),
    "forIn": Spec(for_in, "iter"),
    "forOwn": Spec(for_in, "iter"),
    "get": Spec(get, "with"),
    "getObject": Spec(get_object, "with"),
    "hasOwn": Spec(has_own, "cond"),
    "isObject": Spec(is_object, "cond"),
    "JSONparse": Spec(json_parse, "with"),
    "JSONstringify": Spec(json_stringify),
    "merge": Spec(merge),
    "pick": Spec(pick, "with"),
}
_ = truthy
