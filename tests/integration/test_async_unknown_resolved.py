"""Counts that tell the truth after a dispatcher died while sending (issue 21 item 6): an event
proves the message left, so it resolves the user's `unknown: ...` to sent, whichever of the two
comes first. Per channel, delivered + bounced + complained + undelivered <= sent, and the dispatch's
failures listed = failed, always. Real moto DynamoDB and SecantusDB, the documented event samples."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from messaging.sends.states import DETAILS
from tests.conftest import Servers
from tests.delivery_events import sns_event
from tests.integration.async_sends import Async, _assert_counts_add_up
from tests.lambda_runtime import LambdaContext, SandboxCrash

EVENT_ERRORS = ("bounced:", "complained:", "undelivered:", "rejected:")


def _assert_truthful(status: dict[str, Any], failures: list[dict[str, Any]]) -> None:
    _assert_counts_add_up(status)
    for channel, counts in status["channels"].items():
        assert (
            sum(counts[name] for name in DETAILS if name in ("delivered", "bounced", "complained", "undelivered"))
            <= (counts["sent"])
        ), channel
        dispatch = [f for f in failures if f["channel"] == channel and not f["error"].startswith(EVENT_ERRORS)]
        assert len(dispatch) == counts["failed"], channel
    entries = Counter((f["userId"], f["channel"]) for f in failures)
    assert max(entries.values()) == 1  # no user listed twice on a channel


@pytest.mark.parametrize("events_first", [True, False], ids=["events-before-the-give-up", "events-after-it"])
def test_events_of_users_listed_unknown_resolve_them_to_sent_whichever_comes_first(
    run: Async,
    db: Any,
    servers: Servers,
    functions: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    events_first: bool,
) -> None:
    feedback = functions["feedback"]
    db.users.insert_many(
        [
            {
                "_id": f"t{i}",
                "emailAddress": f"t{i}@example.com",
                "phoneNumber": f"+39333777000{i}",
                "clusters": ["trio"],
            }
            for i in range(3)
        ]
    )
    engine = run.dispatch.dispatcher
    real_invoker = engine.invoker
    sends: list[str] = []

    def events(send_id: str) -> list[dict[str, Any]]:
        return [
            sns_event("ses-delivery", send_id, "t0", message_id="e-t0"),
            sns_event("ses-delivery", send_id, "t0", message_id="e-t0"),  # SNS delivers at least once
            sns_event("ses-bounce", send_id, "t1", message_id="e-t1"),
            sns_event("eum-text-delivered", send_id, "t0", message_id="s-t0"),
            sns_event("eum-text-carrier-unreachable", send_id, "t1", message_id="s-t1"),
        ]

    def sent_then_died(function_name: str, payload: bytes) -> bytes:
        real_invoker(function_name, payload)  # the channel function sent
        if events_first and not sends:
            sends.append(json.loads(payload)["sendId"])
            for event in events(sends[0]):  # the providers report while Lambda waits to retry
                feedback.lambda_handler(event, LambdaContext())
        raise SandboxCrash("the dispatcher died after the channel function sent")

    monkeypatch.setattr(engine, "invoker", sent_then_died)
    _, body = run.post({"channels": ["email", "sms"], "clusters": ["trio"], "messageTitle": "t", "messageContent": "c"})
    send_id = body["sendId"]
    run.drain()  # every try dies: Lambda gives up, the batches' users are listed unknown
    if not events_first:
        for event in events(send_id):
            feedback.lambda_handler(event, LambdaContext())

    status = run.status(send_id)
    failures = run.failures(send_id)
    assert status["status"] == "failed"
    _assert_truthful(status, failures)
    email, sms = status["channels"]["email"], status["channels"]["sms"]
    assert {k: email[k] for k in ("sent", "failed", "delivered", "bounced")} == {
        "sent": 2,
        "failed": 1,
        "delivered": 1,
        "bounced": 1,
    }
    assert {k: sms[k] for k in ("sent", "failed", "delivered", "undelivered")} == {
        "sent": 2,
        "failed": 1,
        "delivered": 1,
        "undelivered": 1,
    }
    listed = sorted((f["userId"], f["channel"], f["error"].split(":")[0]) for f in failures)
    assert listed == [
        ("t1", "email", "bounced"),
        ("t1", "sms", "undelivered"),
        ("t2", "email", "unknown"),  # no event: its outcome stays unknown
        ("t2", "sms", "unknown"),
    ]


def test_an_event_whose_read_of_the_unknown_entry_went_stale_reads_again_and_resolves_nothing_twice(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two events of one user race (the delivery and a bounce of the same message): the one whose
    transaction meets the entry already resolved reads again, and the user moves to sent once."""
    import uuid

    import boto3

    from messaging.models.response import Failure
    from messaging.sends.persistence.events import DeliveryEvents
    from messaging.sends.persistence.store import SendStore
    from tests.conftest import ATTACHMENTS_BUCKET, SENDS_TABLE

    store = SendStore(boto3.client("dynamodb"), SENDS_TABLE, boto3.client("s3"), ATTACHMENTS_BUCKET)
    events = DeliveryEvents(store.table)
    send_id = uuid.uuid4().hex
    store.records.create(send_id, "caller", ["email"])
    unknown = [Failure(userId=f"u{i}", channel="email", error="unknown: email batch interrupted") for i in range(3)]
    assert store.segments.finish_batch(send_id, 0, "email", 0, 3, unknown)
    stale = events.unknowns.find(send_id, "email", "u1")
    assert stale is not None

    assert events.record_event(send_id, "email", "delivered", "m1", "delivered", None, "u1") == "recorded"
    real_find = events.unknowns.find
    reads = iter([stale])
    monkeypatch.setattr(events.unknowns, "find", lambda *args: next(reads, None) or real_find(*args))
    bounce = Failure(userId="u1", channel="email", error="bounced: Permanent/General")
    assert events.record_event(send_id, "email", "bounced", "m1", "bounced", bounce, "u1") == "recorded"

    record = store.records.get(send_id)
    assert record is not None
    counts = record.channel_counts("email")
    assert (counts["sent"], counts["failed"], counts["delivered"], counts["bounced"]) == (1, 2, 0, 1)
    page, _ = store.failures.page(send_id, 100, None)
    assert sorted((f.userId, f.error.split(":")[0]) for f in page) == [
        ("u0", "unknown"),
        ("u1", "bounced"),
        ("u2", "unknown"),
    ]
