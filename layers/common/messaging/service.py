"""POST /send as plain domain logic: validate against the configuration, resolve, render, fan out.

Everything that can refuse the request (inactive channel, unknown or incomplete template, template
syntax, database outage, the render budget, rendering past the deadline) runs before the first
invoke, so a 4xx/5xx means nothing was sent.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pydantic import ValidationError

from messaging.attachments import stage_attachments
from messaging.audience import Audience
from messaging.channels import registry
from messaging.channels.voice import as_ssml
from messaging.compose import Composer, MessageTexts, texts_from_request, texts_from_template
from messaging.dispatch import BatchBuilder, Invoker, dispatch
from messaging.errors import BadRequest, NotFound, ServiceUnavailable
from messaging.models.batch import EmailAttachment
from messaging.models.common import Channel
from messaging.models.config import SendSettings
from messaging.models.request import SendRequest, SendRequestPreview
from messaging.models.response import (
    Failure,
    FailureCode,
    PreviewMessage,
    PreviewResponse,
    PreviewSkip,
    SendResponse,
    SkipReason,
)
from messaging.models.template import MessageTemplate
from messaging.observability import logger
from messaging.preferences import UserPreferences
from messaging.store import Store
from messaging.templating import Renderer
from messaging.validation import describe_errors

USER_NOT_FOUND = "user not found"
DEADLINE_CHECK_EVERY = 256  # users rendered between two looks at the clock


def _check_channels(request: SendRequest, settings: SendSettings) -> None:
    inactive = [channel for channel in request.channels if channel not in settings.service.activeChannels]
    if inactive:
        raise BadRequest(
            f"channels: {', '.join(inactive)} not in activeChannels ({', '.join(settings.service.activeChannels)})"
        )


def _load_template(store: Store, template_id: str) -> MessageTemplate:
    document = store.template(template_id)
    if document is None:
        raise NotFound(f"templateId: template {template_id} not found")
    try:
        return MessageTemplate.model_validate(document)
    except ValidationError as exc:
        raise BadRequest(f"template {template_id} is malformed: {describe_errors(exc.errors())}") from exc


def _texts(request: SendRequest, store: Store, settings: SendSettings) -> tuple[MessageTexts, MessageTemplate | None]:
    strict = settings.service.strictTemplates
    template: MessageTemplate | None = None
    if request.templateId is None:
        texts = texts_from_request(request, strict=strict)
    else:
        template = _load_template(store, request.templateId)
        texts = texts_from_template(template, str(ObjectId(request.templateId)), request.channels, strict=strict)
    if settings.voice_body_type == "SSML" and "voice" in texts.channels:
        texts = MessageTexts({**texts.channels, "voice": as_ssml(texts.channels["voice"])}, texts.strict)
    return texts, template


def _envelopes(request: SendRequest, settings: SendSettings) -> dict[Channel, dict[str, Any]]:
    """Each requested channel's envelope, as its spec makes it from the request and the configuration."""
    return {channel: registry.spec(channel).envelope(request, settings.service) for channel in request.channels}


# File names -> the staged attachments; refuses missing files, oversize totals, no File Service.
Stager = Callable[[Sequence[str]], list[EmailAttachment]]


def no_file_service(names: Sequence[str]) -> list[EmailAttachment]:
    return stage_attachments(names, None, None, "")


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


@dataclass(frozen=True)
class Prepared:
    """What every send needs once checked: the texts, their compiled form, the batch envelopes."""

    texts: MessageTexts
    composer: Composer
    envelopes: dict[Channel, dict[str, Any]]
    transactional: bool = False


def prepare(
    request: SendRequest,
    settings: SendSettings,
    store: Store,
    renderer: Renderer,
    stage: Stager = no_file_service,
    correlation_id: str | None = None,
    send_id: str | None = None,
) -> Prepared:
    """Channels, template, template syntax and attachments: each can refuse the request (4xx/5xx)."""
    _check_channels(request, settings)
    texts, template = _texts(request, store, settings)
    transactional = is_transactional(request, template)
    composer = Composer(texts, request.channels, request.data, renderer, transactional=transactional)
    envelopes = _envelopes(request, settings)
    for envelope in envelopes.values():
        envelope["correlationId"] = correlation_id
        envelope["transactional"] = transactional
        envelope["sendId"] = send_id
    for channel, envelope in envelopes.items():
        names = registry.spec(channel).attachments(request, template)
        if names or "attachments" in registry.spec(channel).batch_model.model_fields:
            # Fetched once per request, before anything is sent: a missing file refuses the request.
            envelope["attachments"] = [attachment.model_dump() for attachment in stage(names)]
    return Prepared(texts, composer, envelopes, transactional)


def is_transactional(request: SendRequest, template: MessageTemplate | None) -> bool:
    """The request or the stored template says so: either is enough."""
    return request.transactional or bool(template is not None and template.transactional)


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


def new_send_id() -> str:
    return uuid.uuid4().hex


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
            if skipped_on == channel and reason != SkipReason.NO_ADDRESS:
                counts[channel][reason] = users  # optedOut, staleToken: the status's parts of skipped
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
        paced = max(1, int(rate * SYNC_SEND_WINDOW_S)) if rate > 0 else limit
        if paced < limit:
            limit, bound = paced, f"what {channel.upper()}_MAX_RATE ({rate:g}/s) sends in {SYNC_SEND_WINDOW_S:g} s"
    return limit, bound


