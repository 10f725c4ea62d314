"""openapi.json: the API as client teams consume it, generated from SendFunction's resolver.

`make openapi` (`python -m local.openapi`) writes it; `--check` exits 1 when the committed file
differs from what the code generates (tests/unit/test_openapi.py runs it). Every route the resolver
has is in it, with the request and response models its handler declares. What SendFunction answers
around the resolver, for every route alike (the raw-body guards, `Idempotency-Key`,
`X-Correlation-Id`, the error shape of a crash), is added here to each operation, so a new route
is documented whole by declaring only its own models and answers.

Run in a process of its own: SendFunction reads its configuration at import, and here it gets
values that contact nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from http import HTTPStatus
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "openapi.json"
TITLE = "Messaging service"
VERSION = "1"

# SendFunction's cold start builds clients but sends nothing; MongoClient's monitor may try this
# closed loopback port, never a real server.
_IMPORT_ENVIRON = {
    "SERVICE_CONFIG": json.dumps(
        {"activeChannels": ["email", "sms", "push"], "sender": {"email": "noreply@example.com", "sms": "ACME"}}
    ),
    "MONGODB_URI": "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=1",
    "EMAIL_FUNCTION_NAME": "email",
    "SMS_FUNCTION_NAME": "sms",
    "PUSH_FUNCTION_NAME": "push",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "openapi",
    "AWS_SECRET_ACCESS_KEY": "openapi",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "POWERTOOLS_SERVICE_NAME": "messaging",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}
# Optional clients (S3, DynamoDB) stay unbuilt: the document does not depend on them.
_UNSET = ("FILE_SERVICE_URL", "ATTACHMENTS_BUCKET", "IDEMPOTENCY_TABLE", "MONGODB_URI_SECRET_ID")

SERVERS = [
    {
        "url": "https://{restApiId}.execute-api.{region}.amazonaws.com/v1",
        "description": "Deployed: the stack's MessagingApi, stage v1 (see `sam list endpoints`)",
        "variables": {"restApiId": {"default": "abcde12345"}, "region": {"default": "eu-west-1"}},
    },
    {"url": "http://127.0.0.1:3000", "description": "`make start` (sam local: no auth enforced)"},
]
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "sigv4": {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": "AWS Signature Version 4 (service `execute-api`) by a principal allowed "
        "`execute-api:Invoke`: the default (ApiAuth=IAM). See docs/api.md, 'Calling the deployed API'.",
        "x-amazon-apigateway-authtype": "awsSigv4",
    },
    "api_key": {
        "type": "apiKey",
        "name": "x-api-key",
        "in": "header",
        "description": "The stack's API key, under its usage plan (ApiAuth=API_KEY).",
    },
}
# Either, as the stack is deployed: the empty requirement is never allowed.
SECURITY: list[dict[str, list[str]]] = [{"sigv4": []}, {"api_key": []}]
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


def load_app() -> Any:
    """SendFunction's resolver, imported as Lambda would with an environment that contacts nothing."""
    os.environ.update(_IMPORT_ENVIRON)
    for name in _UNSET:
        os.environ.pop(name, None)
    layer = str(ROOT / "layers" / "common")
    if layer not in sys.path:
        sys.path.insert(0, layer)
    from local.lambda_runtime import load_function

    return load_function("send").app


def _around_every_route() -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """What lambda_handler and _respond answer for any route, before and after the resolver:
    (responses by status, the correlation header parameter, the idempotency key parameter)."""
    from messaging.body import JSON_MEDIA_TYPE, MAX_BODY_BYTES, MAX_BODY_DEPTH
    from messaging.idempotency import HEADER, MAX_KEY_LENGTH
    from messaging.observability import _SAFE_ID, CORRELATION_HEADER

    def error(status: int, description: str, messages: dict[str, str]) -> dict[str, Any]:
        phrase = "Payload Too Large" if status == 413 else HTTPStatus(status).phrase
        examples = {
            name: {"value": {"statusCode": str(status), "error": phrase, "message": message}}
            for name, message in messages.items()
        }
        return {"description": description, "content": {JSON_MEDIA_TYPE: {"schema": ERROR_REF, "examples": examples}}}

    responses = {
        "400": error(
            400,
            f"The raw body is refused before it is read: nesting deeper than {MAX_BODY_DEPTH} levels, NaN or "
            f"Infinity; or the {HEADER} is longer than {MAX_KEY_LENGTH} characters.",
            {
                "too deep": f"data.a.b: nests deeper than {MAX_BODY_DEPTH} levels",
                "NaN": "data.x: NaN is not a JSON number",
            },
        ),
        "409": error(
            409,
            f"The {HEADER} was used with another body, or its first request still runs.",
            {
                "other body": f"{HEADER}: already used with a different body",
                "in progress": f"{HEADER}: a request with this key is still in progress",
            },
        ),
        "413": error(
            413,
            f"The body is larger than {MAX_BODY_BYTES} bytes.",
            {"too large": f"body: larger than {MAX_BODY_BYTES} bytes"},
        ),
        "415": error(
            415,
            f"The body is declared as another type than {JSON_MEDIA_TYPE} (no Content-Type reads as JSON).",
            {"a form": f"Content-Type: expected {JSON_MEDIA_TYPE}, got application/x-www-form-urlencoded"},
        ),
        "500": error(
            500,
            "An unexpected error; the message carries the correlation id to find it in the logs.",
            {"crash": "unexpected error (correlation id 3f1c7c1e-7b61-11e6-9a41-93e8deadbeef)"},
        ),
        "503": error(
            503,
            f"The idempotency store is unreachable (with {HEADER}); nothing was sent.",
            {"idempotency store down": f"{HEADER}: the idempotency store is unreachable; nothing was sent"},
        ),
    }
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
    return responses, correlation, idempotency


