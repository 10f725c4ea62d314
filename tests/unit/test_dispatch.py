"""Batching and aggregation with plain data: limits respected, no user lost when an invoke fails."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from messaging.channels.sms import SmsMessage
from messaging.dispatch import (
    BatchBuilder,
    BatchOutcomeUnknownError,
    ChannelInvokeError,
    InvokeThrottledError,
    LambdaInvoker,
    dispatch,
)
from messaging.errors import BadRequest
from messaging.models.common import Channel

NAMES: dict[Channel, str] = {"sms": "sms-fn", "email": "email-fn", "push": "push-fn"}


def builder(max_messages: int = 100, max_bytes: int = 4_000_000) -> BatchBuilder:
    return BatchBuilder({"sms": {"sender": "ACME"}}, NAMES, max_messages=max_messages, max_bytes=max_bytes)


def sms(user: str, text: str = "hi") -> SmsMessage:
    return SmsMessage(userId=user, phoneNumber="+393330000001", text=text)


def test_batches_split_by_count_and_carry_the_envelope() -> None:
    build = builder(max_messages=2)
    for n in range(5):
        build.add("sms", f"u{n}", sms(f"u{n}"))
    batches = build.batches()
    assert [batch.user_ids for batch in batches] == [["u0", "u1"], ["u2", "u3"], ["u4"]]
    first = json.loads(batches[0].payload)
    # Every batch has its own id, which its channel function honours once.
    assert len({json.loads(batch.payload)["batchId"] for batch in batches}) == 3
    assert first["batchId"] == batches[0].batch_id
    assert first == {
        "channel": "sms",
        "sender": "ACME",
        "batchId": batches[0].batch_id,
        "messages": [
            {"userId": "u0", "phoneNumber": "+393330000001", "text": "hi"},
            {"userId": "u1", "phoneNumber": "+393330000001", "text": "hi"},
        ],
    }
    assert {batch.function_name for batch in batches} == {"sms-fn"}


def test_batches_split_by_bytes_and_stay_under_the_limit() -> None:
    build = builder(max_bytes=10_000)
    for n in range(30):
        build.add("sms", f"u{n}", sms(f"u{n}", "é" * 900))  # 1,800 bytes of text each
    batches = build.batches()
    assert all(len(batch.payload) <= 10_000 for batch in batches)
    assert [user for batch in batches for user in batch.user_ids] == [f"u{n}" for n in range(30)]
    assert len(batches) == 6
    with pytest.raises(BadRequest, match="exceeds the batch limit of 10000"):
        build.add("sms", "big", sms("big", "x" * 10_000))


def test_a_failed_invoke_fails_every_user_of_its_batch_only() -> None:
    build = builder(max_messages=2)
    for n in range(4):
        build.add("sms", f"u{n}", sms(f"u{n}"))

    def invoker(name: str, payload: bytes) -> bytes:
        users = [message["userId"] for message in json.loads(payload)["messages"]]
        if "u0" in users:
            raise ChannelInvokeError("ResourceNotFoundException: Function not found: sms-fn")
        # A failure naming a user outside the batch cannot be trusted: it is dropped.
        return json.dumps(
            {
                "failures": [
                    {"userId": "u3", "channel": "sms", "error": "InvalidParameter: x"},
                    {"userId": "zz", "channel": "sms", "error": "?"},
                ]
            }
        ).encode()

    failures = dispatch(build.batches(), invoker, max_parallel=4)
    assert [(f.userId, f.error) for f in failures] == [
        ("u0", "sms function failed: ResourceNotFoundException: Function not found: sms-fn"),
        ("u1", "sms function failed: ResourceNotFoundException: Function not found: sms-fn"),
        ("u3", "InvalidParameter: x"),
    ]


@pytest.mark.parametrize("answer", [b"not json", b'{"failures": "none"}', b"{}", b'{"errorMessage": "x"}'])
def test_an_unreadable_answer_reports_the_batch_unknown(answer: bytes) -> None:
    build = builder()
    build.add("sms", "u0", sms("u0"))
    [failure] = dispatch(build.batches(), lambda name, payload: answer, max_parallel=1)
    assert failure.userId == "u0"
    # The function ran: whom it reached cannot be told, so neither sent nor failed.
    assert failure.error.startswith("unknown: sms batch outcome unknown (unreadable answer: ")


def test_lambda_invoker_reports_function_errors() -> None:
    import io

    class Client:
        def __init__(self, response: dict[str, object]) -> None:
            self.response = response

        def invoke(self, **kwargs: object) -> dict[str, object]:
            return self.response

    ok = LambdaInvoker(Client({"Payload": io.BytesIO(b'{"failures": []}')}))
    assert ok("f", b"{}") == b'{"failures": []}'
    timed_out = LambdaInvoker(
        Client(
            {
                "FunctionError": "Unhandled",
                "Payload": io.BytesIO(
                    b'{"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 3.00 seconds"}'
                ),
            }
        )
    )
    # Timed out or crashed after it started: perhaps it sent, perhaps not.
    with pytest.raises(BatchOutcomeUnknownError, match=r"^Sandbox\.Timedout: Task timed out after 3\.00 seconds$"):
        timed_out("f", b"{}")
    garbled = LambdaInvoker(Client({"FunctionError": "Unhandled", "Payload": io.BytesIO(b"\xff oops")}))
    with pytest.raises(BatchOutcomeUnknownError, match="oops"):
        garbled("f", b"{}")
    # Refused before sending anything (an invalid payload): the batch failed.
    refused = LambdaInvoker(
        Client(
            {
                "FunctionError": "Unhandled",
                "Payload": io.BytesIO(b'{"errorType": "BatchRefusedError", "errorMessage": "invalid batch: x"}'),
            }
        )
    )
    with pytest.raises(ChannelInvokeError, match=r"^BatchRefusedError: invalid batch: x$"):
        refused("f", b"{}")


def test_an_error_object_without_function_error_is_never_read_as_sent() -> None:
    import io

    class Emulator:
        def invoke(self, **kwargs: object) -> dict[str, object]:
            return {
                "StatusCode": 200,
                "Payload": io.BytesIO(
                    b'{"errorMessage": "Could not connect to the endpoint URL", "errorType": "GetParameterError"}'
                ),
            }

    build = builder()
    build.add("sms", "u0", sms("u0"))
    [failure] = dispatch(build.batches(), LambdaInvoker(Emulator()), max_parallel=1)
    assert (
        failure.error == "unknown: sms batch outcome unknown (GetParameterError: Could not connect to the endpoint URL)"
    )


def test_near_the_deadline_no_batch_is_launched_and_its_users_are_reported() -> None:
    build = builder(max_messages=1)
    for n in range(5):
        build.add("sms", f"u{n}", sms(f"u{n}"))
    now = [0.0]
    invoked: list[str] = []

    def invoker(name: str, payload: bytes) -> bytes:
        invoked.append(json.loads(payload)["messages"][0]["userId"])
        now[0] += 8.0  # each invoke takes 8 of the 20 seconds left
        return b'{"failures": []}'

    failures = dispatch(
        build.batches(), invoker, max_parallel=1, remaining_s=lambda: 20.0, margin_s=5, clock=lambda: now[0]
    )

    assert invoked == ["u0", "u1"]
    assert [(f.userId, f.error) for f in failures] == [(f"u{n}", "not attempted: deadline") for n in (2, 3, 4)]


def test_at_the_deadline_dispatch_answers_without_waiting_for_a_batch_still_running() -> None:
    build = builder(max_messages=1)
    for n in range(4):
        build.add("sms", f"u{n}", sms(f"u{n}"))
    release = threading.Event()
    finished: list[str] = []

    def invoker(name: str, payload: bytes) -> bytes:
        user = json.loads(payload)["messages"][0]["userId"]
        if user == "u0":
            release.wait(10)  # hangs past the deadline
        finished.append(user)
        return b'{"failures": []}'

    try:
        failures = dispatch(build.batches(), invoker, max_parallel=2, remaining_s=lambda: 0.6, reserve_s=0.3)
        # Returned while u0's invoke is still running: the pool was not joined.
        assert "u0" not in finished
    finally:
        release.set()
    assert [(f.userId, f.error) for f in failures] == [("u0", "unknown: deadline (the sms batch was still running)")]
    assert sorted(finished[:3]) == ["u1", "u2", "u3"]


def test_a_channel_answer_keeps_only_its_batch_channel_and_users_once() -> None:
    build = builder()
    for n in range(3):
        build.add("sms", f"u{n}", sms(f"u{n}"))

    def invoker(name: str, payload: bytes) -> bytes:
        return json.dumps(
            {
                "failures": [
                    {"userId": "u1", "channel": "sms", "error": "InvalidParameter: first"},
                    {"userId": "u1", "channel": "sms", "error": "InvalidParameter: again"},
                    {"userId": "u2", "channel": "email", "error": "MessageRejected: not this batch's channel"},
                    {"userId": "u9", "channel": "sms", "error": "not in the batch"},
                ]
            }
        ).encode()

    failures = dispatch(build.batches(), invoker, max_parallel=1)
    assert [(f.userId, f.channel, f.error) for f in failures] == [("u1", "sms", "InvalidParameter: first")]


def test_throttled_invokes_are_retried_with_backoff_and_then_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    import messaging.dispatch

    monkeypatch.setattr(messaging.dispatch, "THROTTLE_BACKOFF_S", 0.001)
    build = builder(max_messages=1)
    for n in range(2):
        build.add("sms", f"u{n}", sms(f"u{n}"))
    calls: dict[str, int] = {"u0": 0, "u1": 0}

    def invoker(name: str, payload: bytes) -> bytes:
        user = json.loads(payload)["messages"][0]["userId"]
        calls[user] += 1
        if user == "u1" or calls[user] < 3:
            raise InvokeThrottledError("TooManyRequestsException: Rate exceeded")
        return b'{"failures": []}'

    failures = dispatch(build.batches(), invoker, max_parallel=1)
    assert calls == {"u0": 3, "u1": messaging.dispatch.THROTTLE_ATTEMPTS}
    # Throttling happens before the function runs: the batch was not sent.
    assert [(f.userId, f.error) for f in failures] == [
        ("u1", "sms function failed: TooManyRequestsException: Rate exceeded")
    ]


def test_throttling_is_not_retried_past_the_launch_margin() -> None:
    build = builder()
    build.add("sms", "u0", sms("u0"))
    now = [0.0]
    calls = []

    def invoker(name: str, payload: bytes) -> bytes:
        calls.append(name)
        now[0] += 4.0
        raise InvokeThrottledError("TooManyRequestsException: Rate exceeded")

    [failure] = dispatch(
        build.batches(), invoker, max_parallel=1, remaining_s=lambda: 9.0, margin_s=5, clock=lambda: now[0]
    )
    assert len(calls) == 1
    assert failure.error == "sms function failed: TooManyRequestsException: Rate exceeded"


def _client_error(code: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    error: Exception = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Invoke"
    )
    return error


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (lambda: EndpointConnectionError(endpoint_url="http://x"), ChannelInvokeError),
        (lambda: ConnectTimeoutError(endpoint_url="http://x"), ChannelInvokeError),
        (lambda: ReadTimeoutError(endpoint_url="http://x"), BatchOutcomeUnknownError),
        (lambda: ConnectionClosedError(endpoint_url="http://x"), BatchOutcomeUnknownError),
        (lambda: _client_error("TooManyRequestsException", 429), InvokeThrottledError),
        (lambda: _client_error("ResourceNotFoundException", 404), ChannelInvokeError),
        (lambda: _client_error("ServiceException", 500), BatchOutcomeUnknownError),
    ],
)
def test_lambda_invoker_tells_not_sent_from_unknown(raised: Any, expected: type[Exception]) -> None:
    class Client:
        def invoke(self, **kwargs: object) -> dict[str, object]:
            raise raised()

    with pytest.raises(expected) as caught:
        LambdaInvoker(Client())("f", b"{}")
    assert type(caught.value) is expected


def test_lambda_invoker_client_never_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    invoker = LambdaInvoker.connect(read_timeout=7, endpoint_url="http://127.0.0.1:1")
    config = invoker._client.meta.config
    assert (config.retries["total_max_attempts"], config.read_timeout) == (1, 7)


def test_the_render_budget_refuses_while_rendering() -> None:
    build = BatchBuilder(
        {"sms": {"sender": "ACME"}}, NAMES, max_messages=100, max_bytes=4_000_000, max_total_bytes=2_000
    )
    build.add("sms", "u0", sms("u0", "x" * 900))
    build.add("sms", "u1", sms("u1", "x" * 900))
    with pytest.raises(BadRequest, match=r"exceed RENDER_BUDGET_BYTES \(2000 bytes\).*nothing was sent"):
        build.add("sms", "u2", sms("u2", "x" * 900))
