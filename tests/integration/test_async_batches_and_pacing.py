"""Batches to the channel functions: throttled messages retried, pacing, continuations out of time.

SendFunction, DispatchFunction and the channel functions run in-process against moto (DynamoDB, S3,
SES, SNS) and SecantusDB; DispatchFunction's `Event` invokes go through a queue that retries a
failed invocation as Lambda does (tests/integration/async_sends.py)."""

from __future__ import annotations

import uuid
from collections import Counter
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Servers
from tests.integration.async_sends import (
    BODY,
    CROWD,
    Async,
    Calls,
    _core,
    _expected,
    _metric_sums,
)


def test_throttled_messages_are_retried_later_not_failed(
    run: Async,
    crowd: list[dict[str, Any]],
    servers: Servers,
    functions: dict[str, ModuleType],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    email = functions["email"]
    real_ses = email.ses
    calls = Calls()

    throttled: set[str] = set()

    class ThrottlingSes:
        def send_email(self, **kwargs: Any) -> Any:
            to = kwargs["Destination"]["ToAddresses"][0]
            # Every third call is refused once for its address (SES's rate exceeded): each retry then goes
            # through, so the outcome does not depend on how concurrent calls interleave.
            if calls.next() % 3 == 0 and to not in throttled:
                throttled.add(to)
                raise ClientError(
                    {"Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded."}},
                    "SendEmail",
                )
            return real_ses.send_email(**kwargs)

    monkeypatch.setattr(email, "ses", ThrottlingSes())
    _, body = run.post({**BODY, "recipients": None, "channels": ["email"]})
    run.drain()

    status = run.status(body["sendId"])
    expected = _expected(crowd)["email"]
    assert _core(status["channels"]["email"]) == {
        "sent": len(expected),
        "failed": 0,
        "skipped": CROWD - len(expected),
        "pending": 0,
    }
    emails = Counter(e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails())
    assert set(emails) == expected
    assert max(emails.values()) == 1
    retries = [payload["batchId"] for payload in run.dispatch.dispatcher.invoker.payloads if "-r" in payload["batchId"]]
    assert retries  # the throttled ones went again, in batches of their own
    assert _metric_sums(capsys.readouterr().out)[("ThrottledRetries", "email")] == len(throttled)


def test_a_paced_send_runs_out_of_time_and_continuations_finish_it_with_every_user_once(
    run: Async, crowd: list[dict[str, Any]], servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from messaging.pacing import Pacer
    from tests.conftest import SENDS_TABLE

    engine = run.dispatch.dispatcher
    monkeypatch.setattr(engine, "pacer", Pacer(boto3.client("dynamodb"), SENDS_TABLE, {"email": 150}))
    monkeypatch.setattr(engine, "sleep", __import__("time").sleep)
    monkeypatch.setattr(
        engine, "settings", engine.settings.model_copy(update={"segment_users": 2_000, "dispatch_margin_s": 1.0})
    )
    _, body = run.post({**BODY, "recipients": None, "channels": ["email"]})

    # 900 e-mails at 150 per second, 3 s per invocation: the one segment takes several.
    run.drain(remaining_ms=3_000)

    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    assert status["channels"]["email"]["failed"] == 0
    segment_events = [event for _, event in run.queue.launched if event.get("segment") == 0]
    # The first, then at least one continuation: 2 s of work per invocation can touch three
    # one-second windows of 150 (450 e-mails), so two invocations may do it all.
    assert len(segment_events) >= 2
    emails = Counter(e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails())
    assert set(emails) == _expected(crowd)["email"]
    assert max(emails.values()) == 1
    assert max(len(p["messages"]) for p in engine.invoker.payloads) <= 150  # batches no larger than the rate


def test_pacing_spreads_batches_over_one_second_windows(functions: dict[str, ModuleType], servers: Servers) -> None:
    import boto3

    from messaging.pacing import Pacer
    from tests.conftest import SENDS_TABLE

    now = [1_000_000.25]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(boto3.client("dynamodb"), SENDS_TABLE, {"sms": 10}, clock=lambda: now[0], sleep=sleep)
    channel = f"sms{uuid.uuid4().hex[:6]}"
    pacer.rates[channel] = 10  # type: ignore[index]
    assert pacer.batch_limits()["sms"] == 10
    for _ in range(3):
        assert pacer.acquire(channel, 6, lambda: 100.0, 5.0)  # type: ignore[arg-type]
    assert len(slept) == 2  # 6 fit a window of 10, the next 6 waited for the next window each
    assert int(now[0]) == 1_000_002
    assert not pacer.acquire(channel, 6, lambda: 5.5, 5.0)  # type: ignore[arg-type]  # no time left to wait


def test_pushes_the_fcm_stand_in_throttles_are_sent_again_and_arrive_once(
    run: Async, db: Any, servers: Servers
) -> None:
    # FCM answers 429 QUOTA_EXCEEDED to each of these tokens' first 4 attempts: PushFunction's own 3
    # attempts end throttled, the dispatcher's batch of retries gets them through.
    db.users.insert_many(
        [{"_id": f"t{i:03d}", "deviceToken": f"throttled-4-t{i}", "clusters": ["quota"]} for i in range(30)]
    )
    _, body = run.post({**BODY, "recipients": None, "clusters": ["quota"], "channels": ["push"]})
    run.drain()

    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    assert _core(status["channels"]["push"]) == {"sent": 30, "failed": 0, "skipped": 0, "pending": 0}
    delivered = Counter(m["message"]["token"] for m in servers.fcm.messages)
    assert set(delivered) == {f"throttled-4-t{i}" for i in range(30)}
    assert max(delivered.values()) == 1
    assert all(servers.fcm.attempts[token] == 5 for token in delivered)


def test_a_voice_send_is_dispatched_like_any_channel_and_a_refused_number_is_its_failure(
    run: Async, servers: Servers, db: Any
) -> None:
    db.users.insert_many(
        [
            {"_id": "v0", "name": "V0", "phoneNumber": "+393330000000", "clusters": ["callers"]},  # refused
            *(
                {"_id": f"v{i}", "name": f"V{i}", "phoneNumber": f"+3935{i:08d}", "clusters": ["callers"]}
                for i in (1, 2)
            ),
            {"_id": "v3", "name": "V3", "clusters": ["callers"]},  # no number: skipped
        ]
    )

    status_code, body = run.post(
        {"channels": ["voice"], "clusters": ["callers"], "messageTitle": "-", "messageContent": "Hi {{user.name}}"}
    )
    assert status_code == 202, body
    run.drain()

    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    assert {channel: _core(counts) for channel, counts in status["channels"].items()} == {
        "voice": {"sent": 2, "failed": 1, "skipped": 1, "pending": 0}
    }
    assert run.failures(body["sendId"]) == [
        {
            "userId": "v0",
            "channel": "voice",
            "error": "ValidationException: Invalid destination phone number (INVALID_PARAMETER)",
        }
    ]
    assert sorted(call["MessageBody"] for call in servers.eum.messages) == ["Hi V1", "Hi V2"]
