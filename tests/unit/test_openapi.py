"""openapi.json is what the code generates, a valid OpenAPI document, and complete for every route:
each request field with its rule and example, each answer with its schema and example."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from openapi_spec_validator import validate

from local.openapi import DOCUMENT, ROOT

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DOCUMENT.read_text())
    return document


def _operations(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _schema(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    found: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return found


def test_the_committed_document_is_what_the_code_generates() -> None:
    # A process of its own: SendFunction is imported with a configuration that contacts nothing.
    generated = subprocess.run(
        [sys.executable, "-m", "local.openapi", "--stdout"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert generated == DOCUMENT.read_text(), "openapi.json differs from what the code generates: run `make openapi`"


def test_it_is_a_valid_openapi_document(spec: dict[str, Any]) -> None:
    validate(spec)


def test_post_send_is_documented_with_its_headers_and_every_answer(spec: dict[str, Any]) -> None:
    operation = spec["paths"]["/send"]["post"]
    assert operation["operationId"] == "send"
    assert {parameter["name"] for parameter in operation["parameters"]} >= {"Idempotency-Key", "X-Correlation-Id"}
    assert set(operation["responses"]) >= {"200", "400", "404", "409", "413", "415", "500", "503"}
    assert "422" not in operation["responses"]
    assert set(spec["components"]["securitySchemes"]) == {"sigv4", "api_key"}
    assert spec["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    request = spec["components"]["schemas"]["SendRequest"]
    # The rules across fields, which JSON Schema does not carry, are in the description.
    assert "`recipients` or `clusters` is required" in request["description"]
    assert "Without `templateId`, `messageTitle` and `messageContent` are both required" in request["description"]


def test_every_route_documents_each_field_and_answer_with_an_example(spec: dict[str, Any]) -> None:
    for name, operation in _operations(spec):
        body = operation.get("requestBody")
        if body is not None:
            schema = _schema(spec, body["content"]["application/json"]["schema"])
            for field, rule in schema.get("properties", {}).items():
                assert rule.get("examples") or _schema(spec, rule).get("examples"), f"{name}: {field} has no example"
        for header in operation.get("parameters", []):
            assert header.get("description"), f"{name}: {header['name']}"
            assert "example" in header, f"{name}: {header['name']}"
        for status, answer in operation["responses"].items():
            content = answer["content"]["application/json"]
            assert content.get("examples"), f"{name} {status}: no example"
            assert "X-Correlation-Id" in answer["headers"]
            if status >= "400":
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}, f"{name} {status}"
                for example in content["examples"].values():
                    assert example["value"]["statusCode"] == status, f"{name} {status}"
