"""Batching and aggregation with plain data: limits respected, no user lost when an invoke fails."""

from __future__ import annotations

import json

import pytest

from messaging.dispatch import BatchBuilder, ChannelInvokeError, LambdaInvoker, dispatch
from messaging.errors import BadRequest
from messaging.models.batch import SmsMessage
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
    assert first == {
        "channel": "sms",
        "sender": "ACME",
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
            raise ChannelInvokeError("TooManyRequestsException: Rate exceeded")
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
        ("u0", "sms function failed: TooManyRequestsException: Rate exceeded"),
        ("u1", "sms function failed: TooManyRequestsException: Rate exceeded"),
        ("u3", "InvalidParameter: x"),
    ]


@pytest.mark.parametrize("answer", [b"not json", b'{"failures": "none"}', b"{}", b'{"errorMessage": "x"}'])
def test_an_unreadable_answer_fails_the_batch(answer: bytes) -> None:
    build = builder()
    build.add("sms", "u0", sms("u0"))
    [failure] = dispatch(build.batches(), lambda name, payload: answer, max_parallel=1)
    assert failure.userId == "u0"
    assert failure.error.startswith("sms function failed: ")


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
    with pytest.raises(ChannelInvokeError, match=r"^Sandbox\.Timedout: Task timed out after 3\.00 seconds$"):
        timed_out("f", b"{}")
    garbled = LambdaInvoker(Client({"FunctionError": "Unhandled", "Payload": io.BytesIO(b"\xff oops")}))
    with pytest.raises(ChannelInvokeError, match="oops"):
        garbled("f", b"{}")


def test_an_error_object_without_function_error_still_fails_the_batch() -> None:
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
    assert failure.error == "sms function failed: GetParameterError: Could not connect to the endpoint URL"


def test_near_the_deadline_no_batch_is_launched_and_its_users_are_reported() -> None:
    build = builder(max_messages=1)
    for n in range(5):
        build.add("sms", f"u{n}", sms(f"u{n}"))
    clock = iter([20.0, 20.0, 3.0, 3.0])  # seconds left at each launch decision (and the log line)
    invoked: list[str] = []

    def invoker(name: str, payload: bytes) -> bytes:
        invoked.append(json.loads(payload)["messages"][0]["userId"])
        return b'{"failures": []}'

    failures = dispatch(build.batches(), invoker, max_parallel=1, remaining_s=lambda: next(clock), margin_s=5)

    assert invoked == ["u0", "u1"]
    assert [(f.userId, f.error) for f in failures] == [(f"u{n}", "not attempted: deadline") for n in (2, 3, 4)]
