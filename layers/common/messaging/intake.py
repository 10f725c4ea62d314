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
from messaging.models.request import SendRequest
from messaging.sends.announcer import Announcer
from messaging.sends.lifecycle import REFUSED, refused_detail
from messaging.sends.persistence.dynamodb import utc_iso
from messaging.submission import Caller, SendParts, accept_later
from messaging.validation import describe_errors

MAX_KEY_LENGTH = 256
QUEUE_SCOPE = "sender"  # a queued send's scope: `sender:<SQS SenderId>`


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

    @property
    def key(self) -> str:
        return (self.idempotency_key or self.message_id)[:MAX_KEY_LENGTH]

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
    """Runs `take` at most once per (scope, key), answering the first outcome again."""

    def __call__(self, scope: str, key: str, take: Any) -> Taken: ...


def just_once(scope: str, key: str, take: Any) -> Taken:
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
        taken = self._once(queued.scope, queued.key, lambda: self._accept(queued))
        if taken.refused:
            self._announcer.put([(REFUSED, self._refused_detail(queued, taken))])
        return taken

    def _accept(self, queued: QueuedRequest) -> Taken:
        try:
            request = parse_request(queued.body)
            caller = Caller(scope=queued.scope, correlation_id=queued.correlation_id)
            accepted = accept_later(request, self._parts, caller)
        except MessagingError as exc:
            if exc.status >= 500:
                raise  # an outage: retried by SQS
            return Taken(exc.status.value, message=exc.message)
        return Taken(202, send_id=accepted.send_id)

    def _refused_detail(self, queued: QueuedRequest, taken: Taken) -> dict[str, Any]:
        subject = f"{queued.scope}\n{queued.key}"
        reference = body_reference(queued.body)
        at = utc_iso(datetime.now(UTC))
        return refused_detail(subject, taken.status_code, taken.message, reference, queued.correlation_id, at)


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
