"""POST /send as plain domain logic: validate against the configuration, resolve, render, fan out.

Everything that can refuse the request (inactive channel, unknown or incomplete template, template
syntax, database outage, the render budget, rendering past the deadline) runs before the first
invoke, so a 4xx/5xx means nothing was sent.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from messaging.audience import Audience
from messaging.batching import Batch, BatchBuilder
from messaging.dispatch import dispatch
from messaging.errors import BadRequest, ServiceUnavailable
from messaging.invoker import Invoker
from messaging.models.common import Channel
from messaging.models.function_settings import SendSettings
from messaging.models.request import SendRequest
from messaging.models.response import Failure, FailureCode, SendResponse, SkipReason
from messaging.observability import logger
from messaging.preferences import UserPreferences
from messaging.preparation import Prepared, Stager, is_transactional, no_file_service, prepare
from messaging.store import Store
from messaging.templates.errors import RenderDeadlineError
from messaging.templates.renderer import Renderer

# Imported from here by the asynchronous sends, and by tests.
__all__ = [
    "USER_NOT_FOUND",
    "Prepared",
    "SendCall",
    "SendOutcome",
    "Sender",
    "Stager",
    "is_transactional",
    "new_send_id",
    "no_file_service",
    "prepare",
    "provider_opt_outs",
    "remember_opt_outs",
    "send",
    "sync_counts",
    "too_large_for_sync",
]

USER_NOT_FOUND = "user not found"
DEADLINE_CHECK_EVERY = 256  # users counted between two looks at the clock (a preview's count)


@dataclass(frozen=True)
class SendOutcome:
    """The answer, and the counts an operator watches (plain data: the handler publishes them)."""

    response: SendResponse
    send_id: str  # on every batch envelope: the providers' delivery events name it
    audience: int
    missing: int
    channels: list[Channel]
    messages: Counter[Channel]  # handed to the channel functions (and not refused as opted out)
    batches: Counter[Channel]
    # Why: (channel, SkipReason) -> users (noAddress, optedOut, staleToken).
    skipped_by: Counter[tuple[Channel, str]] = field(default_factory=Counter)

    @property
    def skipped(self) -> Counter[Channel]:
        """Per requested channel, the users who got nothing on it without failing."""
        return Counter(
            {channel: sum(n for (c, _), n in self.skipped_by.items() if c == channel) for channel in self.channels}
        )


def provider_opt_outs(failures: Sequence[Failure], transactional: bool) -> tuple[list[Failure], list[Failure]]:
    """(failures, opt-outs): a provider that refused a user as opted out (End User Messaging's
    opted-out number) skips them, unless the message is transactional, where it stays a failure."""
    if transactional:
        return list(failures), []
    kept = [failure for failure in failures if failure.code != FailureCode.OPTED_OUT]
    return kept, [failure for failure in failures if failure.code == FailureCode.OPTED_OUT]


def remember_opt_outs(preferences: UserPreferences | None, opted_out: Sequence[Failure]) -> None:
    """The provider's opt-outs kept in the users' documents, so later sends skip them before sending.
    An outage only loses the note: the provider keeps refusing, and the users stay skipped."""
    if preferences is None or not opted_out:
        return
    try:
        for failure in opted_out:
            preferences.opt_out(failure.userId, failure.channel)
    except ServiceUnavailable as exc:
        logger.warning("opt-outs not recorded", extra={"users": len(opted_out), "reason": exc.message[:200]})


def new_send_id(keyed: str | None = None) -> str:
    """A new send's id; given a request's idempotency key (with its caller and body), always the
    same one, so a retry after a crash mid-request finds the send it made instead of making another."""
    if keyed is None:
        return uuid.uuid4().hex
    return hashlib.sha256(keyed.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def sync_counts(outcome: SendOutcome) -> dict[Channel, dict[str, int]]:
    """Per channel, what a synchronous send's status shows: sent, failed and skipped (failed counts
    every listed user, those not found included), adding up to audience + notFound."""
    counts: dict[Channel, dict[str, int]] = {}
    for channel in outcome.skipped:
        failed = sum(failure.channel == channel for failure in outcome.response.failures)
        skipped = outcome.skipped[channel]
        sent = outcome.audience + outcome.missing - failed - skipped
        counts[channel] = {"sent": max(0, sent), "failed": failed, "skipped": skipped}
        for (skipped_on, reason), users in outcome.skipped_by.items():
            if skipped_on == channel:
                counts[channel][reason] = users  # noAddress, optedOut, staleToken: the parts of skipped
    return counts


def too_large_for_sync(limit: int, bound: str = "SYNC_MAX_AUDIENCE") -> BadRequest:
    return BadRequest(
        f"the audience exceeds {bound} ({limit} users) for a synchronous send: "
        "send it with the header `Prefer: respond-async` (202, then GET /sends/{sendId}); nothing was sent"
    )


# The part of API Gateway's 29 s a synchronous send's provider calls may take.
SYNC_SEND_WINDOW_S = 20.0


def sync_limit(settings: SendSettings, channels: Iterable[Channel]) -> tuple[int, str]:
    """The most users a synchronous send reaches, and what bounds it: SYNC_MAX_AUDIENCE, or what a
    paced channel's provider accepts in the window (<CHANNEL>_MAX_RATE; 14 e-mails/s: 280 users)."""
    limit, bound = settings.sync_max_audience, "SYNC_MAX_AUDIENCE"
    for channel in channels:
        rate = settings.max_rates.get(channel, 0.0)
        # An infinite rate (1e400 parses so) paces nothing; int() of it would raise OverflowError.
        paced = max(1, int(rate * SYNC_SEND_WINDOW_S)) if 0 < rate < math.inf else limit
        if paced < limit:
            limit, bound = paced, f"what {channel.upper()}_MAX_RATE ({rate:g}/s) sends in {SYNC_SEND_WINDOW_S:g} s"
    return limit, bound


