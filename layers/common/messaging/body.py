"""Guards on the raw body of an API request, applied before the resolver parses and validates it.

They refuse what the JSON parser or the validator would otherwise choke on: a body over the size
limit (in bytes, as API Gateway and Lambda count it), nesting that exhausts the interpreter's
recursion, the non-standard NaN/Infinity constants Python's parser accepts but no JSON peer does, and
numbers too large for a double (a 5,000-digit integer makes Python's own parser raise).
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
from messaging.validation import bounded

MAX_BODY_BYTES = 1024 * 1024
# The body's legitimate nesting is `data` (at most 10 levels) inside the request object: anything
# far deeper is hostile, refused before pydantic or our own walks recurse into it.
MAX_BODY_DEPTH = 32
# A double holds at most ~1.8e308: a longer integer is out of range for every JSON peer (the
# template engine refuses the whole context), and past 4,300 digits Python's parser raises.
MAX_INTEGER_DIGITS = 308
TOO_LARGE = "a number too large for JSON"
JSON_MEDIA_TYPE = "application/json"
# The caller's header, named back in the 415: bounded and stripped of anything but a media type's characters.
_MEDIA_TYPE_SHOWN = re.compile(r"[^A-Za-z0-9!#$&^_.+/-]")
_SURROGATE = re.compile("[\ud800-\udfff]")
NOT_UTF8 = "body: not valid UTF-8 text"


class _Constant:
    """Stands in for NaN/Infinity or a huge integer while parsing, so the walk below can name where
    it was."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


def body_text(event: Mapping[str, Any]) -> str:
    """The body as text, refused when over MAX_BODY_BYTES (bytes, not characters, and the decoded
    size of a base64 body) or when it is not UTF-8: API Gateway hands a JSON API's body on as a
    UTF-8 string, and a base64 one (binary media types) as it came."""
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
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"body: larger than {MAX_BODY_BYTES} bytes")
        try:
            return decoded.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(NOT_UTF8) from exc
    # A character can take four bytes in UTF-8: only a long body needs counting.
    size = len(raw) if len(raw) * 4 <= MAX_BODY_BYTES else len(raw.encode("utf-8", errors="surrogatepass"))
    if size > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body: larger than {MAX_BODY_BYTES} bytes")
    # A lone surrogate (`\udcff`, how a runtime escapes an undecodable byte) is no UTF-8 text either.
    if _SURROGATE.search(raw):
        raise BadRequest(NOT_UTF8)
    return raw


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
    """Refuses a body the resolver must not parse: too deep, holding NaN/Infinity, or a number no
    double holds (past 4,300 digits, Python's own parser raises: a 500). Malformed JSON
    is left to the resolver, which names it as the validator does."""
    constants: list[_Constant] = []

    def constant(name: str) -> _Constant:
        marker = _Constant(f"{name} is not a JSON number")
        constants.append(marker)
        return marker

    def too_large() -> _Constant:
        marker = _Constant(TOO_LARGE)
        constants.append(marker)
        return marker

    # A call per number (0.2 s for a body of 500,000 of them): a regex for long digit runs would
    # backtrack far longer on a hostile body.
    def integer(digits: str) -> int | _Constant:
        return int(digits) if len(digits) - digits.startswith("-") <= MAX_INTEGER_DIGITS else too_large()

    def real(digits: str) -> float | _Constant:
        # 1e999, or 309 digits and a fraction: infinity, without passing through parse_constant.
        value = float(digits)
        return value if math.isfinite(value) else too_large()

    try:
        document = json.loads(text, parse_constant=constant, parse_int=integer, parse_float=real)
    except RecursionError as exc:
        raise BadRequest(f"body: nests deeper than {MAX_BODY_DEPTH} levels") from exc
    except ValueError:
        return
    # The walk costs a visit per value: only bodies that could fail it pay for it.
    if constants or text.count("[") + text.count("{") > MAX_BODY_DEPTH:
        _walk(document)


def _where(path: str) -> str:
    return bounded(path) or "body"


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
            raise BadRequest(f"{_where(path)}: {value.problem}")
