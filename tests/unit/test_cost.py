"""The benchmark's cost per 1,000,000 messages (bench/cost.py): plain arithmetic on what a run used."""

from __future__ import annotations

from datetime import date

import pytest

from bench.cost import TEMPLATE, Invocations, TimedInvoker, Usage, async_usage, memory_mb, per_million, sync_usage
from bench.prices import PRICED_ON, PRICES

TEMPLATE_TEXT = """
Globals:
  Function:
    MemorySize: 512
Resources:
  Api:
    Type: AWS::Serverless::Api
  SmallFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/small
  BigFunction:
    Type: AWS::Serverless::Function
    Properties:
      MemorySize: 2048
Outputs:
  Some:
    Value: x
"""


def test_each_function_takes_its_own_memory_size_else_the_globals_one() -> None:
    assert memory_mb(TEMPLATE_TEXT) == {"BigFunction": 2048, "SmallFunction": 512}
    deployed = memory_mb(TEMPLATE.read_text())
    assert deployed["DispatchFunction"] == 1024
    assert {"SendFunction", "EmailFunction", "SmsFunction", "PushFunction", "VoiceFunction"} <= set(deployed)


def test_a_million_messages_cost_each_line_of_the_bill_at_its_price() -> None:
    usage = Usage(
        messages=1000,
        invocations=(Invocations("BigFunction", 4, 1.0), Invocations("SmallFunction", 6, 2.0)),
        dynamodb_writes=5,
        dynamodb_reads=10,
        s3_puts=2,
        s3_gets=4,
        events=3,
        api_requests=1,
    )
    lines = per_million(usage, {"BigFunction": 2048, "SmallFunction": 512})
    # 1.0 s x 2 GB + 2.0 s x 0.5 GB = 3 GB-s per 1,000 messages: 3,000 GB-s per million.
    assert lines["Lambda GB-seconds"] == pytest.approx(3000 * 0.0000166667)
    assert lines["Lambda requests"] == pytest.approx(10_000 * 0.20 / 1e6)
    assert lines["DynamoDB"] == pytest.approx(5000 * 0.625 / 1e6 + 10_000 * 0.125 / 1e6)
    assert lines["S3"] == pytest.approx(2000 * 0.005 / 1000 + 4000 * 0.0004 / 1000)
    assert lines["EventBridge"] == pytest.approx(3000 * 1.00 / 1e6)
    assert lines["API Gateway"] == pytest.approx(1000 * 3.50 / 1e6)


def test_a_run_without_messages_has_no_cost_per_message() -> None:
    with pytest.raises(ValueError, match="without messages"):
        per_million(Usage(messages=0, invocations=()), {})


def test_a_synchronous_send_counts_its_function_the_invokes_and_their_batch_guards() -> None:
    usage = sync_usage(300, 2.5, {"EmailFunction": (3, 0.9), "SmsFunction": (2, 0.4)})
    assert usage.invocations == (
        Invocations("SendFunction", 1, 2.5),
        Invocations("EmailFunction", 3, 0.9),
        Invocations("SmsFunction", 2, 0.4),
    )
    assert usage.dynamodb_writes == 5 * 2 + 2  # a claim and a completion per invoke; the send's record
    assert (usage.api_requests, usage.events) == (1, 2)


def test_an_asynchronous_send_adds_the_dispatchers_and_the_counted_requests() -> None:
    usage = async_usage(300, 0.1, (4, 12.0), {"PushFunction": (3, 0.6)}, dynamodb_requests=7, s3_requests=2)
    assert Invocations("DispatchFunction", 4, 12.0) in usage.invocations
    assert (usage.dynamodb_writes, usage.s3_puts) == (7 + 3 * 2, 2)
    memory = memory_mb(TEMPLATE.read_text())
    # DispatchFunction's 1024 MB for 12 s weighs more than the rest together.
    lines = per_million(usage, memory)
    assert lines["Lambda GB-seconds"] > lines["DynamoDB"] > 0


def test_the_prices_are_dated_and_each_names_its_pricing_page() -> None:
    assert date.fromisoformat(PRICED_ON)
    for name, price in PRICES.items():
        assert price.source.startswith("https://aws.amazon.com/"), name
        assert price.dollars > 0, name
        assert price.per >= 1, name


def test_the_timed_invoker_counts_each_functions_invokes_and_answers_as_the_real_one() -> None:
    timed = TimedInvoker(lambda name, payload: name.encode() + payload)
    assert timed("EmailFunction", b"!") == b"EmailFunction!"
    timed("EmailFunction", b"")
    timed("SmsFunction", b"")
    assert {name: count for name, (count, _) in timed.totals.items()} == {"EmailFunction": 2, "SmsFunction": 1}
