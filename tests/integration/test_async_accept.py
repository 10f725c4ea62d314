"""`Prefer: respond-async` accepted (202) and carried out, or refused before the 202 with nothing started.

SendFunction, DispatchFunction and the channel functions run in-process against moto (DynamoDB, S3,
SES, SNS) and SecantusDB; DispatchFunction's `Event` invokes go through a queue that retries a
failed invocation as Lambda does (tests/integration/async_sends.py)."""

from __future__ import annotations

import uuid
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import ApiCall, Servers
from tests.integration.async_sends import (
    BODY,
    CROWD,
    PATIENTS,
    Async,
    _assert_counts_add_up,
    _assert_exactly_once,
    _core,
    _debug_errors,
    _expected,
    _metric_sums,
)
from tests.lambda_runtime import InProcessInvoker


def test_a_respond_async_send_is_accepted_then_completes_with_every_user_once(
    run: Async, crowd: list[dict[str, Any]], servers: Servers, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    status_code, body = run.post()

    assert status_code == 202
    send_id = body["sendId"]
    assert body == {"sendId": send_id, "status": "accepted"}
    headers = run.api.last["multiValueHeaders"]
    assert headers["Location"] == [f"/sends/{send_id}"]
    assert headers["Preference-Applied"] == ["respond-async"]
    assert servers.outbox.emails() == []  # nothing sent before the dispatcher runs
    accepted = run.status(send_id)
    assert accepted["status"] == "accepted"
    _assert_counts_add_up(accepted)

    run.drain()
    _debug_errors(run)

    status = run.status(send_id)
    users = [*crowd, {"emailAddress": "ann@example.com", "phoneNumber": "+393330000001", "deviceToken": "tok-ann"}]
    assert status["status"] == "completed"
    assert status["completedAt"] is not None
    assert (status["audience"], status["notFound"]) == (CROWD + 1, 2)
    expected = _expected(users)
    assert {channel: _core(counts) for channel, counts in status["channels"].items()} == {
        channel: {
            "sent": len(expected[channel]),
            "failed": 2,
            "skipped": CROWD + 1 - len(expected[channel]),
            "pending": 0,
        }
        for channel in ("email", "sms", "push")
    }
    _assert_exactly_once(servers, users)
    # The operator's metrics (alarms, dashboard) say what the status says, each batch counted once.
    metrics = _metric_sums(capsys.readouterr().out)
    for channel, counts in status["channels"].items():
        assert metrics[("MessagesSent", channel)] == counts["sent"], channel
        assert metrics[("MessagesFailed", channel)] == counts["failed"], channel
        assert metrics[("MessagesSkipped", channel)] == counts["skipped"], channel
    owed = (status["audience"] + status["notFound"]) * len(status["channels"])
    assert metrics[("AsyncMessagesPlanned", "")] == metrics[("AsyncMessagesHandled", "")] == owed
    failures = run.failures(send_id, limit=4)  # pages of 4: ghosts on three channels
    assert sorted((f["userId"], f["channel"], f["error"]) for f in failures) == sorted(
        (ghost, channel, "user not found") for ghost in ("ghost-1", "ghost-2") for channel in ("email", "sms", "push")
    )


def test_a_retry_with_the_same_idempotency_key_answers_the_same_send_and_starts_nothing(
    run: Async, crowd: list[dict[str, Any]]
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = run.post(headers=key)
    second = run.post(headers=key)

    assert first == second
    assert first[0] == 202
    assert len(run.queue.launched) == 1


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({**BODY, "channels": ["fax"]}, 400, "channels"),
        ({**BODY, "templateId": "65f0000000000000000000ff", "messageTitle": None}, 404, "templateId"),
        ({**BODY, "messageContent": "{{#if x}}unclosed"}, 400, "messageContent"),
        ({**BODY, "emailAttachments": ["missing.pdf"]}, 400, "missing.pdf"),
    ],
)
def test_what_can_refuse_refuses_before_the_202_and_nothing_starts(
    run: Async, crowd: list[dict[str, Any]], body: dict[str, Any], status: int, message: str
) -> None:
    code, answer = run.post(body)

    assert code == status, answer
    assert message in answer["message"]
    assert run.queue.launched == []


def test_an_unreachable_database_is_a_503_before_the_202(
    run: Async, functions: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    from messaging.store import MongoStore

    monkeypatch.setattr(
        functions["send"].parts,
        "store",
        MongoStore.connect("mongodb://127.0.0.1:1/", "messaging", "users", "templates", 300),
    )
    for body in (BODY, {**BODY, "recipients": None}):  # recipients, or clusters only
        code, answer = run.post(body)
        assert (code, answer["error"]) == (503, "Service Unavailable")
        assert answer["message"].startswith("database unreachable")
    assert run.queue.launched == []


def test_a_synchronous_send_over_sync_max_audience_is_a_400_naming_respond_async(
    api: ApiCall,
    functions: dict[str, ModuleType],
    crowd: list[dict[str, Any]],
    servers: Servers,
    invoker: InProcessInvoker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    send = functions["send"]
    monkeypatch.setattr(send.parts, "settings", send.parts.settings.model_copy(update={"sync_max_audience": 1_000}))

    status, body = api(BODY)

    assert (status, body["error"]) == (400, "Bad Request")
    assert "SYNC_MAX_AUDIENCE (1000 users)" in body["message"]
    assert "Prefer: respond-async" in body["message"]
    assert invoker.payloads == []
    assert servers.outbox.emails() == []


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("settings", "asynchronous sends are not configured (DISPATCH_FUNCTION_NAME)"),
        ("sends", "the send could not be recorded (NoSuchBucket); nothing was sent"),
        ("launcher", "DispatchFunction was not invoked (ResourceNotFoundException); nothing was sent"),
    ],
    ids=["dispatcher-not-configured", "store-unwritable", "dispatcher-not-invokable"],
)
def test_what_fails_after_the_checks_is_a_503_and_nothing_is_sent(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch, broken: str, message: str
) -> None:
    import boto3

    from messaging.sends.accept import EventLauncher
    from messaging.sends.persistence.store import SendStore
    from tests.conftest import SENDS_TABLE

    send = run.send
    replacement = {
        "settings": lambda: send.parts.settings.model_copy(update={"dispatch_function_name": None}),
        "sends": lambda: SendStore(boto3.client("dynamodb"), SENDS_TABLE, boto3.client("s3"), "no-such-bucket"),
        "launcher": lambda: EventLauncher(boto3.client("lambda")),  # moto holds no DispatchFunction
    }[broken]()
    monkeypatch.setattr(send.parts, broken, replacement)

    code, body = run.post(PATIENTS)

    assert (code, body["error"], body["message"]) == (503, "Service Unavailable", message)
    assert run.queue.launched == []
    assert servers.outbox.emails() == []
