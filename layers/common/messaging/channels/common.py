"""Sending a batch's messages with bounded concurrency and collecting who did not get theirs.

A provider's answer is mapped to a `Problem` where it is read: a machine-readable code (the
provider's error code, or one of ours) next to the human reason. Metrics count codes; the reason is
what the API answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from messaging.aws import may_have_sent
from messaging.models.common import Channel
from messaging.models.response import ChannelFailure, FailureCode


class Addressed(Protocol):
    @property
    def userId(self) -> str: ...  # noqa: N802 - the payload's field name


M = TypeVar("M", bound=Addressed)


class Problem(NamedTuple):
    """Why one message was not sent: `code` for metrics (`MessageRejected`, `UNREGISTERED`,
    `OptedOut`...), `reason` for people (`MessageRejected: Email address is not verified...`)."""

    code: str
    reason: str


@dataclass
class DeliveryReport:
    failures: list[ChannelFailure] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)  # one per provider call


def failures_for(channel: Channel, messages: Sequence[Addressed], problem: Problem) -> DeliveryReport:
    """Every message of the batch failed for the same reason (nothing was sent)."""
    return DeliveryReport([failure(channel, m.userId, problem) for m in messages])


def failure(channel: Channel, user_id: str, problem: Problem) -> ChannelFailure:
    return ChannelFailure(userId=user_id, channel=channel, error=problem.reason, code=problem.code)


def deliver_all(
    channel: Channel, messages: Sequence[M], deliver: Callable[[M], Problem | None], concurrency: int
) -> DeliveryReport:
    """`deliver` answers None when the provider accepted the message, else the Problem."""

    def attempt(message: M) -> tuple[ChannelFailure | None, float]:
        started = time.perf_counter()
        try:
            problem = deliver(message)
        except Exception as exc:  # noqa: BLE001 - one message's fault must not lose the others
            problem = Problem(type(exc).__name__, f"{type(exc).__name__}: {exc}")
        elapsed_ms = (time.perf_counter() - started) * 1000
        return (None if problem is None else failure(channel, message.userId, problem)), elapsed_ms

    report = DeliveryReport()
    if not messages:
        return report
    with ThreadPoolExecutor(max_workers=min(concurrency, len(messages))) as pool:
        for failed, elapsed_ms in pool.map(attempt, messages):
            report.latencies_ms.append(elapsed_ms)
            if failed is not None:
                report.failures.append(failed)
    return report


def aws_problem(exc: ClientError | BotoCoreError) -> Problem:
    """The provider's code and own words: `MessageRejected: Email address is not verified...`."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Error")
        return Problem(code, f"{code}: {error.get('Message', '')}".rstrip(": "))
    return Problem(type(exc).__name__, f"{type(exc).__name__}: {exc}")


def aws_reason(exc: ClientError | BotoCoreError) -> str:
    return aws_problem(exc).reason


def send_problem(exc: ClientError | BotoCoreError) -> Problem:
    """A failed send call: `unknown: ...` when the message may have left all the same (a read
    timeout: botocore did not retry it, and nobody may send it again), else the provider's problem."""
    problem = aws_problem(exc)
    if may_have_sent(exc):
        return Problem(FailureCode.UNKNOWN, f"unknown: {problem.reason} (the message may have been sent)")
    return problem