@dataclass(frozen=True)
class Sender:
    """What a synchronous send works with, built once: at SendFunction's cold start, by a test, by
    the bench."""

    settings: SendSettings
    store: Store
    renderer: Renderer
    invoker: Invoker
    stage: Stager = no_file_service
    preferences: UserPreferences | None = None  # keeps the opt-outs a provider reports


@dataclass(frozen=True)
class SendCall:
    """The request's own side of a send."""

    correlation_id: str | None = None
    remaining_s: Callable[[], float] | None = None  # the invocation's time left: without it, no deadline
    send_id: str | None = None  # a new one when None
    # `before_dispatch(send_id)` runs once nothing can refuse the request any more, just before the
    # first batch leaves.
    before_dispatch: Callable[[str], None] | None = None


def _check_render_limits(
    rendered: int, settings: SendSettings, limit: tuple[int, str], remaining_s: Callable[[], float] | None
) -> None:
    if rendered > limit[0]:
        # Before anything is sent: an answer for more users could pass Lambda's 6 MB response
        # limit, or the providers' rates the deadline (most would fail throttled).
        raise too_large_for_sync(*limit)
    if remaining_s is not None and rendered % DEADLINE_CHECK_EVERY == 0 and remaining_s() < settings.deadline_margin_s:
        raise _past_deadline(rendered - 1)


def _past_deadline(rendered: int) -> ServiceUnavailable:
    # No batch could be launched any more, and none has been: refuse rather than report them all.
    return ServiceUnavailable(
        f"rendering did not finish before the deadline ({rendered} users rendered); nothing was sent"
    )


def _render(
    request: SendRequest, sender: Sender, prepared: Prepared, call: SendCall
) -> tuple[list[Batch], Audience, Counter[Channel]]:
    """Every user's messages, packed into batches: (the batches, the audience walked, messages per channel)."""
    settings = sender.settings
    builder = BatchBuilder(
        prepared.envelopes,
        {channel: settings.function_name(channel) for channel in request.channels},
        max_messages=settings.batch_max_messages,
        max_bytes=settings.batch_max_bytes,
        max_total_bytes=settings.render_budget_bytes,
    )
    # Users stream from the cursor into serialised batches; each user's document is dropped once
    # rendered, so memory grows with the payloads only.
    audience = Audience(sender.store, settings.service, request.recipients, request.clusters)
    messages: Counter[Channel] = Counter()
    limit = sync_limit(settings, request.channels)
    # A render cannot be interrupted from Python: past the launch margin, the next catalogue helper
    # call ends it (only helpers make a render slow: without them it writes 1 MiB at most), and a
    # render that started in time is not continued with the next user.
    budget_s = None if call.remaining_s is None else call.remaining_s() - settings.deadline_margin_s
    overrun = math.inf if budget_s is None or budget_s <= 0 else time.monotonic() + budget_s
    rendered = 0
    try:
        with sender.renderer.deadline(budget_s):
            for rendered, recipient in enumerate(audience, 1):
                _check_render_limits(rendered, settings, limit, call.remaining_s)
                if time.monotonic() > overrun:
                    raise _past_deadline(rendered - 1)
                for channel, message in prepared.composer.messages(recipient):
                    builder.add(channel, recipient.user_id, message)
                    messages[channel] += 1
    except RenderDeadlineError as exc:
        raise _past_deadline(rendered - 1) from exc
    return builder.batches(), audience, messages


def send(request: SendRequest, sender: Sender, call: SendCall | None = None) -> SendOutcome:
    """Checks, resolves, renders every user before the first invoke, then fans the batches out."""
    call = call or SendCall()
    send_id = call.send_id or new_send_id()
    settings = sender.settings
    prepared = prepare(request, settings, sender.store, sender.renderer, sender.stage, call.correlation_id, send_id)
    batches, audience, messages = _render(request, sender, prepared, call)
    failures = [
        Failure(userId=user_id, channel=channel, error=USER_NOT_FOUND, code=FailureCode.USER_NOT_FOUND)
        for user_id in audience.missing_ids
        for channel in request.channels
    ] + prepared.composer.failures
    logger.info(
        "dispatching",
        extra={
            "audience": audience.size,
            "missing": len(audience.missing_ids),
            "batches": len(batches),
            "channels": request.channels,
        },
    )
    if call.before_dispatch is not None:
        call.before_dispatch(send_id)
    answered, opted_out = provider_opt_outs(
        dispatch(
            batches,
            sender.invoker,
            settings.max_parallel_invokes,
            call.remaining_s,
            margin_s=settings.deadline_margin_s,
            reserve_s=settings.answer_reserve_s,
        ),
        prepared.transactional,
    )
    remember_opt_outs(sender.preferences, opted_out)
    skipped_by = Counter(prepared.composer.skipped)
    for failure in opted_out:
        skipped_by[(failure.channel, SkipReason.OPTED_OUT)] += 1
        messages[failure.channel] -= 1
    return SendOutcome(
        response=SendResponse(failures=failures + answered),
        send_id=send_id,
        audience=audience.size,
        missing=len(audience.missing_ids),
        messages=messages,
        channels=list(request.channels),
        batches=Counter(batch.channel for batch in batches),
        skipped_by=skipped_by,
    )
