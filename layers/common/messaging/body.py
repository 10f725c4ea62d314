"""Guards on the raw body of an API request, applied before the resolver parses and validates it.

They refuse what the JSON parser or the validator would otherwise choke on: a body over the size
limit (in bytes, as API Gateway and Lambda count it), nesting that exhausts the interpreter's
recursion, and the non-standard NaN/Infinity constants Python's parser accepts but no JSON peer does.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from base64 import b64decode
from collections.abc import Mapping
from typing import Any

from messaging.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

MAX_BODY_BYTES = 1024 * 1024
# The body's legitimate nesting is `data` (at most 10 levels) inside the request object: anything
# far deeper is hostile, refused before pydantic or our own walks recurse into it.
MAX_BODY_DEPTH = 32
_HUGE_EXPONENT = re.compile(r"\d[eE][+-]?\d{3}")
JSON_MEDIA_TYPE = "application/json"
# The caller's header, named back in the 415: bounded and stripped of anything but a media type's characters.
_MEDIA_TYPE_SHOWN = re.compile(r"[^A-Za-z0-9!#$&^_.+/-]")


class _Constant:
    """Stands in for NaN/Infinity while parsing, so the walk below can name where it was."""

    def __init__(self, text: str) -> None:
        self.text = text


def body_text(event: Mapping[str, Any]) -> str:
    """The body as text, refused when over MAX_BODY_BYTES: bytes, not characters, and the decoded
    size of a base64 body."""
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        raise BadRequest("body: must be JSON text")
    if event.get("isBase64Encoded"):
        # Four base64 characters carry three bytes: refuse before decoding a huge body.
        if len(raw) // 4 * 3 > MAX_BODY_BYTES + 3:
            raise PayloadTooLarge(f"body: larger than {MAX_BODY_BYTES} bytes")
        try:
            decoded = b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("body: invalid base64") from exc
        size = len(decoded)
        text = decoded.decode("utf-8", errors="replace")
    else:
        # A character can take four bytes in UTF-8: only a long body needs counting.
        size = len(raw) if len(raw) * 4 <= MAX_BODY_BYTES else len(raw.encode("utf-8", errors="surrogatepass"))
        text = raw
    if size > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body: larger than {MAX_BODY_BYTES} bytes")
    return text


def accept_json(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """Refuses a body declared as anything but JSON (`curl -d` sends a form by default): it would be
    read as a form, and its validation errors would quote it. No Content-Type reads as JSON. The event
    is returned with JSON in any letter case or with parameters written `application/json`: the
    resolver compares it as written (`Application/JSON` was a 500)."""
    headers = event.get("headers") or {}
    names = [name for name in headers if str(name).lower() == "content-type"]
    declared = headers[names[0]] if names else None
    if not isinstance(declared, str) or not declared.strip():
        return event
    media_type = declared.split(";", 1)[0].strip().lower()
    if media_type == JSON_MEDIA_TYPE:
        if declared == JSON_MEDIA_TYPE:
            return event
        single = {name: value for name, value in headers.items() if name not in names}
        multi = {name: value for name, value in (event.get("multiValueHeaders") or {}).items() if name not in names}
        return {
            **event,
            "headers": {**single, "Content-Type": JSON_MEDIA_TYPE},
            "multiValueHeaders": {**multi, "Content-Type": [JSON_MEDIA_TYPE]},
        }
    if not event.get("body"):
        return event
    shown = _MEDIA_TYPE_SHOWN.sub("", media_type)[:100] or "an invalid media type"
    raise UnsupportedMediaType(f"Content-Type: expected {JSON_MEDIA_TYPE}, got {shown}")


def check_json(text: str) -> None:
    """Refuses a body the resolver must not parse: too deep, or holding NaN/Infinity. Malformed JSON
    is left to the resolver, which names it as the validator does."""
    constants: list[_Constant] = []

    def constant(name: str) -> _Constant:
        marker = _Constant(name)
        constants.append(marker)
        return marker

    try:
        document = json.loads(text, parse_constant=constant)
    except RecursionError as exc:
        raise BadRequest(f"body: nests deeper than {MAX_BODY_DEPTH} levels") from exc
    except ValueError:
        return
    # The walk costs a visit per value: only bodies that could fail it pay for it.
    if constants or text.count("[") + text.count("{") > MAX_BODY_DEPTH or _HUGE_EXPONENT.search(text):
        _walk(document)


def _where(path: str) -> str:
    # Keys are the caller's text: bounded in an error message.
    return (path[:200] + "...") if len(path) > 200 else path or "body"


def _walk(document: Any) -> None:
    # Iterative: the point is to refuse what a recursive walk would die on.
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_BODY_DEPTH:
            raise BadRequest(f"{_where(path)}: nests deeper than {MAX_BODY_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((item, f"{path}.{key}" if path else str(key), depth + 1) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value))
        elif isinstance(value, _Constant):
            raise BadRequest(f"{_where(path)}: {value.text} is not a JSON number")
        elif isinstance(value, float) and not math.isfinite(value):
            # 1e999 parses as infinity without passing through parse_constant.
            raise BadRequest(f"{_where(path)}: a number too large for JSON")
