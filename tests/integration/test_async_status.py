"""GET /sends/{sendId} and its failures: progress that always adds up, another caller's send unknown.

SendFunction, DispatchFunction and the channel functions run in-process against moto (DynamoDB, S3,
SES, SNS) and SecantusDB; DispatchFunction's `Event` invokes go through a queue that retries a
failed invocation as Lambda does (tests/integration/async_sends.py)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from tests.conftest import DISPATCH_FUNCTION_NAME, Servers
from tests.integration.async_sends import (
    BODY,
    CROWD,
    PATIENTS,
    Async,
    _assert_counts_add_up,
    _emails,
    _gave_up_record,
)
from tests.lambda_runtime import LambdaContext


def test_the_status_shows_progress_and_always_adds_up(run: Async, crowd: list[dict[str, Any]]) -> None:
    _, body = run.post({**BODY, "recipients": None})
    send_id = body["sendId"]
    seen = []
    while run.queue.events:
        run.drain(limit=1)
        status = run.status(send_id)
        _assert_counts_add_up(status)
        seen.append((status["status"], status["channels"]["email"]["pending"]))
    assert seen[0][0] == "running"  # planned: the audience is counted, nothing sent yet
    assert seen[0][1] == CROWD
    assert any(state == "running" and 0 < pending < CROWD for state, pending in seen)
    assert seen[-1] == ("completed", 0)


def test_an_unknown_or_another_callers_send_is_a_404(run: Async, crowd: list[dict[str, Any]]) -> None:
    assert run.get(f"/sends/{uuid.uuid4().hex}")[0] == 404
    code, body = run.get(f"/sends/{uuid.uuid4().hex}/failures")
    assert (code, body["statusCode"], body["error"]) == (404, "404", "Not Found")
    _, accepted = run.post()
    assert run.get(f"/sends/{accepted['sendId']}", caller="arn:aws:iam::123456789012:user/someone-else")[0] == 404
    assert run.get(f"/sends/{accepted['sendId']}/failures", {"nextToken": "garbage"})[0] == 400


def test_an_idempotency_key_on_a_status_read_is_ignored(run: Async, crowd: list[dict[str, Any]]) -> None:
    # A client that sends one key with every call must still see each send's own, current status.
    _, first = run.post()
    _, second = run.post({**BODY, "messageContent": "another"})
    key = {"Idempotency-Key": str(uuid.uuid4())}

    one = run.get(f"/sends/{first['sendId']}", headers=key)
    other = run.get(f"/sends/{second['sendId']}", headers=key)

    assert (one[0], one[1]["sendId"]) == (200, first["sendId"])
    assert (other[0], other[1]["sendId"]) == (200, second["sendId"])


def test_events_repeated_after_a_send_finished_or_naming_no_send_change_nothing(run: Async, servers: Servers) -> None:
    # Lambda's retries, botocore's repeats and on-failure records can arrive after the send ended.
    _, accepted = run.post(PATIENTS)
    send_id = accepted["sendId"]
    run.drain()
    finished = run.status(send_id)
    assert finished["status"] == "completed"
    events = [event for _, event in run.queue.launched]
    assert [event.get("segment") for event in events] == [None, 0]

    for event in events:
        run.queue(DISPATCH_FUNCTION_NAME, event)
        run.dispatch.lambda_handler(_gave_up_record(event), LambdaContext())
    stray = {"sendId": uuid.uuid4().hex, "correlationId": None}
    run.queue(DISPATCH_FUNCTION_NAME, stray)
    run.dispatch.lambda_handler(_gave_up_record(stray), LambdaContext())
    run.drain()

    assert run.queue.errors == []
    again = run.status(send_id)
    assert {k: again[k] for k in ("status", "completedAt", "channels")} == {
        k: finished[k] for k in ("status", "completedAt", "channels")
    }
    assert _emails(servers) == Counter({"ann@example.com": 1, "bob@example.com": 1})
    assert len(run.queue.launched) == len(events) * 2 + 1  # the repeats only: nothing new started
