"""A keyed request killed after its send started (Lambda's timeout, out of memory: no code runs to
drop the idempotency record, which stays `in progress` until the invocation's deadline), then
retried once that deadline passed: the retry finds the send the first run made, and nothing is
sent twice, synchronously, asynchronously or scheduled."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from messaging import submission
from tests.conftest import SENDS_TABLE, Servers
from tests.integration.async_sends import ASYNC, PATIENTS, Async, _emails

DEADLINE_MS = 800  # the killed invocation's time left: its in-progress record expires with it


class Killed(BaseException):
    """What a timeout does to the function: nothing after it runs, no `except Exception` sees it."""


def _killed_after(target: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        target(*args, **kwargs)
        raise Killed

    return wrapped


def _sends_made_since(start: str) -> list[str]:
    """The ids of the send records created since `start` (a worker runs one test at a time)."""
    pages = (
        boto3.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=SENDS_TABLE,
            FilterExpression="sk = :send AND createdAt >= :start",
            ExpressionAttributeValues={":send": {"S": "send"}, ":start": {"S": start}},
        )
    )
    return [item["pk"]["S"] for page in pages for item in page["Items"]]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _kill_then_retry(
    run: Async,
    body: dict[str, Any],
    headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, dict[str, Any]]:
    with pytest.raises(Killed):
        run.api(body, headers=headers, remaining_ms=DEADLINE_MS)
    monkeypatch.undo()  # the retry runs in a sound invocation
    time.sleep(DEADLINE_MS / 1000 + 0.3)
    return run.api(body, headers=headers)


def test_an_asynchronous_send_killed_after_its_launch_is_found_again_not_sent_twice(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {**ASYNC, "Idempotency-Key": str(uuid.uuid4())}
    with monkeypatch.context() as patched:
        patched.setattr(run.send.parts, "launcher", _killed_after(run.queue))
        status, answer = _kill_then_retry(run, PATIENTS, headers, patched)

    assert status == 202, answer
    run.drain()
    assert run.status(answer["sendId"])["status"] == "completed"
    assert set(_emails(servers).values()) == {1}  # Ann, Bob and Dora, once each
    assert run.api(PATIENTS, headers=headers) == (status, answer)  # and the answer is kept now


def test_an_asynchronous_send_killed_before_its_launch_is_launched_by_the_retry(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed(*args: Any) -> None:
        raise Killed

    headers = {**ASYNC, "Idempotency-Key": str(uuid.uuid4())}
    start = _now()
    monkeypatch.setattr(run.send.parts, "launcher", killed)
    with pytest.raises(Killed):
        run.api(PATIENTS, headers=headers, remaining_ms=DEADLINE_MS)
    monkeypatch.setattr(run.send.parts, "launcher", run.queue)
    time.sleep(DEADLINE_MS / 1000 + 0.3)

    status, answer = run.api(PATIENTS, headers=headers)
    assert status == 202, answer
    run.drain()
    assert run.status(answer["sendId"])["status"] == "completed"
    assert set(_emails(servers).values()) == {1}
    assert _sends_made_since(start) == [answer["sendId"]]  # no other left `accepted` for good


def test_a_synchronous_send_killed_mid_send_is_refused_on_retry_naming_the_send(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4())}

    with monkeypatch.context() as patched:
        # Killed once every batch has left, before the answer (and its record) is written.
        patched.setattr(submission, "record_send", _killed_after(lambda outcome: None))
        # A deadline margin within the short invocation: the batches leave before it is killed.
        quick = run.send.parts.settings.model_copy(update={"deadline_margin_s": 0.1, "answer_reserve_s": 0.0})
        patched.setattr(run.send.parts, "settings", quick)
        status, answer = _kill_then_retry(run, PATIENTS, headers, patched)

    assert status == 409, answer
    assert "already ran as send" in answer["message"]
    assert "not sent again" in answer["message"]
    assert set(_emails(servers).values()) == {1}


def test_a_scheduled_send_killed_before_its_schedule_is_made_gets_it_from_the_retry(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduler = run.send.parts.scheduler
    create = scheduler.create

    def killed(*args: Any) -> None:
        raise Killed

    send_at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    body = {**PATIENTS, "sendAt": send_at.isoformat()}
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    start = _now()
    monkeypatch.setattr(scheduler, "create", killed)
    with pytest.raises(Killed):
        run.api(body, headers=headers, remaining_ms=DEADLINE_MS)
    monkeypatch.setattr(scheduler, "create", create)
    time.sleep(DEADLINE_MS / 1000 + 0.3)

    status, answer = run.api(body, headers=headers)
    assert status == 202, answer
    assert answer["sendAt"] == send_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    made = boto3.client("scheduler").get_schedule(Name=answer["sendId"], GroupName=scheduler.target.group)
    assert made["ScheduleExpression"] == f"at({send_at.strftime('%Y-%m-%dT%H:%M:%S')})"
    assert run.status(answer["sendId"])["status"] == "scheduled"
    assert _sends_made_since(start) == [answer["sendId"]]  # no other left `scheduled` with no schedule


def test_a_keyed_send_refused_503_after_its_record_is_made_is_sent_by_its_retry(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*args: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://lambda.invalid")

    headers = {**ASYNC, "Idempotency-Key": str(uuid.uuid4())}
    with monkeypatch.context() as patched:
        patched.setattr(run.send.parts, "launcher", unreachable)
        status, answer = run.api(PATIENTS, headers=headers)
    assert status == 503, answer  # "nothing was sent": the caller retries with the same key

    status, answer = run.api(PATIENTS, headers=headers)
    assert status == 202, answer
    run.drain()
    assert run.status(answer["sendId"])["status"] == "completed"
    assert set(_emails(servers).values()) == {1}


@pytest.mark.parametrize("ending", ["failed", "killed"])
def test_a_synchronous_send_that_sent_is_not_sent_again_by_an_asynchronous_retry(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    # Prefer is not part of the request's key: a caller whose synchronous request broke (or timed
    # out) after its batches left retries it asynchronously, with the same key and body.
    def broken(outcome: Any) -> None:
        raise RuntimeError("the answer could not be made")

    headers = {"Idempotency-Key": str(uuid.uuid4())}
    start = _now()
    with monkeypatch.context() as patched:
        if ending == "failed":  # its record ends `failed` with no plan, as a refused async send's
            patched.setattr(submission, "record_send", broken)
            status, _ = run.api(PATIENTS, headers=headers)
            assert status >= 500
        else:  # its record stays open: `accepted`, no dispatcher ever to run it
            patched.setattr(submission, "record_send", _killed_after(lambda outcome: None))
            quick = run.send.parts.settings.model_copy(update={"deadline_margin_s": 0.1, "answer_reserve_s": 0.0})
            patched.setattr(run.send.parts, "settings", quick)
            with pytest.raises(Killed):
                run.api(PATIENTS, headers=headers, remaining_ms=DEADLINE_MS)
            time.sleep(DEADLINE_MS / 1000 + 0.3)
    assert set(_emails(servers).values()) == {1}
    first = _sends_made_since(start)
    assert len(first) == 1, first
    was = run.status(first[0])["status"]

    status, answer = run.api(PATIENTS, headers={**headers, **ASYNC})
    run.drain()
    assert status == 202, answer
    assert answer["sendId"] == first[0]  # the send the first run made, not another
    assert run.status(first[0])["status"] == was  # no dispatcher run for a send it has no job of
    assert set(_emails(servers).values()) == {1}  # Ann, Bob and Dora, still once each


def test_an_asynchronous_send_refused_503_is_sent_by_a_synchronous_retry(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*args: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://lambda.invalid")

    headers = {"Idempotency-Key": str(uuid.uuid4())}
    with monkeypatch.context() as patched:
        patched.setattr(run.send.parts, "launcher", unreachable)
        status, answer = run.api(PATIENTS, headers={**headers, **ASYNC})
    assert status == 503, answer  # "nothing was sent": the caller may retry, and wait for the answer

    status, answer = run.api(PATIENTS, headers=headers)
    assert status == 200, answer
    assert set(_emails(servers).values()) == {1}  # sent, once each


def test_a_scheduled_send_killed_before_its_schedule_is_made_and_retried_after_its_time_is_sent(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Retried within the 60 s past grace, the same body is a send for now: the record the first run
    # left `scheduled`, with no schedule to fire it, must still be sent.
    def killed(*args: Any) -> None:
        raise Killed

    send_at = datetime.now(UTC) + timedelta(seconds=1)
    body = {**PATIENTS, "sendAt": send_at.isoformat()}
    headers = {**ASYNC, "Idempotency-Key": str(uuid.uuid4())}
    with monkeypatch.context() as patched:
        patched.setattr(run.send.parts.scheduler, "create", killed)
        with pytest.raises(Killed):
            run.api(body, headers=headers, remaining_ms=DEADLINE_MS)
    time.sleep(max(DEADLINE_MS / 1000, (send_at - datetime.now(UTC)).total_seconds()) + 0.3)

    status, answer = run.api(body, headers=headers)
    assert status == 202, answer
    run.drain()
    assert run.status(answer["sendId"])["status"] == "completed"
    assert set(_emails(servers).values()) == {1}
