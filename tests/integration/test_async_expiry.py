"""A send's items outlive it: a send that runs longer than SENDS_TTL_DAYS keeps every item (but its
delivery events' markers) until SENDS_TTL_DAYS after its end, less at most a day."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

import messaging.sends.persistence.dynamodb as dynamodb_module
from tests.conftest import SENDS_TABLE
from tests.integration.async_sends import PATIENTS, Async

DAY_S = 24 * 3600


def test_a_send_running_past_its_items_lifetime_keeps_them_until_the_lifetime_after_its_end(
    run: Async, monkeypatch: pytest.MonkeyPatch
) -> None:
    ttl_days = run.dispatch.dispatcher.settings.sends_ttl_days
    # Ghosts: the plan's users not found are kept (fail#) when the send begins.
    _, body = run.post({**PATIENTS, "recipients": ["ghost-1"]})
    send_id = body["sendId"]
    run.drain(limit=1)  # planned on day 0; its segment waits (a paced send's later segments)

    later = (ttl_days - 2) * DAY_S
    fake_time = SimpleNamespace(time=lambda: time.time() + later, sleep=time.sleep)
    monkeypatch.setattr(dynamodb_module, "time", fake_time)
    run.drain()
    assert run.status(send_id)["status"] == "completed"
    ended = int(time.time()) + later

    items: list[dict[str, Any]] = boto3.client("dynamodb").query(
        TableName=SENDS_TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": send_id}}
    )["Items"]
    kinds = {item["sk"]["S"].split("#")[0] for item in items}
    assert {"send", "seg", "fail"} <= kinds
    for item in items:
        expires = int(item["expiration"]["N"])
        assert expires >= ended + ttl_days * DAY_S - DAY_S, item["sk"]["S"]
