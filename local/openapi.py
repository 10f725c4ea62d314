"""openapi.json: the API as client teams consume it, generated from SendFunction's resolver.

`make openapi` (`python -m local.openapi`) writes it; `--check` exits 1 when the committed file
differs from what the code generates (tests/unit/test_openapi.py runs it). Every route the resolver
has is in it, with the request and response models its handler declares. What SendFunction answers
around its routes (the resolver's exception handlers, read from api/errors.py's HANDLERS; the raw-body
guards; `Idempotency-Key`; `X-Correlation-Id`) is added here to each operation it concerns, so a new
route is documented whole by declaring only its own models and answers.

Run in a process of its own: SendFunction reads its configuration at import, and here it gets
values that contact nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from local.openapi_around import LINKS, PREFER, around_the_route, headers, merge_response

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
    correlation, idempotency = headers()
    correlation_answer = {
        "description": "The request's correlation id.",
        "schema": {"type": "string"},
    }
    for operations in generated.get("paths", {}).values():
        for operation in operations.values():
            # Powertools' own 422 shape is never answered: a refused request is a 400 in the error shape.
            declared = {status: answer for status, answer in operation.get("responses", {}).items() if status != "422"}
            for status, common in around_the_route(operation).items():
                declared[status] = merge_response(declared.get(status), common)
            for status, links in LINKS.get(operation.get("operationId", ""), {}).items():
                declared[status]["links"] = links
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
            operation["parameters"] = [*parameters, correlation]
            if operation.get("operationId") == "send":
                # Read by the handler from the raw headers (RFC 7240 lists, repeated headers).
                operation["parameters"] += [idempotency, PREFER]
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
