"""A segment's run resumed after a crash, a lost answer or a lease held elsewhere: nothing twice, nothing lost.

SendFunction, DispatchFunction and the channel functions run in-process against moto (DynamoDB, S3,
SES, SNS) and SecantusDB; DispatchFunction's `Event` invokes go through a queue that retries a
failed invocation as Lambda does (tests/integration/async_sends.py)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest

from messaging.dispatch import BatchOutcomeUnknownError
from messaging.models.batch import is_late
from tests.conftest import Servers
from tests.integration.async_sends import (
    BODY,
    CROWD,
    NO_DETAILS,
    PATIENTS,
    Async,
    Calls,
    _assert_counts_add_up,
    _assert_exactly_once,
    _core,
    _crash_once_at,
    _emails,
    _expected,
    _RepeatedWrites,
)
from tests.lambda_runtime import SandboxCrash


def test_a_dispatcher_killed_mid_segment_is_resumed_by_the_retry_with_no_duplicate_and_no_loss(
    run: Async, crowd: list[dict[str, Any]], servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = run.dispatch.dispatcher
    # Killed after the 4th batch's invoke answered, before its checkpoint: the channel function sent it.
    monkeypatch.setattr(engine.sends.segments, "finish_batch", _crash_once_at(4, engine.sends.segments.finish_batch))
    # And later while a batch's invoke is in flight: the channel function runs it, no answer is read.
    real_invoker = engine.invoker

    def dying_invoker(function_name: str, payload: bytes) -> bytes:
        answer = real_invoker(function_name, payload)
        return bytes(crash(answer))

    crash = _crash_once_at(20, lambda answer: answer)
    monkeypatch.setattr(engine, "invoker", dying_invoker)
    _, body = run.post()

    run.drain()  # each killed invocation is run again by the queue, as Lambda retries it

    assert sum(isinstance(error, SandboxCrash) for error in run.queue.errors) == 2
    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    _assert_counts_add_up(status)
    users = [*crowd, {"emailAddress": "ann@example.com", "phoneNumber": "+393330000001", "deviceToken": "tok-ann"}]
    _assert_exactly_once(servers, users)
    failures = run.failures(body["sendId"])
    assert Counter((f["userId"], f["channel"]) for f in failures).most_common(1)[0][1] == 1
    # The resumed batches answered their first result: no user is unknown, none lost.
    assert sorted({f["error"] for f in failures}) == ["user not found"]
    assert status["channels"]["email"]["sent"] == len(_expected(users)["email"])


def test_a_dropped_invoke_connection_reports_its_users_unknown_never_sent_twice(
    run: Async, crowd: list[dict[str, Any]], servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_invoker = run.dispatch.dispatcher.invoker
    calls = Calls()

    def dropping(function_name: str, payload: bytes) -> bytes:
        number = calls.next()
        answer = real_invoker(function_name, payload)
        if number == 3:
            raise BatchOutcomeUnknownError("ReadTimeoutError: connection dropped")
        return bytes(answer)

    monkeypatch.setattr(run.dispatch.dispatcher, "invoker", dropping)
    _, body = run.post({**BODY, "recipients": None, "channels": ["email"]})
    run.drain()

    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    _assert_counts_add_up(status)
    failures = run.failures(body["sendId"])
    unknown = [f for f in failures if f["error"].startswith("unknown: email batch outcome unknown")]
    assert len(unknown) == len(failures) == status["channels"]["email"]["failed"] > 0
    emails = Counter(e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails())
    assert max(emails.values()) == 1
    assert len(emails) == len(_expected(crowd)["email"])  # the dropped batch was sent, once


def test_a_checkpoint_repeated_by_botocore_is_ours_and_another_attempts_is_not(servers: Servers) -> None:
    import boto3

    from messaging.sends.persistence.store import SendStore
    from tests.conftest import ATTACHMENTS_BUCKET, SENDS_TABLE

    dynamodb = boto3.client("dynamodb")
    repeated = SendStore(_RepeatedWrites(dynamodb), SENDS_TABLE, boto3.client("s3"), ATTACHMENTS_BUCKET)
    send_id = uuid.uuid4().hex
    repeated.records.create(send_id, "caller", ["email"])  # its repeat is no refusal either

    assert repeated.segments.start_batch(send_id, 0, "email", 0, ["u1", "u2"])
    other = SendStore(dynamodb, SENDS_TABLE, boto3.client("s3"), ATTACHMENTS_BUCKET)
    assert not other.segments.start_batch(send_id, 0, "email", 0, ["u1", "u2"])
    assert other.segments.finish_batch(send_id, 0, "email", 0, 2, [])
    assert not other.segments.finish_batch(send_id, 0, "email", 0, 2, [])  # counted once
    record = other.records.get(send_id)
    assert record is not None
    assert _core(record.counts["email"]) == {"sent": 2, "failed": 0, "skipped": 0}


@pytest.mark.parametrize(
    ("lease_s", "status", "emails"),
    [
        (1.5, "completed", {"ann@example.com", "bob@example.com"}),  # its holder died: waited for, then taken
        (600.0, "running", set()),  # a live holder (the event repeated) finishes it: left to it
    ],
    ids=["holder-dead", "holder-alive"],
)
def test_a_segment_held_by_another_dispatcher_is_waited_for_only_while_its_lease_runs_out(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch, lease_s: float, status: str, emails: set[str]
) -> None:
    import time

    engine = run.dispatch.dispatcher
    monkeypatch.setattr(engine, "sleep", time.sleep)
    _, accepted = run.post(PATIENTS)
    send_id = accepted["sendId"]
    run.drain(limit=1)  # planned: segment 0's event is queued
    assert engine.sends.segments.claim(send_id, 0, "another-dispatcher", lease_s) == "claimed"

    started = time.monotonic()
    run.drain()

    assert time.monotonic() - started < 30  # never waits out a live lease
    after = run.status(send_id)
    assert after["status"] == status
    _assert_counts_add_up(after)
    assert after["channels"]["email"]["pending"] == (0 if status == "completed" else 3)
    assert set(_emails(servers)) == emails


def test_users_deleted_while_their_batch_was_interrupted_are_reported_unknown_and_the_rest_sent_once(
    run: Async, db: Any, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = run.dispatch.dispatcher
    db.users.insert_many(
        [{"_id": f"g{i}", "name": f"G{i}", "emailAddress": f"g{i}@example.com", "clusters": ["few"]} for i in range(6)]
    )
    monkeypatch.setattr(engine, "settings", engine.settings.model_copy(update={"batch_max_messages": 3}))
    real_start = engine.sends.segments.start_batch
    gone: list[str] = []

    def start_then_die(send_id: str, segment: int, channel: Any, number: int, user_ids: list[str]) -> bool:
        started = real_start(send_id, segment, channel, number, user_ids)
        if not gone:  # checkpointed, not invoked; its users are deleted before the retry
            gone.extend(user_ids)
            db.users.delete_many({"_id": {"$in": user_ids}})
            raise SandboxCrash("killed between the checkpoint and the invoke")
        return bool(started)

    monkeypatch.setattr(engine.sends.segments, "start_batch", start_then_die)
    _, body = run.post({**PATIENTS, "clusters": ["few"]})
    run.drain()

    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    _assert_counts_add_up(status)
    assert (status["channels"]["email"]["sent"], status["channels"]["email"]["failed"]) == (3, 3)
    assert sorted((f["userId"], f["error"]) for f in run.failures(body["sendId"])) == [
        (user_id, "unknown: email batch interrupted and the user is no longer found") for user_id in sorted(gone)
    ]
    assert _emails(servers) == Counter({f"g{i}@example.com": 1 for i in range(6) if f"g{i}" not in gone})


@pytest.mark.parametrize(
    ("user", "content", "error"),
    [
        (
            {"name": "N" * 2_000_000},
            "Hi {{user.name}}",
            "messageContent: the user's document could render more than 1048576 bytes",
        ),
        (
            {"name": "Odd", "surname": "Mars/Olympus"},
            "Hi {{user.name}} {{dateFormat data.d tz=user.surname}}",
            "not sent: messageContent: line 1, col 18: dateFormat: unknown time zone (a value from the data)",
        ),
    ],
    ids=["too-large", "helper-refuses-its-value"],
)
def test_a_user_whose_own_document_cannot_render_is_failed_not_skipped(
    run: Async, crowd: list[dict[str, Any]], db: Any, user: dict[str, Any], content: str, error: str
) -> None:
    # As in a synchronous send: that user fails on the channel, listed with the reason (never their
    # data); nobody else is held.
    db.users.insert_one({"_id": "odd", **user, "emailAddress": "odd@example.com", "clusters": ["crowd"]})
    body = {
        "channels": ["email"],
        "clusters": ["crowd"],
        "messageTitle": "t",
        "messageContent": content,
        "data": {"d": "2026-01-01T00:00:00Z"},
    }

    _, accepted = run.post(body)
    run.drain()

    status = run.status(accepted["sendId"])
    assert status["status"] == "completed"
    with_address = sum(1 for user in crowd if "emailAddress" in user)
    assert status["channels"]["email"] == {
        "sent": with_address,
        "failed": 1,
        "skipped": CROWD - with_address,
        "pending": 0,
        **NO_DETAILS,
        "noAddress": CROWD - with_address,  # every skip here is a user without an e-mail address
    }
    assert [(f["userId"], f["error"]) for f in run.failures(accepted["sendId"])] == [("odd", error)]


@pytest.mark.parametrize("killed", ["answered", "in flight"])
def test_a_paced_batch_handed_back_late_when_its_dispatcher_died_goes_again_under_l1_and_nobody_is_late(
    run: Async, crowd: list[dict[str, Any]], servers: Servers, monkeypatch: pytest.MonkeyPatch, killed: str
) -> None:
    """A paced batch reaches its channel function past its slot (a stall) and is handed back `Late`,
    nothing sent, and its dispatcher is killed before its `-l1`: after the answer, or with the invoke
    still in flight (the retry then finds the batch in progress, waits, and reads the first attempt's
    `Late`). The retry sends its users under `-l1`: each gets the e-mail once, and nobody is counted
    late, unknown or failed."""
    import json
    import time

    import boto3

    from messaging.channels.once import BatchGuard, duplicate_reason
    from messaging.models.response import ChannelFailure, FailureCode
    from messaging.pacing import Pacer
    from tests.conftest import IDEMPOTENCY_TABLE, SENDS_TABLE

    engine = run.dispatch.dispatcher
    monkeypatch.setattr(engine, "pacer", Pacer(boto3.client("dynamodb"), SENDS_TABLE, {"email": 1000}))
    guard = BatchGuard(boto3.client("dynamodb"), IDEMPOTENCY_TABLE)
    real_invoker = engine.invoker
    calls = Calls()
    running: dict[str, list[str]] = {}  # the first attempt still running: its batch's users
    invoked: list[str] = []

    def invoking(function_name: str, payload: bytes) -> bytes:
        body = json.loads(payload)
        invoked.append(body["batchId"])
        number = calls.next()
        if number == 3 and killed == "in flight":
            guard.claim(body["batchId"])  # the function has the batch, and then the dispatcher dies
            running[body["batchId"]] = [m["userId"] for m in body["messages"]]
            raise SandboxCrash("killed with a batch's invoke in flight")
        if number == 3:
            time.sleep(max(0.0, body["sendBy"] - time.time()) + 0.05)  # stalled: it arrives past its slot
            handed = json.loads(real_invoker(function_name, payload))
            assert all(is_late(f["error"]) for f in handed["failures"])
            raise SandboxCrash("killed after the batch was handed back, before its -l1")
        answer = bytes(real_invoker(function_name, payload))
        users = running.pop(body["batchId"], None)
        if users is not None:
            assert duplicate_reason(body["batchId"]) in answer.decode()  # found in progress
            late = "Late: arrived 250 ms after its slot, not sent; paced again"
            guard.complete(
                body["batchId"],
                [ChannelFailure(userId=u, channel="email", error=late, code=FailureCode.LATE) for u in users],
            )
        return answer

    monkeypatch.setattr(engine, "invoker", invoking)
    _, body = run.post({**BODY, "recipients": None, "channels": ["email"]})

    run.drain()

    assert sum(isinstance(error, SandboxCrash) for error in run.queue.errors) == 1
    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    _assert_counts_add_up(status)
    expected = _expected(crowd)["email"]
    assert status["channels"]["email"]["sent"] == len(expected)
    assert status["channels"]["email"]["failed"] == 0
    assert not [f for f in run.failures(body["sendId"]) if is_late(f["error"])]
    emails = Counter(e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails())
    assert set(emails) == expected
    assert max(emails.values()) == 1
    assert any(batch.endswith("-l1") for batch in invoked)  # the handed-back users went in a slot of their own
