"""Parsed delivery events recorded: the user's opt-out, then the send's counter and failure, once
(messaging.sends.persistence.events); a malformed event never raises, only the stores' outages do."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from messaging.feedback.parse import DeliveryEvent, IgnoredEvent, messages, parse
from messaging.models.common import Channel
from messaging.models.response import Failure
from messaging.observability import count, logger
from messaging.sends.states import EventVerdict

# What each outcome counts (a DETAILS counter of messaging.sends.states) and the metric it moves.
COUNTERS: dict[str, str | None] = {
    "delivered": "delivered",
    "bounced": "bounced",
    "complained": "complained",
    "undelivered": "undelivered",
    "rejected": None,  # SES dropped it after accepting it (a virus, say): a failure, no counter
}
METRICS = {
    "delivered": "MessagesDelivered",
    "bounced": "MessagesBounced",
    "complained": "MessagesComplained",
    "undelivered": "MessagesUndelivered",
}
IGNORED_METRIC = "DeliveryEventsIgnored"

_SEND_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class EventStore(Protocol):
    def record_event(
        self,
        send_id: str,
        channel: Channel,
        outcome: str,
        message_id: str,
        counter: str | None,
        failure: Failure | None,
        user_id: str | None = None,
    ) -> EventVerdict: ...


class OptOuts(Protocol):
    def opt_out(self, user_id: str, channel: Channel) -> bool: ...

    def refuse(self, user_id: str, category: str, channel: Channel) -> bool: ...


@dataclass
class Summary:
    recorded: int = 0
    duplicates: int = 0
    ignored: int = 0
    opted_out: int = 0
    reasons: list[str] = field(default_factory=list)


def _ignored(summary: Summary, reason: str, kind: str = "") -> None:
    summary.ignored += 1
    summary.reasons.append(reason)
    count(IGNORED_METRIC, 1)
    logger.info("delivery event ignored", extra={"reason": reason[:120], "eventType": kind[:40]})


def record(event: DeliveryEvent, store: EventStore, opt_outs: OptOuts, summary: Summary) -> None:
    """One parsed event: the user's opt-out, then the send's counter and failure, once."""
    if event.user_id is None:
        _ignored(summary, "no user tag", event.kind)
        return
    if event.opt_out:
        # Whatever became of the send's record: the user asked, and a repeat changes nothing.
        if opt_outs.opt_out(event.user_id, event.channel):
            summary.opted_out += 1
        logger.info(
            "user opted out", extra={"userId": event.user_id, "channel": event.channel, "eventType": event.kind}
        )
    for category in event.categories:  # an unsubscribe from one category's topic: that category only
        if opt_outs.refuse(event.user_id, category, event.channel):
            summary.opted_out += 1
        logger.info("user refused a category", extra={"userId": event.user_id, "channel": event.channel})
    if event.outcome is None:
        return
    if event.send_id is None or not _SEND_ID.fullmatch(event.send_id):
        _ignored(summary, "no send tag", event.kind)
        return
    failure = (
        Failure(userId=event.user_id, channel=event.channel, error=event.reason) if event.reason is not None else None
    )
    # The user named: an event proves their message left, which resolves an `unknown: ...` to sent.
    verdict = store.record_event(
        event.send_id, event.channel, event.outcome, event.message_id, COUNTERS[event.outcome], failure, event.user_id
    )
    if verdict == EventVerdict.UNKNOWN:
        _ignored(summary, "unknown or expired send", event.kind)
        return
    if verdict == EventVerdict.DUPLICATE:
        summary.duplicates += 1
        return
    summary.recorded += 1
    metric = METRICS.get(event.outcome)
    if metric is not None:
        count(metric, 1, channel=event.channel)
    logger.info(
        "delivery event recorded",
        extra={"sendId": event.send_id, "userId": event.user_id, "channel": event.channel, "outcome": event.outcome},
    )


def handle(event: Any, store: EventStore, opt_outs: OptOuts) -> Summary:
    """An SNS invocation's events. Only the stores' outages raise."""
    summary = Summary()
    for message in messages(event):
        if isinstance(message, IgnoredEvent):
            _ignored(summary, message.reason)
            continue
        try:
            parsed = parse(message)
        except IgnoredEvent as ignored:
            _ignored(summary, ignored.reason, str(message.get("eventType", "")) if isinstance(message, Mapping) else "")
            continue
        except Exception as exc:  # noqa: BLE001 - a shape nobody foresaw is still only a malformed event
            _ignored(summary, f"malformed: {type(exc).__name__}")
            continue
        if parsed is not None:
            record(parsed, store, opt_outs, summary)
    return summary
