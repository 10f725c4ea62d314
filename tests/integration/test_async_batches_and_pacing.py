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


def test_two_dispatchers_share_one_pace_that_never_lets_more_than_the_rate_through_in_a_second(
    functions: dict[str, ModuleType], servers: Servers
) -> None:
    import boto3

    from messaging.pacing import Pacer
    from messaging.rate_control import LEAD_MS
    from tests.conftest import SENDS_TABLE

    now = [1_000_000.25]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    channel = f"sms{uuid.uuid4().hex[:6]}"
    # Two dispatchers (two sends, or two segments of one) on the same table and clock.
    pacers = [
        Pacer(boto3.client("dynamodb"), SENDS_TABLE, {channel: 200}, clock=lambda: now[0], sleep=sleep)  # type: ignore[dict-item]
        for _ in range(2)
    ]
    assert pacers[0].batch_limits()[channel] == 10  # type: ignore[index]  # a twentieth of a second
    grants: list[float] = []
    for turn in range(60):
        slot = pacers[turn % 2].acquire(channel, 10, lambda: 100.0, 5.0)  # type: ignore[arg-type]
        assert slot is not None
        assert slot.start_s is not None
        assert slot.start_s - now[0] <= LEAD_MS / 1000 + 1e-6  # the holder is back in time to invoke ahead of it
        assert slot.wake_s == pytest.approx(now[0])  # and says when it was to wake (the lead's measure)
        grants.append(slot.start_s)
    for first, at in enumerate(grants):
        assert sum(1 for other in grants[first:] if other < at + 1.0) * 10 <= 200 + 10
    # and the rate is filled: 600 messages in about 3 s at 196 per second (2 % headroom)
    assert 600 / 196 - 0.1 <= grants[-1] - grants[0] + 10 / 196 <= 600 / 196 + 0.1
    assert not pacers[0].acquire(channel, 10, lambda: 5.01, 5.0)  # type: ignore[arg-type]  # no time left to wait

    # Throttles met by one dispatcher's batches lower the pace for the other too.
    pacers[0].record(channel, 10, 8)  # type: ignore[arg-type]
    lowered = pacers[0].current_rate(channel)  # type: ignore[arg-type]
    assert lowered < 196
    # The other met the same episode (its batch paced at 196, its last read from before the cut):
    # it learns the cut rather than cutting again, even with its report later than the cooldown.
    now[0] += 1.5
    pacers[1].record(channel, 10, 8, 196.0)  # type: ignore[arg-type]
    assert pacers[1].current_rate(channel) == pacers[0].current_rate(channel) == lowered  # type: ignore[arg-type]
    now[0] += 5  # the pace is idle meanwhile
    pacers[1].acquire(channel, 10, lambda: 100.0, 5.0)  # type: ignore[arg-type]
    assert pacers[1].current_rate(channel) == lowered  # type: ignore[arg-type]
    # quiet batches raise it again, one step per second, back to the ceiling
    for _ in range(200):
        now[0] += 1
        pacers[1].record(channel, 10, 0)  # type: ignore[arg-type]
    assert pacers[1].current_rate(channel) == 196  # type: ignore[arg-type]


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


def test_threads_waiting_on_a_pace_ask_the_table_a_few_at_a_time_and_still_fill_it(
    functions: dict[str, ModuleType], servers: Servers
) -> None:
    """Sixteen batches of one dispatcher waiting for slots: only ASKERS of them ask the shared item
    at once (each refused ask is a DynamoDB request, paid for and served), and the grants still
    follow each other at the rate (real clock, moto's DynamoDB)."""
    import threading
    import time

    import boto3

    from messaging.pacing import ASKERS, Pacer
    from tests.conftest import SENDS_TABLE

    table = boto3.client("dynamodb")
    asking, most = [0], [0]
    lock = threading.Lock()

    class Counting:
        def __getattr__(self, name: str) -> Any:
            call = getattr(table, name)

            def counted(**arguments: Any) -> Any:
                with lock:
                    asking[0] += 1
                    most[0] = max(most[0], asking[0])
                try:
                    return call(**arguments)
                finally:
                    with lock:
                        asking[0] -= 1

            return counted

    channel = f"sms{uuid.uuid4().hex[:6]}"
    pacer = Pacer(Counting(), SENDS_TABLE, {channel: 100})  # type: ignore[dict-item]
    grants: list[float] = []

    def batch() -> None:
        for _ in range(3):
            assert pacer.acquire(channel, 5, lambda: 100.0, 5.0)  # type: ignore[arg-type]
            with lock:
                grants.append(time.monotonic())

    threads = [threading.Thread(target=batch) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] <= ASKERS
    # 48 batches of 5 at 98 per second: about 2.4 s, none lost to the queueing
    assert (grants[-1] - grants[0]) <= 47 * 5 / 98 * 1.5
