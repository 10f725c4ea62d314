"""What SendFunction answers around its routes, as openapi.json documents it on each operation it
concerns: the resolver's exception handlers (read from api/errors.py's HANDLERS), the raw-body
guards, the idempotency layer, the headers read outside the resolver, and the links from a send's
answer to its own routes. Imported by local/openapi.py once SendFunction's layer is on the path."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


PREFER = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "description": "`respond-async` (RFC 7240): answer 202 with a sendId once nothing refuses the request, and "
    "send in the background; follow it at `Location` (GET /sends/{sendId}). Without it the send is synchronous "
    "and refused (400) for audiences over SYNC_MAX_AUDIENCE.",
    "schema": {"type": "string"},
    "example": "respond-async",
}


def _follow(expression: str) -> dict[str, dict[str, Any]]:
    """The send's own routes, reached with the sendId found at `expression` in an answer."""
    return {
        name: {"operationId": operation, "parameters": {"sendId": expression}, "description": description}
        for name, operation, description in (
            ("GetSend", "getSend", "The send's status."),
            ("GetSendFailures", "getSendFailures", "The send's failures."),
            ("CancelSend", "cancelSend", "Cancel the send."),
        )
    }


# OpenAPI links: clients (and schemathesis's stateful tests) follow a send from its answer.
LINKS: dict[str, dict[str, dict[str, Any]]] = {
    "send": {"200": _follow("$response.header.X-Send-Id"), "202": _follow("$response.body#/sendId")},
}


def _error(status: int, description: str, messages: dict[str, str]) -> dict[str, Any]:
    from messaging.body import JSON_MEDIA_TYPE

    phrase = "Payload Too Large" if status == 413 else HTTPStatus(status).phrase
    examples = {
        name: {"value": {"statusCode": str(status), "error": phrase, "message": message}}
        for name, message in messages.items()
    }
    return {"description": description, "content": {JSON_MEDIA_TYPE: {"schema": ERROR_REF, "examples": examples}}}


def _handlers_answers(with_input: bool) -> dict[str, dict[str, Any]]:
    """What the resolver's exception handlers answer on a route (api/errors.py's HANDLERS)."""
    from messaging.api.errors import HANDLERS

    answers: dict[str, dict[str, Any]] = {}
    for handler in HANDLERS:
        answer = handler.documented
        if answer is None or (handler.needs_input and not with_input):
            continue
        answers[str(answer.status)] = _error(answer.status, answer.description, {"handler": answer.example})
    return answers


def _guards_answers() -> dict[str, dict[str, Any]]:
    """What lambda_handler answers before the resolver, for a route with a body (messaging/body.py)."""
    from messaging.body import JSON_MEDIA_TYPE, MAX_BODY_BYTES, MAX_BODY_DEPTH, NOT_UTF8

    return {
        "400": _error(
            400,
            f"The raw body is refused before it is read: not UTF-8, nesting deeper than {MAX_BODY_DEPTH} levels, "
            "NaN or Infinity, or a number no double holds.",
            {
                "too deep": f"data.a.b: nests deeper than {MAX_BODY_DEPTH} levels",
                "NaN": "data.x: NaN is not a JSON number",
                "not UTF-8": NOT_UTF8,
            },
        ),
        "413": _error(
            413,
            f"The body is larger than {MAX_BODY_BYTES} bytes.",
            {"too large": f"body: larger than {MAX_BODY_BYTES} bytes"},
        ),
        "415": _error(
            415,
            f"The body is declared as another type than {JSON_MEDIA_TYPE} (no Content-Type reads as JSON).",
            {"a form": f"Content-Type: expected {JSON_MEDIA_TYPE}, got application/x-www-form-urlencoded"},
        ),
    }


def _idempotency_answers() -> dict[str, dict[str, Any]]:
    """What the idempotency layer answers around POST /send (messaging/idempotency.py)."""
    from messaging.idempotency import HEADER, MAX_KEY_LENGTH

    return {
        "400": _error(
            400,
            f"The {HEADER} is longer than {MAX_KEY_LENGTH} characters, or idempotency is not configured.",
            {"key too long": f"{HEADER}: at most {MAX_KEY_LENGTH} characters"},
        ),
        "409": _error(
            409,
            f"The {HEADER} was used with another body, or its first request still runs.",
            {
                "other body": f"{HEADER}: already used with a different body",
                "in progress": f"{HEADER}: a request with this key is still in progress",
            },
        ),
        "503": _error(
            503,
            f"The idempotency store is unreachable (with {HEADER}); nothing was sent.",
            {"idempotency store down": f"{HEADER}: the idempotency store is unreachable; nothing was sent"},
        ),
    }


def headers() -> tuple[dict[str, Any], dict[str, Any]]:
    """The correlation id parameter (every route) and the idempotency key (POST /send)."""
    from messaging.idempotency import HEADER, MAX_KEY_LENGTH
    from messaging.observability import _SAFE_ID, CORRELATION_HEADER

    correlation = {
        "name": CORRELATION_HEADER,
        "in": "header",
        "required": False,
        "description": "The request's correlation id in every log line, answered in the same header. Used when it "
        "is 1-128 characters of `A-Za-z0-9._:@/+=-`; otherwise API Gateway's request id is.",
        "schema": {"type": "string", "maxLength": 128, "pattern": _SAFE_ID.pattern},
        "example": "order-4711",
    }
    idempotency = {
        "name": HEADER,
        "in": "header",
        "required": False,
        "description": "A retry with the same key and body within 24 h answers the first 2xx without doing it "
        "again; keys are scoped to the caller. Refused requests (4xx/5xx) are not kept.",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
        "example": "6c1b3e8e-4f0a-4a57-9a1e-2b7f0b8d9c11",
    }
    return correlation, idempotency


def _gateway_answers() -> dict[str, dict[str, Any]]:
    """What API Gateway answers before SendFunction, in its shape (template.yaml's gateway responses)."""
    return {
        "429": _error(
            429,
            "API Gateway throttled the call (the stage's or the API key's rate) or the API key's daily quota is "
            "spent; nothing was sent. Retry later.",
            {"throttled": "Too Many Requests", "over quota": "Limit Exceeded"},
        )
    }


def around_the_route(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every answer given around this operation's own: API Gateway's throttling, SendFunction's exception
    handlers', its raw-body guards' (a route with a body) and its idempotency layer's (POST /send)."""
    with_body = "requestBody" in operation
    answers = _handlers_answers(with_body or bool(operation.get("parameters"))) | _gateway_answers()
    layers = ([_guards_answers()] if with_body else []) + (
        [_idempotency_answers()] if operation.get("operationId") == "send" else []
    )
    for layer in layers:
        for status, answer in layer.items():
            answers[status] = merge_response(answers.get(status), answer)
    return answers


def merge_response(declared: dict[str, Any] | None, common: dict[str, Any]) -> dict[str, Any]:
    """The route's own answer for a status, with the examples of the common one added."""
    if declared is None:
        return common
    merged = dict(declared)
    merged["description"] = f"{declared['description']} Or: {common['description']}"
    for media_type, content in common.get("content", {}).items():
        mine = dict(merged.setdefault("content", {}).get(media_type) or {"schema": content["schema"]})
        mine["examples"] = {**(mine.get("examples") or {}), **content["examples"]}
        merged["content"] = {**merged["content"], media_type: mine}
    return merged
