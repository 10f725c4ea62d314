"""Sends from the intake queue: each message's body is a /send body, taken as an asynchronous send
along the very path POST /send with `Prefer: respond-async` takes (messaging.submission), so a
queued request is refused exactly when the HTTP API would refuse it.

A message the API would refuse with a 4xx is answered `refused` (its status code and message; the
consumer deletes it and announces `Send Refused`, never its body). One that meets an outage (a 5xx,
an unreachable AWS dependency, anything unexpected) raises: SQS delivers it again, and after its
last receive it lands in the dead-letter queue. A message delivered again never sends twice: the
`IdempotencyKey` attribute (default: the message id) is kept with its outcome, as the HTTP API
keeps an `Idempotency-Key`, scoped to the principal that sent the message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from messaging.body import check_json
from messaging.errors import BadRequest, MessagingError
from messaging.idempotency import caller_scope
from messaging.models.common import CHANNELS
from messaging.models.request import SendRequest
from messaging.sends.announcer import Announcer
from messaging.sends.lifecycle import REFUSED, refused_detail
from messaging.sends.persistence.dynamodb import utc_iso
from messaging.submission import Caller, SendParts, accept_later
from messaging.validation import describe_errors

MAX_KEY_LENGTH = 256
QUEUE_SCOPE = "sender"  # a queued send's scope: `sender:<SQS SenderId>`
# What a refusal may name although a body holds it too: the request's fields and the channels.
_NAMED = frozenset({*SendRequest.model_fields, *CHANNELS})


def queue_scope(sender_id: str) -> str:
    """Who sent a message, as SQS names them (an IAM user's or role session's unique id)."""
    return f"{QUEUE_SCOPE}:{sender_id or 'unknown'}"


def caller_scopes(event: Mapping[str, Any]) -> set[str]:
    """The scopes whose sends an HTTP caller may read and cancel: its own (messaging.idempotency),
    and the queued sends of the same principal (API Gateway's `identity.user` is the unique id SQS
    gives as `SenderId`: `AIDA...` for an IAM user, `AROA...:<session>` for a role's session)."""
    identity = (event.get("requestContext") or {}).get("identity") or {}
    user = identity.get("user")
    return {caller_scope(event), *([queue_scope(user)] if isinstance(user, str) and user else [])}


@dataclass(frozen=True)
class QueuedRequest:
    message_id: str
    body: str
    sender_id: str
    idempotency_key: str | None = None
    correlation_id: str | None = None
    sent_at: datetime | None = None  # SQS's SentTimestamp: the same on every delivery

    @property
    def key(self) -> str:
        # Never cut: two keys sharing their first 256 characters would answer each other's outcome.
        return self.idempotency_key or self.message_id

    @property
    def scope(self) -> str:
        return queue_scope(self.sender_id)


@dataclass(frozen=True)
class Taken:
    """A message's outcome: accepted (or scheduled) as `send_id`, or refused with a 4xx."""

    status_code: int
    send_id: str | None = None
    message: str = ""

    @property
    def refused(self) -> bool:
        return self.send_id is None


class Once(Protocol):
    """Runs `take` at most once per (scope, key), answering the first outcome again (409 when the
    key comes again with another body)."""

    def __call__(self, scope: str, key: str, body: str, take: Any) -> Taken: ...


def just_once(scope: str, key: str, body: str, take: Any) -> Taken:
    """No idempotency store: every delivery is taken (tests, or a stack without one)."""
    result: Taken = take()
    return result


class Intake:
    def __init__(self, parts: SendParts, once: Once = just_once, announcer: Announcer | None = None) -> None:
        self._parts = parts
        self._once = once
        self._announcer = announcer or Announcer(None)

    def take(self, queued: QueuedRequest) -> Taken:
        """The message's outcome (a refusal announced); raises on an outage, so it is delivered again."""
        taken = self._once(queued.scope, queued.key, queued.body, lambda: self._accept(queued))
        if taken.refused:
            self._announcer.put([(REFUSED, self._refused_detail(queued, taken))])
        return taken

    def _accept(self, queued: QueuedRequest) -> Taken:
        try:
            if len(queued.key) > MAX_KEY_LENGTH:
                raise BadRequest(f"IdempotencyKey: at most {MAX_KEY_LENGTH} characters")
            request = parse_request(queued.body)
            keyed = (queued.key, queued.body)  # a redelivery after a crash finds the send it made
            caller = Caller(scope=queued.scope, correlation_id=queued.correlation_id, keyed=keyed)
            accepted = accept_later(request, self._parts, caller)
        except MessagingError as exc:
            if exc.status >= 500:
                raise  # an outage: retried by SQS
            return Taken(exc.status.value, message=exc.message)
        return Taken(202, send_id=accepted.send_id)

    def _refused_detail(self, queued: QueuedRequest, taken: Taken) -> dict[str, Any]:
        # The code too: a key refused (400) and used again with another body (409) is two refusals.
        subject = f"{queued.scope}\n{queued.key}\n{taken.status_code}"
        reference = body_reference(queued.body)
        # When the message was sent, not when this delivery came: a refusal announced again is the same event.
        at = utc_iso(queued.sent_at or datetime.now(UTC))
        message = without_body(taken.message, queued.body)
        return refused_detail(subject, taken.status_code, message, reference, queued.correlation_id, at)


def parse_request(body: str) -> SendRequest:
    """The /send body, checked as the API checks it (BadRequest names what is wrong)."""
    check_json(body)
    try:
        return SendRequest.model_validate_json(body)
    except ValidationError as exc:
        raise BadRequest(describe_errors(exc.errors(), drop_prefix="body")) from exc


def body_reference(body: str) -> str | None:
    """A refused body's `reference`, if it holds a valid one (nothing else of the body is echoed)."""
    try:
        value = json.loads(body).get("reference")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and 0 < len(value) <= 256 and value.isprintable() else None


def without_body(message: str, body: str) -> str:
    """`message` with every key and text of `body` it quotes replaced by `…`: the API's message names
    an unknown field or a file as the caller wrote it, and the event goes to every consumer of the bus."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return message
    quoted = {text for text in _texts(document) if len(text) > 2 and text not in _NAMED and text in message}
    for text in sorted(quoted, key=len, reverse=True):
        message = message.replace(text, "…")
    return message


def _texts(document: Any) -> list[str]:
    """Every key and string value of a JSON document (iterative: a body may nest deep)."""
    texts: list[str] = []
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            texts.extend(str(key) for key in value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            texts.append(value)
    return texts
