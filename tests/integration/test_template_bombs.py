"""Issue 11 item 1: templates that used to kill SendFunction (segfault, abort) get a 400.

Each request runs in a fresh interpreter with SendFunction loaded as Lambda loads it, against the
session's real servers: a native crash shows as a dead child (exit 139, 134), not a dead runner.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.conftest import Servers, api_event

ROOT = Path(__file__).resolve().parents[2]
BOMB_TEMPLATE = "65f0000000000000000000b0"
_CHILD = """
import json, sys
from local.lambda_runtime import LambdaContext, load_function
send = load_function("send")
response = send.lambda_handler(json.load(sys.stdin), LambdaContext())
print(json.dumps({"status": response["statusCode"], "body": json.loads(response["body"])}))
"""

INLINE_RECURSION = '{{#*inline "p"}}{{> p}}{{/inline}}{{> p}}'
DEEP_IFS = "{{#if true}}" * 5000 + "x" + "{{/if}}" * 5000
EACH_SQUARED = "{{#each data.a}}{{#each ../data.a}}x{{/each}}{{/each}}"
TRIMMED_ELSE_IF = "{{#if data.x}}a{{~else if data.y}}b{{/if}}"  # a Rust panic in the engine's parser


def send_in_child(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(api_event(body)),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"SendFunction died (exit {result.returncode}): {result.stderr[-2000:]}"
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    return answer["status"], answer["body"]


@pytest.mark.parametrize(
    ("content", "data", "expected"),
    [
        (INLINE_RECURSION, {}, "messageContent: inline partials and decorators are not supported"),
        (DEEP_IFS, {}, "messageContent: blocks nest deeper than 32 levels"),
        (
            EACH_SQUARED,
            {"a": [1] * 20_000},
            "messageContent: could render more than 1048576 bytes for this data (each nested 2 deep)",
        ),
        (
            TRIMMED_ELSE_IF,
            {},
            "messageContent: invalid Handlebars syntax at line 1, column 16: "
            '"~" before "else <helper>" is not supported',
        ),
    ],
    ids=["inline-partial-recursion", "5000-nested-ifs", "each-over-each-20000", "trimmed-else-if-panic"],
)
def test_request_template_bombs_are_a_400_naming_the_field_and_limit(
    servers: Servers, db: Database[dict[str, Any]], content: str, data: dict[str, Any], expected: str
) -> None:
    status, body = send_in_child(
        {"channels": ["sms"], "recipients": ["u1"], "messageTitle": "t", "messageContent": content, "data": data}
    )

    assert (status, body["message"]) == (400, expected)


def test_stored_template_bomb_is_a_400_naming_the_template_field(
    servers: Servers, db: Database[dict[str, Any]]
) -> None:
    db.templates.insert_one({"_id": ObjectId(BOMB_TEMPLATE), "name": "bomb", "smsMessage": DEEP_IFS})

    status, body = send_in_child({"channels": ["sms"], "recipients": ["u1"], "templateId": BOMB_TEMPLATE})

    assert (status, body["message"]) == (400, f"template {BOMB_TEMPLATE} smsMessage: blocks nest deeper than 32 levels")


def test_partials_are_refused_even_without_an_existing_recipient(
    servers: Servers, db: Database[dict[str, Any]]
) -> None:
    status, body = send_in_child(
        {"channels": ["sms"], "recipients": ["ghost"], "messageTitle": "t", "messageContent": "{{> header}}"}
    )

    assert (status, body["message"]) == (400, "messageContent: partials are not supported")
