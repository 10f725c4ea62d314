"""Scheduled sends through `make start`'s chain: SendFunction (start-api) makes the schedule in moto,
the local scheduler fires it on start-lambda when due, DispatchFunction sends. A send scheduled
~20 s ahead arrives after its `sendAt` and not before; a cancelled one never does."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.conftest import Stack

AHEAD_S = 20


def _delete(e2e: Stack, path: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{e2e.api}{path}", method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _recipients(e2e: Stack) -> set[str]:
    return {email["destinations"]["ToAddresses"][0] for email in e2e.outbox.emails()}


def test_a_send_scheduled_20_s_ahead_arrives_after_its_send_at_and_a_cancelled_one_never(e2e: Stack) -> None:
    send_at = (datetime.now(UTC) + timedelta(seconds=AHEAD_S)).replace(microsecond=0)
    body = {"channels": ["email"], "recipients": ["alice", "bob"], "messageContent": "See you {{user.name}}"}
    code, scheduled = e2e.post({**body, "messageTitle": "Reminder", "sendAt": send_at.isoformat()})
    assert code == 202, scheduled
    assert scheduled["status"] == "scheduled"
    assert datetime.fromisoformat(scheduled["sendAt"]) == send_at
    code, doomed = e2e.post({**body, "messageTitle": "Cancelled", "sendAt": send_at.isoformat()})
    assert code == 202, doomed
    code, cancelled = _delete(e2e, f"/sends/{doomed['sendId']}")
    assert (code, cancelled["status"]) == (200, "cancelled")

    # Until its sendAt: scheduled, every count 0, nothing sent.
    while datetime.now(UTC) < send_at - timedelta(seconds=1):
        code, waiting = e2e.get(f"/sends/{scheduled['sendId']}")
        assert (code, waiting["status"]) == (200, "scheduled")
        assert waiting["channels"]["email"]["sent"] == 0
        assert e2e.outbox.emails() == []
        time.sleep(1)

    deadline = time.monotonic() + 300
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        _, state = e2e.get(f"/sends/{scheduled['sendId']}")
        if state["status"] in ("completed", "failed"):
            break
        time.sleep(2)
    assert state["status"] == "completed", state
    assert datetime.now(UTC) > send_at
    assert state["channels"]["email"]["sent"] == 2
    assert _recipients(e2e) == {"alice@example.com", "bob@example.com"}
    assert {email["subject"] for email in e2e.outbox.emails()} == {"Reminder"}

    # The cancelled one, due at the same moment, sent nothing and stays cancelled.
    time.sleep(5)
    _, gone = e2e.get(f"/sends/{doomed['sendId']}")
    assert gone["status"] == "cancelled"
    assert gone["channels"]["email"]["sent"] == 0
    assert len(e2e.outbox.emails()) == 2
    assert _delete(e2e, f"/sends/{scheduled['sendId']}")[0] == 409
