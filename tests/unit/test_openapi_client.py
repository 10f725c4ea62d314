"""A client team's view: models generated from openapi.json by a standard generator
(datamodel-code-generator) type-check a call to POST /send, and a wrong call does not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mypy import api as mypy_api

from local.openapi import DOCUMENT
from messaging.models.request import SendRequest

CALL = """
from client_models import MessageContent, MessageTitle, Recipient, Recipients, SendRequest, SendResponse


def body() -> str:
    request = SendRequest(
        channels=["email", "sms"],
        recipients=Recipients([Recipient("u1")]),
        messageTitle=MessageTitle("Hello {{user.name}}"),
        messageContent=MessageContent("Hello, {{user.name}}!"),
    )
    return request.model_dump_json(exclude_none=True)


def failed(answer: bytes) -> list[tuple[str, str]]:
    response = SendResponse.model_validate_json(answer)
    return [(failure.userId, failure.channel) for failure in response.failures or []]
"""
WRONG_CALL = """
from client_models import Recipient, Recipients, SendRequest

SendRequest(channels=["fax"], recipients=Recipients([Recipient("u1")]))
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("client")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "datamodel_code_generator",
            "--input",
            str(DOCUMENT),
            "--input-file-type",
            "openapi",
            "--output",
            str(folder / "client_models.py"),
            "--output-model-type",
            "pydantic_v2.BaseModel",
            "--target-python-version",
            "3.11",
            "--enum-field-as-literal",
            "all",
            "--use-annotated",
            "--field-constraints",
            "--disable-timestamp",
            "--formatters",
            "builtin",
        ],
        check=True,
        capture_output=True,
    )
    return folder


def _mypy(folder: Path, name: str, source: str) -> tuple[str, int]:
    (folder / name).write_text(source)
    # The cache in the folder: the second check reuses what the first learnt of pydantic.
    out, err, status = mypy_api.run(
        [
            "--strict",
            "--cache-dir",
            str(folder / ".mypy_cache"),
            "--config-file",
            "",
            str(folder / name),
            str(folder / "client_models.py"),
        ]
    )
    return out + err, status


def test_a_generated_client_type_checks_a_call_to_post_send(client: Path) -> None:
    report, status = _mypy(client, "call.py", CALL)
    assert status == 0, report
    # And what it sends is what the service accepts; what the service answers, it reads.
    namespace: dict[str, Any] = {}
    sys.path.insert(0, str(client))
    try:
        exec(compile(CALL, str(client / "call.py"), "exec"), namespace)
    finally:
        sys.path.remove(str(client))
        sys.modules.pop("client_models", None)
    SendRequest.model_validate_json(namespace["body"]())
    spec = json.loads(DOCUMENT.read_text())
    answer = spec["paths"]["/send"]["post"]["responses"]["200"]["content"]["application/json"]["examples"]
    assert namespace["failed"](json.dumps(answer["some failed"]["value"]).encode()) == [("nobody", "sms")]


def test_a_wrong_call_does_not_type_check(client: Path) -> None:
    report, status = _mypy(client, "wrong.py", WRONG_CALL)
    assert status == 1
    assert "Literal['fax']" in report
    assert "Found 1 error" in report
