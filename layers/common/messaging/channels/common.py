"""Sending a batch's messages with bounded concurrency and collecting who did not get theirs."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from messaging.models.common import Channel
from messaging.models.response import Failure


class Addressed(Protocol):
    @property
    def userId(self) -> str: ...  # noqa: N802 - the payload's field name


M = TypeVar("M", bound=Addressed)


@dataclass
class DeliveryReport:
    failures: list[Failure] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)  # one per provider call


def deliver_all(
    channel: Channel, messages: Sequence[M], deliver: Callable[[M], str | None], concurrency: int
) -> DeliveryReport:
    """`deliver` answers None when the provider accepted the message, else the reason it did not."""

    def attempt(message: M) -> tuple[Failure | None, float]:
        started = time.perf_counter()
        try:
            reason = deliver(message)
        except Exception as exc:  # noqa: BLE001 - one message's fault must not lose the others
            reason = f"{type(exc).__name__}: {exc}"
        elapsed_ms = (time.perf_counter() - started) * 1000
        failure = None if reason is None else Failure(userId=message.userId, channel=channel, error=reason)
        return failure, elapsed_ms

    report = DeliveryReport()
    if not messages:
        return report
    with ThreadPoolExecutor(max_workers=min(concurrency, len(messages))) as pool:
        for failure, elapsed_ms in pool.map(attempt, messages):
            report.latencies_ms.append(elapsed_ms)
            if failure is not None:
                report.failures.append(failure)
    return report


def aws_reason(exc: ClientError | BotoCoreError) -> str:
    """The provider's own words: `MessageRejected: Email address is not verified...`."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"
