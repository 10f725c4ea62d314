"""A body is JSON: declared as something else it is a 415 naming the type expected, never quoted back;
declared as nothing (what some clients do) it is read as JSON."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import ApiCall, Servers, api_event
from tests.lambda_runtime import LambdaContext

VALID: dict[str, Any] = {"channels": ["email"], "recipients": ["u1"], "messageTitle": "t", "messageContent": "c"}


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        # What `curl -d '{...}'` sends.
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("text/plain; charset=utf-8", "text/plain"),
        ("multipart/form-data; boundary=x", "multipart/form-data"),
        ("application/problem+json", "application/problem+json"),
        ("text/html\r\n<script>", "text/htmlscript"),
    ],
)
def test_a_body_declared_as_another_type_is_a_415_that_never_quotes_it(
    api: ApiCall, servers: Servers, content_type: str, shown: str
) -> None:
    secret = "ann@example.com"
    body = json.dumps({**VALID, "messageContent": secret})
    status, answer = api(raw=body, headers={"Content-Type": content_type})
    assert status == 415
    assert answer == {
        "statusCode": "415",
        "error": "Unsupported Media Type",
        "message": f"Content-Type: expected application/json, got {shown}",
    }
    assert secret not in api.last["body"]
    assert servers.outbox.emails() == []


def test_a_form_body_is_refused_before_it_is_parsed(api: ApiCall) -> None:
    status, answer = api(
        raw=urlencode({"channels": "email"}), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (status, answer["statusCode"]) == (415, "415")
    assert "channels" not in answer["message"]


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
def test_json_with_or_without_parameters_is_accepted(api: ApiCall, content_type: str) -> None:
    status, answer = api(VALID, headers={"Content-Type": content_type})
    assert (status, answer) == (200, {"failures": []})


def test_a_body_without_content_type_is_read_as_json(api: ApiCall, functions: dict[str, ModuleType]) -> None:
    event = api_event(VALID)
    event["headers"] = {name: value for name, value in event["headers"].items() if name.lower() != "content-type"}
    event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
    response = functions["send"].lambda_handler(event, LambdaContext())
    assert (response["statusCode"], json.loads(response["body"])) == (200, {"failures": []})
