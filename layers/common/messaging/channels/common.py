"""Sending a batch's messages with bounded concurrency and collecting who did not get theirs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from messaging.models.common import Channel
from messaging.models.response import Failure


class Addressed(Protocol):
    @property
    def userId(self) -> str: ...  # noqa: N802 - the payload's field name


M = TypeVar("M", bound=Addressed)


def deliver_all(
    channel: Channel, messages: Sequence[M], deliver: Callable[[M], str | None], concurrency: int
) -> list[Failure]:
    """`deliver` answers None when the provider accepted the message, else the reason it did not."""

    def attempt(message: M) -> Failure | None:
        try:
            reason = deliver(message)
        except Exception as exc:  # noqa: BLE001 - one message's fault must not lose the others
            reason = f"{type(exc).__name__}: {exc}"
        return None if reason is None else Failure(userId=message.userId, channel=channel, error=reason)

    if not messages:
        return []
    with ThreadPoolExecutor(max_workers=min(concurrency, len(messages))) as pool:
        return [failure for failure in pool.map(attempt, messages) if failure is not None]


def aws_reason(exc: ClientError | BotoCoreError) -> str:
    """The provider's own words: `MessageRejected: Email address is not verified...`."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"
