"""POST /send's two ways, as domain logic: synchronously (sent, answered, and its record opened and
closed around the dispatch), or, with `Prefer: respond-async`, accepted for DispatchFunction."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from messaging.errors import BadRequest, Forbidden
from messaging.invoker import Invoker
from messaging.models.function_settings import SendSettings
from messaging.models.request import SendRequest
from messaging.observability import record_send
from messaging.preferences import UserPreferences
from messaging.sender_identity import SenderIdentities
from messaging.sends.accept import Launcher, accept
from messaging.sends.accept_scheduled import accept_scheduled
from messaging.sends.persistence.store import SendStore
from messaging.sends.schedule import scheduled_at
from messaging.sends.scheduler import Scheduler
from messaging.sends.sync_record import SyncSendRecord
from messaging.service import SendCall, Sender, SendOutcome, Stager, new_send_id, no_file_service, send
from messaging.store import Store
from messaging.templates.renderer import Renderer


@dataclass
class SendParts:
    """What SendFunction's routes work with, built once at cold start (messaging.api.wiring).
    Not frozen: a test swaps one part for a broken or recording one."""

    settings: SendSettings
    store: Store
    renderer: Renderer
    invoker: Invoker
    stage: Stager
    preferences: UserPreferences | None
    sends: SendStore | None  # None: SENDS_TABLE unset, no asynchronous sends and no records
    launcher: Launcher
    scheduler: Scheduler | None = None  # None: SCHEDULE_GROUP unset, `sendAt` refused (503)
    stage_scheduled: Stager = no_file_service  # a scheduled send's attachments, kept until it runs
    identities: SenderIdentities | None = None  # None: e-mail inactive, senders not checked

    def sender(self) -> Sender:
        return Sender(self.settings, self.store, self.renderer, self.invoker, self.stage, self.preferences)


@dataclass(frozen=True)
class Caller:
    """Who sends, and within which invocation: what the request adds to the parts."""

    scope: str  # the authenticated caller: records are theirs only
    correlation_id: str | None = None
    remaining_s: Callable[[], float] | None = None
    # The request's idempotency key and its body, when it has one: its send's id is derived from them.
    keyed: tuple[str, str] | None = None

    @property
    def send_id(self) -> str:
        # As a JSON list: a key and body that run together alike ("k\n" + "{...}", "k" + "\n{...}") stay apart.
        return new_send_id(None if self.keyed is None else json.dumps([self.scope, *self.keyed]))


@dataclass(frozen=True)
class Accepted:
    """An asynchronous send, checked and handed to DispatchFunction."""

    send_id: str
    send_at: datetime | None = None  # scheduled for then


def check_transactional(request: SendRequest, settings: SendSettings, scope: str) -> None:
    """A request's `transactional: true` passes every opt-out: only the callers the operator lists
    may say it (a stored template's own flag is the operator's, and stays as it is)."""
    if not request.transactional:
        return
    _, _, principal = scope.partition(":")
    if not principal or principal not in settings.service.transactionalCallers:
        raise Forbidden("transactional: this caller may not send transactional messages (transactionalCallers)")


def check_sender(request: SendRequest, parts: SendParts) -> None:
    """An e-mail sender SES would refuse for every user is refused up front: `emailSender`, or the
    configured `sender.email` when the request names none. Unknown (SES unreachable) goes on."""
    if "email" not in request.channels or parts.identities is None:
        return
    sender = request.emailSender or parts.settings.service.sender_of("email")
    if sender is None or parts.identities.verified(sender) is not False:
        return
    # The address is not quoted: refusals are logged and announced.
    if request.emailSender:
        raise BadRequest("emailSender: not a verified SES identity, nor at a verified domain; nothing was sent")
    raise BadRequest(
        "emailSender: none given, and the configured sender (sender.email) is not a verified SES identity; "
        "nothing was sent"
    )


def submit(request: SendRequest, parts: SendParts, caller: Caller, *, respond_async: bool) -> SendOutcome | Accepted:
    # A send with `sendAt` is asynchronous whatever Prefer says.
    if respond_async or request.sendAt is not None:
        return accept_later(request, parts, caller)
    return send_now(request, parts, caller)


def accept_later(request: SendRequest, parts: SendParts, caller: Caller) -> Accepted:
    check_transactional(request, parts.settings, caller.scope)
    check_sender(request, parts)
    if parts.sends is None:
        raise BadRequest("Prefer: respond-async: asynchronous sends are not configured (SENDS_TABLE)")
    send_at = scheduled_at(request.sendAt, datetime.now(UTC), parts.settings.schedule_max_days)
    if send_at is not None:
        send_id = accept_scheduled(
            request,
            send_at,
            parts.settings,
            parts.store,
            parts.renderer,
            parts.sends,
            parts.scheduler,
            parts.stage_scheduled,
            caller.correlation_id,
            caller.scope,
            caller.send_id,
        )
        return Accepted(send_id, send_at)
    send_id = accept(
        request,
        parts.settings,
        parts.store,
        parts.renderer,
        parts.sends,
        parts.launcher,
        parts.stage,
        caller.correlation_id,
        caller.scope,
        caller.send_id,
    )
    return Accepted(send_id)


def send_now(request: SendRequest, parts: SendParts, caller: Caller) -> SendOutcome:
    """The send and its record: opened before the first batch leaves, then completed, or `failed`
    if anything breaks after it opened (the batches may have left)."""
    check_transactional(request, parts.settings, caller.scope)
    check_sender(request, parts)
    record = SyncSendRecord(parts.sends, caller.scope, caller.send_id, request.reference, caller.correlation_id)
    if caller.keyed is not None:
        record.refuse_a_rerun()
    call = SendCall(
        correlation_id=caller.correlation_id,
        remaining_s=caller.remaining_s,
        send_id=record.send_id,
        before_dispatch=lambda _: record.open(request.channels),
    )
    try:
        outcome = send(request, parts.sender(), call)
        record_send(outcome)
    except Exception as exc:
        record.fail(exc)
        raise
    record.complete(outcome)
    return outcome
