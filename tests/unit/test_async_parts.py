"""The plain parts of asynchronous sends: the Prefer header, throttle reasons, batch naming."""

from __future__ import annotations

import json

import pytest

from messaging.channels.sms import SmsMessage
from messaging.dispatch import BatchBuilder
from messaging.errors import BadRequest
from messaging.prefer import parse_prefer
from messaging.sends.batches import is_throttled
from messaging.sends.persistence.failures import make_token, read_token


@pytest.mark.parametrize(
    ("values", "asynchronous"),
    [
        (["respond-async"], True),
        (["Respond-Async"], True),
        (["return=minimal, respond-async; foo=bar"], True),
        (["wait=10", "respond-async"], True),
        (["respond-async=yes"], True),
        ([" return=representation "], False),
        (["respond-asynchronously"], False),
        ([""], False),
        ([], False),
    ],
)
def test_prefer_is_read_as_rfc_7240_tokens(values: list[str], asynchronous: bool) -> None:
    assert ("respond-async" in parse_prefer(values)) is asynchronous


@pytest.mark.parametrize(
    ("reason", "throttled"),
    [
        ("Throttling: Maximum sending rate exceeded.", True),
        ("TooManyRequestsException: Maximum sending rate exceeded.", True),
        ("Throttled: Rate exceeded", True),
        ("ThrottlingException: Rate exceeded", True),
        ("QUOTA_EXCEEDED: Sending quota exceeded.", True),
        ("HTTP 429: too many", True),
        ("MessageRejected: Email address is not verified.", False),
        ("UNREGISTERED: Requested entity was not found.", False),
        ("unknown: email batch outcome unknown (Throttling: x)", False),
    ],
)
def test_only_provider_throttling_is_sent_again(reason: str, throttled: bool) -> None:
    assert is_throttled(reason) is throttled


FCM_429_BODIES = [
    # FCM's own answer, its status only, its code only (a gateway's), a proxy's JSON and its HTML
    b'{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota exceeded",'
    b' "details": [{"errorCode": "QUOTA_EXCEEDED"}]}}',
    b'{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota exceeded"}}',
    b'{"error": {"code": 429, "message": "Quota exceeded"}}',
    b'{"error": "rate limited"}',
    b"<html>Too Many Requests</html>",
]


def test_every_throttled_call_a_paced_batch_leaves_to_the_dispatcher_is_sent_again_by_it() -> None:
    # A paced batch's channel function does not retry what it counts throttled (botocore's guard,
    # the FCM client): a reason the dispatcher did not know as throttled would be tried once only.
    from botocore.exceptions import ClientError

    from messaging.channels.common import send_problem
    from messaging.channels.push import fcm_problem
    from messaging.throttles import AWS_CODES

    for code in sorted(AWS_CODES):
        problem = send_problem(ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, "SendEmail"))
        assert is_throttled(problem.reason), problem
    for body in FCM_429_BODIES:
        problem = fcm_problem(429, body)
        assert is_throttled(problem.reason), problem
    assert not is_throttled(fcm_problem(400, b'{"error": "bad request"}').reason)


def test_a_failures_token_round_trips_and_a_forged_one_is_a_400() -> None:
    assert read_token(make_token("fail#000001#email#000002#0000", 7)) == ("fail#000001#email#000002#0000", 7)
    for forged in ("garbage", make_token("send", 0), make_token("fail#x", -1)):
        with pytest.raises(BadRequest, match="nextToken"):
            read_token(forged)


def test_batches_are_named_by_the_caller_and_no_larger_than_their_channels_limit() -> None:
    numbers = iter(range(100))
    builder = BatchBuilder(
        {"sms": {"sender": "ACME"}},
        {"sms": "SmsFunction"},
        max_messages=100,
        max_bytes=100_000,
        batch_id=lambda channel: f"send-0-{channel[0]}{next(numbers)}",
        channel_max_messages={"sms": 3},
    )
    for index in range(7):
        builder.add("sms", f"u{index}", SmsMessage(userId=f"u{index}", phoneNumber="+393330000001", text="hi"))

    batches = builder.batches()

    assert [batch.batch_id for batch in batches] == ["send-0-s0", "send-0-s1", "send-0-s2"]
    assert [len(batch.user_ids) for batch in batches] == [3, 3, 1]
    assert json.loads(batches[0].payload)["batchId"] == "send-0-s0"
