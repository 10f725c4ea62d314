"""Issue 15's "done when", through sam local: a send hits a bounce (SES's documented event fed to
FeedbackFunction), an unregistered token (PushFunction, in its container, records it in Carla's
document) and an opted-out user (Gina, e-mail): GET /sends/{sendId} shows each in its place, and the
next send, synchronous or asynchronous, skips the stale token and the opted-out user."""

from __future__ import annotations

import time
from typing import Any

from tests.delivery_events import sns_event
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


def test_a_bounce_an_unregistered_token_and_an_opted_out_user_show_in_place_and_the_next_send_skips_them(
    e2e: Stack,
) -> None:
    status, body = e2e.post(BODY)

    assert status == 200, body
    # Carla's token is reported on this send; Gina's opt-out is no failure.
    assert [(f["userId"], f["channel"], f["error"]) for f in body["failures"]] == [
        ("carla", "push", "UNREGISTERED: Requested entity was not found.")
    ]
    assert [e["destinations"]["ToAddresses"][0] for e in e2e.outbox.emails()] == ["alice@example.com"]
    assert sorted(p["message"]["token"] for p in e2e.pushes()) == ["demo-token-alice", "demo-token-gina"]
    # Alice's e-mail bounces: SES's event, through FeedbackFunction in its container.
    first = e2e.send_id()
    assert e2e.invoke("FeedbackFunction", sns_event("ses-bounce", first, "alice"))["recorded"] == 1

    # The "done when": each in its place in the send's status and failures.
    pick = ("sent", "failed", "skipped", "optedOut", "staleToken", "bounced", "pending")
    code, status_of_first = e2e.get(f"/sends/{first}")
    assert code == 200, status_of_first
    assert {c: {n: status_of_first["channels"][c][n] for n in pick} for c in ("email", "push")} == {
        "email": {"sent": 1, "failed": 0, "skipped": 2, "optedOut": 1, "staleToken": 0, "bounced": 1, "pending": 0},
        "push": {"sent": 2, "failed": 1, "skipped": 0, "optedOut": 0, "staleToken": 0, "bounced": 0, "pending": 0},
    }
    code, page = e2e.get(f"/sends/{first}/failures")
    assert code == 200, page
    assert sorted((f["userId"], f["channel"], f["error"]) for f in page["failures"]) == [
        ("alice", "email", "bounced: Permanent/General"),
        ("carla", "push", "UNREGISTERED: Requested entity was not found."),
    ]

    e2e.reset_sent()
    status, body = e2e.post(BODY)
    assert (status, body) == (200, {"failures": []})  # Carla's stale token is not tried again
    code, status_of_next = e2e.get(f"/sends/{e2e.send_id()}")
    assert code == 200, status_of_next
    assert (status_of_next["channels"]["push"]["staleToken"], status_of_next["channels"]["email"]["optedOut"]) == (1, 1)
    assert [e["destinations"]["ToAddresses"][0] for e in e2e.outbox.emails()] == ["alice@example.com"]
    assert sorted(p["message"]["token"] for p in e2e.pushes()) == ["demo-token-alice", "demo-token-gina"]

    e2e.reset_sent()
    status, accepted = e2e.post(BODY, headers={"Prefer": "respond-async"})
    assert status == 202, accepted
    done = _status_when_done(e2e, accepted["sendId"])
    assert done["status"] == "completed", done
    pick_async = ("sent", "failed", "skipped", "optedOut", "staleToken", "pending")
    assert {c: {name: done["channels"][c][name] for name in pick_async} for c in ("email", "push")} == {
        # Carla has no e-mail address; Gina opted out.
        "email": {"sent": 1, "failed": 0, "skipped": 2, "optedOut": 1, "staleToken": 0, "pending": 0},
        "push": {"sent": 2, "failed": 0, "skipped": 1, "optedOut": 0, "staleToken": 1, "pending": 0},
    }
    assert [e["destinations"]["ToAddresses"][0] for e in e2e.outbox.emails()] == ["alice@example.com"]
    assert sorted(p["message"]["token"] for p in e2e.pushes()) == ["demo-token-alice", "demo-token-gina"]
