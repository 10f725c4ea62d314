"""Opt-outs and stale push tokens through sam local: PushFunction (in its container) records the
token the FCM stand-in answers UNREGISTERED in Carla's document, and the next send, synchronous or
asynchronous, skips her on push; Gina opted out of e-mail and is skipped there, never failed."""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.conftest import Stack

BODY = {
    "channels": ["email", "push"],
    "recipients": ["alice", "carla", "gina"],
    "messageTitle": "Hi {{user.name}}",
    "messageContent": "Hello, {{user.name}}!",
}


def _status_when_done(e2e: Stack, send_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        code, status = e2e.get(f"/sends/{send_id}")
        assert code == 200, status
        if status["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return status
        time.sleep(1)


def test_an_unregistered_token_is_skipped_from_the_next_send_and_an_opted_out_user_never_fails(e2e: Stack) -> None:
    status, body = e2e.post(BODY)

    assert status == 200, body
    # Carla's token is reported on this send; Gina's opt-out is no failure.
    assert [(f["userId"], f["channel"], f["error"]) for f in body["failures"]] == [
        ("carla", "push", "UNREGISTERED: Requested entity was not found.")
    ]
    assert [e["destinations"]["ToAddresses"][0] for e in e2e.outbox.emails()] == ["alice@example.com"]
    assert sorted(p["message"]["token"] for p in e2e.pushes()) == ["demo-token-alice", "demo-token-gina"]

    e2e.reset_sent()
    status, body = e2e.post(BODY)
    assert (status, body) == (200, {"failures": []})  # Carla's stale token is not tried again

    e2e.reset_sent()
    status, accepted = e2e.post(BODY, headers={"Prefer": "respond-async"})
    assert status == 202, accepted
    done = _status_when_done(e2e, accepted["sendId"])
    assert done["status"] == "completed", done
    pick = ("sent", "failed", "skipped", "optedOut", "staleToken", "pending")
    assert {channel: {name: done["channels"][channel][name] for name in pick} for channel in ("email", "push")} == {
        # Carla has no e-mail address; Gina opted out.
        "email": {"sent": 1, "failed": 0, "skipped": 2, "optedOut": 1, "staleToken": 0, "pending": 0},
        "push": {"sent": 2, "failed": 0, "skipped": 1, "optedOut": 0, "staleToken": 1, "pending": 0},
    }
    assert [e["destinations"]["ToAddresses"][0] for e in e2e.outbox.emails()] == ["alice@example.com"]
    assert sorted(p["message"]["token"] for p in e2e.pushes()) == ["demo-token-alice", "demo-token-gina"]
