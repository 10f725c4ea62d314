"""Lambda gave up on a DispatchFunction event: the send ends failed with its pending users listed.

SendFunction, DispatchFunction and the channel functions run in-process against moto (DynamoDB, S3,
SES, SNS) and SecantusDB; DispatchFunction's `Event` invokes go through a queue that retries a
failed invocation as Lambda does (tests/integration/async_sends.py)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from tests.conftest import Servers
from tests.integration.async_sends import (
    BODY,
    CROWD,
    PATIENTS,
    Async,
    _assert_counts_add_up,
    _emails,
    _gave_up_record,
    _metric_sums,
)
from tests.lambda_runtime import LambdaContext, SandboxCrash


def test_a_send_whose_dispatcher_gave_up_ends_failed_with_its_pending_users_listed(
    run: Async,
    crowd: list[dict[str, Any]],
    servers: Servers,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    engine = run.dispatch.dispatcher
    real = engine._dispatch_segment

    def broken(send_id: str, segment: int, *rest: Any) -> Any:
        if segment == 1:
            raise RuntimeError("segment 1 always fails")
        return real(send_id, segment, *rest)

    monkeypatch.setattr(engine, "_dispatch_segment", broken)
    _, body = run.post({**BODY, "recipients": None, "channels": ["email"]})
    run.drain()

    status = run.status(body["sendId"])
    assert status["status"] == "failed"
    assert status["channels"]["email"]["pending"] == 0
    _assert_counts_add_up(status)
    failures = run.failures(body["sendId"])
    gave_up = {f["userId"] for f in failures if f["error"] == "not attempted: the dispatcher gave up"}
    assert gave_up == {f"c{i:05d}" for i in range(500, 1_000)}  # segment 1, every user, whatever its address
    sent = {e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails()}
    assert not any(f"c{i}@example.com" in sent for i in range(500, 1_000))
    # The users given up on are counted for the operator too: every planned message is handled.
    metrics = _metric_sums(capsys.readouterr().out)
    assert metrics[("MessagesFailed", "email")] == status["channels"]["email"]["failed"]
    assert metrics[("AsyncMessagesHandled", "")] == metrics[("AsyncMessagesPlanned", "")] == status["audience"]


def test_a_send_given_up_before_it_was_planned_ends_failed_and_its_late_plan_sends_nothing(
    run: Async, servers: Servers
) -> None:
    _, accepted = run.post(PATIENTS)
    send_id = accepted["sendId"]
    [(_, plan)] = run.queue.launched

    run.dispatch.lambda_handler(_gave_up_record(plan), LambdaContext())
    failed = run.status(send_id)
    run.drain()  # the planning event Lambda had given up on comes after all

    assert (failed["status"], failed["audience"]) == ("failed", 0)
    assert failed["completedAt"] is not None
    assert run.status(send_id)["status"] == "failed"
    assert [event.get("segment") for _, event in run.queue.launched] == [None]
    assert servers.outbox.emails() == []


def test_a_segment_whose_dispatcher_dies_after_each_invoke_ends_with_those_batches_unknown_and_nothing_twice(
    run: Async, crowd: list[dict[str, Any]], servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = run.dispatch.dispatcher
    real_invoker = engine.invoker

    def dying(function_name: str, payload: bytes) -> bytes:
        answer = real_invoker(function_name, payload)
        if json.loads(payload)["batchId"].split("-")[1] == "1":
            raise SandboxCrash("killed after the channel function sent the batch")
        return bytes(answer)

    monkeypatch.setattr(engine, "invoker", dying)
    _, body = run.post({**BODY, "recipients": None, "channels": ["email"]})
    run.drain()  # segment 1 dies on every try: Lambda gives up on it

    status = run.status(body["sendId"])
    assert status["status"] == "failed"
    assert status["channels"]["email"]["pending"] == 0
    _assert_counts_add_up(status)
    failures = run.failures(body["sendId"])
    assert max(Counter(f["userId"] for f in failures).values()) == 1
    interrupted = "unknown: email batch interrupted, the dispatcher gave up"
    unknown = {f["userId"] for f in failures if f["error"].startswith(interrupted)}
    unsent = {f["userId"] for f in failures if f["error"] == "not attempted: the dispatcher gave up"}
    assert unknown  # sent, perhaps: the dispatcher never read the answer
    assert unknown | unsent == {f"c{i:05d}" for i in range(500, 1_000)}
    assert not unknown & unsent
    emails = _emails(servers)
    assert max(emails.values()) == 1
    addresses = {user["_id"]: user.get("emailAddress") for user in crowd}
    assert not {addresses[user_id] for user_id in unsent} & set(emails)
    assert {addresses[f"c{i:05d}"] for i in (*range(500), *range(1_000, CROWD))} - {None} <= set(emails)


@pytest.mark.parametrize(
    ("remaining_ms", "death"),
    [
        (900_000, "Runtime.OutOfMemory: killed with its lease held for 15 minutes"),
        (20_000, "Sandbox.Timedout: its lease outlives the timeout by 5 s"),
    ],
)
def test_a_segment_killed_without_cleanup_on_every_try_is_taken_over_and_the_send_ends_failed(
    run: Async,
    crowd: list[dict[str, Any]],
    servers: Servers,
    monkeypatch: pytest.MonkeyPatch,
    remaining_ms: int,
    death: str,
) -> None:
    engine = run.dispatch.dispatcher
    real_invoker, real_release = engine.invoker, engine.sends.segments.release
    killed: list[str] = []

    def dying(function_name: str, payload: bytes) -> bytes:
        answer = real_invoker(function_name, payload)
        if json.loads(payload)["batchId"].split("-")[1] == "1":
            killed.append(death)
            raise SandboxCrash(death)
        return bytes(answer)

    def release(send_id: str, segment: int, owner: str) -> None:
        if killed:  # the process is gone: no cleanup of its own runs, its lease stays
            killed.clear()
            return
        real_release(send_id, segment, owner)

    monkeypatch.setattr(engine, "invoker", dying)
    monkeypatch.setattr(engine.sends.segments, "release", release)
    monkeypatch.setattr(engine, "settings", engine.settings.model_copy(update={"dispatch_margin_s": 1.0}))
    _, body = run.post({**BODY, "recipients": None, "channels": ["email"]})
    run.drain(remaining_ms=remaining_ms)

    send_id = body["sendId"]
    status = run.status(send_id)
    assert status["status"] == "failed"
    assert status["channels"]["email"]["pending"] == 0
    _assert_counts_add_up(status)
    failures = run.failures(send_id)
    assert max(Counter(f["userId"] for f in failures).values()) == 1
    unknown = {f["userId"] for f in failures if f["error"].startswith("unknown: email batch interrupted")}
    unsent = {f["userId"] for f in failures if f["error"] == "not attempted: the dispatcher gave up"}
    assert unknown  # the batch that left before each death
    assert unknown | unsent == {f"c{i:05d}" for i in range(500, 1_000)}
    assert max(_emails(servers).values()) == 1
