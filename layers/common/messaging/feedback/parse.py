"""The providers' delivery events read: an SNS invocation's messages, each parsed into one
DeliveryEvent (SES event publishing, or End User Messaging SMS and voice), or an IgnoredEvent."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.utils import getaddresses
from typing import Any

from messaging.channels.email_tags import SEND_ID_TAG, USER_ID_TAG, decode_tag
from messaging.channels.eum_context import decode_context_value
from messaging.models.common import Channel

# End User Messaging: final outcomes by event type; the others (TEXT_QUEUED, VOICE_RINGING...) are progress.
EUM_DELIVERED = frozenset({"TEXT_DELIVERED", "TEXT_SUCCESSFUL", "VOICE_COMPLETED"})
EUM_UNDELIVERED = frozenset(
    {
        "TEXT_INVALID",
        "TEXT_INVALID_MESSAGE",
        "TEXT_UNREACHABLE",
        "TEXT_CARRIER_UNREACHABLE",
        "TEXT_BLOCKED",
        "TEXT_CARRIER_BLOCKED",
        "TEXT_SPAM",
        "TEXT_UNKNOWN",
        "TEXT_TTL_EXPIRED",
        "TEXT_PROTECT_BLOCKED",
        "VOICE_BUSY",
        "VOICE_NO_ANSWER",
        "VOICE_FAILED",
        "VOICE_TTL_EXPIRED",
    }
)
SES_PROGRESS = frozenset({"Send", "DeliveryDelay", "Open", "Click"})

_ID = re.compile(
    r"^[A-Za-z0-9_.:+=@/-]{1,200}$"
)  # Provider classifications (bounce types, feedback types, reject reasons): words, nothing quoted.
_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
# The contact list's topic of every e-mail (template.yaml): its unsubscribe is the global opt-out;
# every other topic is a category (a name a category may have: it becomes a preferences key).
MESSAGES_TOPIC = "messages"
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class IgnoredEvent(Exception):  # noqa: N818 - a verdict on the event, not an error of ours
    """Not recorded: malformed, not ours, or of a send no longer on record."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DeliveryEvent:
    channel: Channel
    message_id: str
    kind: str  # the provider's event type
    outcome: str | None  # a key of COUNTERS, or None: nothing to count (an unsubscribe)
    send_id: str | None
    user_id: str | None
    reason: str | None = None  # the failure's text, for outcomes that join the failures
    opt_out: bool = False  # the user asked for no more of this channel
    # The categories the user asked for no more of on this channel (an SES topic unsubscribe).
    categories: tuple[str, ...] = ()


def _word(value: Any, default: str) -> str:
    return value if isinstance(value, str) and _WORD.fullmatch(value) else default


def _first(values: Any) -> str | None:
    """A tag's value: SES gives each tag as a list of strings."""
    if isinstance(values, list) and values and isinstance(values[0], str):
        return values[0]
    return values if isinstance(values, str) else None


def _addresses(values: Any) -> set[str]:
    if not isinstance(values, list):
        return set()
    texts = [value for value in values if isinstance(value, str)]
    return {address.lower() for _, address in getaddresses(texts) if address}


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise IgnoredEvent(f"malformed: {name} is not an object")
    return value


def _check_recipients(mail: Mapping[str, Any], recipients: set[str]) -> None:
    """The event is about the user only if it names the message's To address: the CC and BCC copies
    (the same for every user) must not count against the user."""
    headers = mail.get("commonHeaders")
    to = _addresses(headers.get("to")) if isinstance(headers, Mapping) else set()
    if to and recipients and not (to & recipients):
        raise IgnoredEvent("a CC or BCC recipient")


def _unsubscribed(message: Mapping[str, Any], mail: Mapping[str, Any]) -> tuple[bool, tuple[str, ...]]:
    """A `Subscription` event's opt-out: of every e-mail (all topics, or the `messages` one), or of
    the categories whose topics it names (their preferences, not the global opt-out)."""
    subscription = _mapping(message.get("subscription"), "subscription")
    preferences = subscription.get("newTopicPreferences")
    preferences = preferences if isinstance(preferences, Mapping) else {}
    topics = preferences.get("topicSubscriptionStatus") or []
    left = [
        topic.get("topicName")
        for topic in (topics if isinstance(topics, list) else [])
        if isinstance(topic, Mapping) and topic.get("subscriptionStatus") == "OptOut"
    ]
    categories = tuple(
        dict.fromkeys(
            name for name in left if isinstance(name, str) and _TOPIC.fullmatch(name) and name != MESSAGES_TOPIC
        )
    )
    opt_out = preferences.get("unsubscribeAll") is True or MESSAGES_TOPIC in left
    if not opt_out and not categories:
        return False, ()
    # The event does not say which recipient unsubscribed: with CC or BCC copies (the same for
    # every user) it may be a copy's reader, who must not opt the user out. SES itself keeps the
    # unsubscribe of whoever it was, by address, on its contact list.
    headers = mail.get("commonHeaders")
    to = _addresses(headers.get("to")) if isinstance(headers, Mapping) else set()
    if not to or _addresses(mail.get("destination")) - to:
        raise IgnoredEvent("an unsubscribe from a message with copies: not the user's for sure")
    return opt_out, () if opt_out else categories