def _merge_response(declared: dict[str, Any] | None, common: dict[str, Any]) -> dict[str, Any]:
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


def _referenced(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _referenced(value, found)
    elif isinstance(node, list):
        for value in node:
            _referenced(value, found)


def document(app: Any) -> dict[str, Any]:
    from messaging.models.response import ErrorResponse

    generated: dict[str, Any] = json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))
    responses, correlation, idempotency = _around_every_route()
    correlation_answer = {
        "description": "The request's correlation id.",
        "schema": {"type": "string"},
    }
    for operations in generated.get("paths", {}).values():
        for operation in operations.values():
            # Powertools' own 422 shape is never answered: a refused request is a 400 in the error shape.
            declared = {status: answer for status, answer in operation.get("responses", {}).items() if status != "422"}
            with_body = "requestBody" in operation
            for status, common in responses.items():
                # The body guards and idempotency concern requests with a body.
                if status != "500" and not with_body:
                    continue
                declared[status] = _merge_response(declared.get(status), common)
            for answer in declared.values():
                answer.setdefault("headers", {})[correlation["name"]] = correlation_answer
            operation["responses"] = dict(sorted(declared.items()))
            parameters = [
                p
                for p in operation.get("parameters", [])
                if p["name"] not in (correlation["name"], idempotency["name"])
            ]
            for parameter in parameters:
                # Powertools writes a parameter's examples into its schema; clients read `example`.
                examples = parameter.get("schema", {}).get("examples")
                if examples and "example" not in parameter:
                    parameter["example"] = examples[0]
            operation["parameters"] = parameters + [correlation] + ([idempotency] if with_body else [])
            if operation.get("operationId") == "send":
                # Read by the handler from the raw headers (RFC 7240 lists, repeated headers).
                operation["parameters"].append(PREFER)
    schemas = generated.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorResponse"] = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    # Schemas only Powertools' 422 used (HTTPValidationError, ...) go with it.
    used: set[str] = set()
    _referenced(generated["paths"], used)
    while True:
        more = set(used)
        for name in used:
            _referenced(schemas.get(name), more)
        if more == used:
            break
        used = more
    generated["components"]["schemas"] = {name: schemas[name] for name in sorted(schemas) if name in used}
    generated["components"]["securitySchemes"] = SECURITY_SCHEMES
    generated["security"] = SECURITY
    generated["servers"] = SERVERS
    generated["info"] = {
        "title": TITLE,
        "version": VERSION,
        "description": "Generated from SendFunction's routes and models by `make openapi`: do not edit. Every "
        "error is `ErrorResponse` and means nothing was sent.",
    }
    generated["paths"] = {path: dict(sorted(ops.items())) for path, ops in sorted(generated["paths"].items())}
    order = ["openapi", "info", "servers", "security", "paths", "components"]
    return {key: generated[key] for key in order if key in generated} | {
        key: value for key, value in generated.items() if key not in order
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed file differs")
    parser.add_argument("--stdout", action="store_true", help="print the document instead of writing it")
    args = parser.parse_args(argv)
    text = render(document(load_app()))
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.check:
        current = DOCUMENT.read_text() if DOCUMENT.exists() else ""
        if current != text:
            sys.stderr.write(f"{DOCUMENT.name} differs from what the code generates: run `make openapi`\n")
            return 1
        return 0
    DOCUMENT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