def send(
    request: SendRequest,
    settings: SendSettings,
    store: Store,
    renderer: Renderer,
    invoker: Invoker,
    stage: Stager = no_file_service,
    correlation_id: str | None = None,
    remaining_s: Callable[[], float] | None = None,
    preferences: UserPreferences | None = None,
    send_id: str | None = None,
    before_dispatch: Callable[[str], None] | None = None,
) -> SendOutcome:
    """`before_dispatch(send_id)` runs once nothing can refuse the request any more, just before
    the first batch leaves."""
    send_id = send_id or new_send_id()
    prepared = prepare(request, settings, store, renderer, stage, correlation_id, send_id)
    composer = prepared.composer
    builder = BatchBuilder(
        prepared.envelopes,
        {channel: settings.function_name(channel) for channel in request.channels},
        max_messages=settings.batch_max_messages,
        max_bytes=settings.batch_max_bytes,
        max_total_bytes=settings.render_budget_bytes,
    )
    # Users stream from the cursor into serialised batches; each user's document is dropped once
    # rendered, so memory grows with the payloads only.
    audience = Audience(store, settings.service, request.recipients, request.clusters)
    messages: Counter[Channel] = Counter()
    limit, bound = sync_limit(settings, request.channels)
    for rendered, recipient in enumerate(audience, 1):
        if rendered > limit:
            # Before anything is sent: an answer for more users could pass Lambda's 6 MB response
            # limit, or the providers' rates the deadline (most would fail throttled).
            raise too_large_for_sync(limit, bound)
        if (
            remaining_s is not None
            and rendered % DEADLINE_CHECK_EVERY == 0
            and remaining_s() < settings.deadline_margin_s
        ):
            # No batch could be launched any more, and none has been: refuse rather than report them all.
            raise ServiceUnavailable(
                f"rendering did not finish before the deadline ({rendered - 1} users rendered); nothing was sent"
            )
        for channel, message in composer.messages(recipient):
            builder.add(channel, recipient.user_id, message)
            messages[channel] += 1
    batches = builder.batches()
    failures = [
        Failure(userId=user_id, channel=channel, error=USER_NOT_FOUND, code=FailureCode.USER_NOT_FOUND)
        for user_id in audience.missing_ids
        for channel in request.channels
    ] + composer.failures
    logger.info(
        "dispatching",
        extra={
            "audience": audience.size,
            "missing": len(audience.missing_ids),
            "batches": len(batches),
            "channels": request.channels,
        },
    )
    if before_dispatch is not None:
        before_dispatch(send_id)
    answered, opted_out = provider_opt_outs(
        dispatch(
            batches,
            invoker,
            settings.max_parallel_invokes,
            remaining_s,
            margin_s=settings.deadline_margin_s,
            reserve_s=settings.answer_reserve_s,
        ),
        prepared.transactional,
    )
    failures += answered
    remember_opt_outs(preferences, opted_out)
    skipped_by = Counter(composer.skipped)
    for failure in opted_out:
        skipped_by[(failure.channel, SkipReason.OPTED_OUT)] += 1
        messages[failure.channel] -= 1
    return SendOutcome(
        response=SendResponse(failures=failures),
        send_id=send_id,
        audience=audience.size,
        missing=len(audience.missing_ids),
        messages=messages,
        channels=list(request.channels),
        batches=Counter(batch.channel for batch in batches),
        skipped_by=skipped_by,
    )


# A preview answers within API Gateway's 29 s and Lambda's 6 MB: it counts at most this many users
# (a lower bound beyond), and its messages stop at this many bytes of JSON.
PREVIEW_COUNT_LIMIT = 1_000_000
PREVIEW_MAX_BYTES = 4 * 1024 * 1024


def preview(
    request: SendRequestPreview,
    settings: SendSettings,
    store: Store,
    renderer: Renderer,
    remaining_s: Callable[[], float] | None = None,
    max_bytes: int = PREVIEW_MAX_BYTES,
    count_limit: int = PREVIEW_COUNT_LIMIT,
) -> PreviewResponse:
    """What `send` would hand the channel functions for the first `request.limit` users, who of them
    would be skipped and why, and how many users the request resolves to: the same checks,
    resolution and rendering, and nothing sent, staged or recorded. Attachment names are checked;
    the files are not fetched. Counting stops at the deadline (or `count_limit`), the messages at
    `max_bytes`: the answer says so rather than time out or outgrow Lambda's response limit."""
    _check_channels(request, settings)
    texts, template = _texts(request, store, settings)
    composer = Composer(
        texts, request.channels, request.data, renderer, transactional=is_transactional(request, template)
    )
    # Attachment names were checked by the request and template models; no file is fetched.
    audience = Audience(store, settings.service, request.recipients, request.clusters)
    messages: list[PreviewMessage] = []
    skipped: list[PreviewSkip] = []
    size = 0
    truncated = False
    complete = True
    counted = 0
    for counted, recipient in enumerate(audience, 1):
        if counted % DEADLINE_CHECK_EVERY == 0 and (
            counted >= count_limit or (remaining_s is not None and remaining_s() < settings.deadline_margin_s)
        ):
            complete = False
            break
        if counted > request.limit or truncated:
            continue  # counted, not rendered
        skipped += [
            PreviewSkip(userId=recipient.user_id, channel=channel, reason=reason)
            for channel in request.channels
            if (reason := composer.skip_reason(recipient, channel)) is not None
        ]
        rendered = [
            PreviewMessage(userId=recipient.user_id, channel=channel, message=message.model_dump(mode="json"))
            for channel, message in composer.messages(recipient)
        ]
        size += sum(len(item.model_dump_json()) for item in rendered)
        if size > max_bytes and messages:
            truncated = True  # this user's messages would pass the bound: the ones before are the answer
            continue
        messages += rendered
    return PreviewResponse(
        audience=counted if complete else counted - 1,
        audienceComplete=complete,
        messages=messages,
        skipped=skipped,
        failures=composer.failures,
        truncated=truncated,
    )