def parse_ses(message: Mapping[str, Any]) -> DeliveryEvent | None:
    """An SES event record (event publishing); None for events that change nothing here."""
    kind = message.get("eventType") or message.get("notificationType")
    mail = _mapping(message.get("mail"), "mail")
    message_id = mail.get("messageId")
    if not isinstance(kind, str) or not isinstance(message_id, str) or not _ID.match(message_id):
        raise IgnoredEvent("malformed: no eventType or mail.messageId")
    if kind in SES_PROGRESS:
        return None
    tags = _mapping(mail.get("tags") or {}, "mail.tags")
    send_id = _first(tags.get(SEND_ID_TAG))
    user_tag = _first(tags.get(USER_ID_TAG))
    user_id = decode_tag(user_tag) if user_tag else None
    outcome: str | None
    reason: str | None = None
    opt_out = False
    categories: tuple[str, ...] = ()
    recipients: set[str] = set()
    if kind == "Bounce":
        bounce = _mapping(message.get("bounce"), "bounce")
        outcome = "bounced"
        bounce_type = _word(bounce.get("bounceType"), "Undetermined")
        reason = f"bounced: {bounce_type}/{_word(bounce.get('bounceSubType'), 'Undetermined')}"
        recipients = _addresses(
            [r.get("emailAddress") for r in bounce.get("bouncedRecipients") or [] if isinstance(r, Mapping)]
        )
    elif kind == "Complaint":
        complaint = _mapping(message.get("complaint"), "complaint")
        outcome = "complained"
        feedback = complaint.get("complaintFeedbackType")
        reason = f"complained: {_word(feedback, 'other')}" if feedback else "complained"
        opt_out = True
        recipients = _addresses(
            [r.get("emailAddress") for r in complaint.get("complainedRecipients") or [] if isinstance(r, Mapping)]
        )
    elif kind == "Delivery":
        outcome = "delivered"
        recipients = _addresses(_mapping(message.get("delivery"), "delivery").get("recipients"))
    elif kind == "Reject":
        outcome = "rejected"
        reason = f"rejected: {_word(_mapping(message.get('reject'), 'reject').get('reason'), 'Unknown')}"
    elif kind == "Rendering Failure":
        outcome = "rejected"
        reason = "rendering failed"  # its errorMessage can quote the template's data: never copied
    elif kind == "Subscription":
        opt_out, categories = _unsubscribed(message, mail)
        if not opt_out and not categories:
            return None
        outcome = None
    else:
        raise IgnoredEvent(f"unknown SES event type {kind[:40]!r}")
    _check_recipients(mail, recipients)
    return DeliveryEvent("email", message_id, kind, outcome, send_id, user_id, reason, opt_out, categories)


def parse_eum(message: Mapping[str, Any]) -> DeliveryEvent | None:
    """An End User Messaging SMS or voice event; None for progress (not final) events."""
    kind = message.get("eventType")
    message_id = message.get("messageId")
    if not isinstance(kind, str) or not isinstance(message_id, str) or not _ID.match(message_id):
        raise IgnoredEvent("malformed: no eventType or messageId")
    channel: Channel
    if kind.startswith("TEXT_"):
        channel = "sms"
    elif kind.startswith("VOICE_"):
        channel = "voice"
    else:
        raise IgnoredEvent(f"not an SMS or voice event: {kind[:40]!r}")
    if kind in EUM_DELIVERED:
        outcome, reason = "delivered", None
    elif kind in EUM_UNDELIVERED:
        outcome, reason = "undelivered", f"undelivered: {kind}"
    else:
        return None
    if message.get("isFinal") is False:
        return None  # the carrier may still deliver it: its final event counts
    context = _mapping(message.get("context") or {}, "context")
    send_id, user_id = context.get("sendId"), context.get("userId")
    return DeliveryEvent(
        channel,
        message_id,
        kind,
        outcome,
        send_id if isinstance(send_id, str) else None,
        decode_context_value(user_id) if isinstance(user_id, str) else None,
        reason,
    )


def parse(message: Any) -> DeliveryEvent | None:
    message = _mapping(message, "the message")
    if "mail" in message:
        return parse_ses(message)
    if "eventVersion" in message or str(message.get("eventType", "")).startswith(("TEXT_", "VOICE_")):
        return parse_eum(message)
    raise IgnoredEvent("not an SES or End User Messaging event")


def messages(event: Any) -> Iterator[Any]:
    """The provider messages an SNS invocation carries (each record's Message, JSON); an
    unreadable record is an IgnoredEvent in its place."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        yield IgnoredEvent("malformed: not an SNS event")
        return
    for record in records:
        sns = record.get("Sns") if isinstance(record, Mapping) else None
        text = sns.get("Message") if isinstance(sns, Mapping) else None
        if not isinstance(text, str):
            yield IgnoredEvent("malformed: no Sns.Message")
            continue
        try:
            yield json.loads(text)
        except ValueError:
            yield IgnoredEvent("malformed: Sns.Message is not JSON")
