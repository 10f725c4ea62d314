"""POST /send/preview: what a send would hand the channel functions, sending nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from messaging.audience import Audience, Recipient
from messaging.masking import masked_message
from messaging.models.common import Channel
from messaging.models.function_settings import SendSettings
from messaging.models.request import SendRequestPreview
from messaging.models.response import PreviewMessage, PreviewResponse, PreviewSkip
from messaging.preparation import check_channels, is_transactional, message_category, message_texts
from messaging.sends.persistence.dynamodb import utc_iso
from messaging.sends.schedule import scheduled_at
from messaging.service import DEADLINE_CHECK_EVERY
from messaging.store import Store
from messaging.templates.compose import Composer
from messaging.templates.errors import RenderDeadlineError
from messaging.templates.renderer import Renderer

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
    """What `send` would hand the channel functions for the first `request.limit` users (their
    addresses, numbers and device tokens masked: a preview is for reading texts), who of them
    would be skipped and why, and how many users the request resolves to: the same checks,
    resolution and rendering, and nothing sent, staged or recorded. Attachment names are checked;
    the files are not fetched. Counting stops at the deadline (or `count_limit`), the messages at
    `max_bytes`: the answer says so rather than time out or outgrow Lambda's response limit."""
    check_channels(request, settings)
    # The send would refuse a `sendAt` out of bounds: so does its preview, and it says when it would run.
    send_at = scheduled_at(request.sendAt, datetime.now(UTC), settings.schedule_max_days)
    texts, template = message_texts(request, store, settings)
    composer = Composer(
        texts,
        request.channels,
        request.data,
        renderer,
        transactional=is_transactional(request, template),
        category=message_category(request, template, settings),
    )
    # Attachment names were checked by the request and template models; no file is fetched.
    audience = Audience(store, settings.service, request.recipients, request.clusters)
    messages: list[PreviewMessage] = []
    skipped: list[PreviewSkip] = []
    size = 0
    truncated = False
    complete = True
    counted = 0
    budget_s = None if remaining_s is None else max(0.0, remaining_s() - settings.deadline_margin_s)
    try:
        # Past the margin, a render ends at its next catalogue helper call: the answer comes in time.
        with renderer.deadline(budget_s):
            for counted, recipient in enumerate(audience, 1):
                if counted % DEADLINE_CHECK_EVERY == 0 and (
                    counted >= count_limit or (remaining_s is not None and remaining_s() < settings.deadline_margin_s)
                ):
                    complete = False
                    break
                if counted > request.limit or truncated:
                    continue  # counted, not rendered
                rendered, skips = _entries(composer, recipient, request.channels)
                skipped += skips
                size += sum(len(item.model_dump_json()) for item in rendered)
                if size > max_bytes and messages:
                    truncated = True  # this user's messages would pass the bound: the ones before are the answer
                    continue
                messages += rendered
    except RenderDeadlineError:
        complete = False  # the users counted before this one are the audience known
    return PreviewResponse(
        audience=counted if complete else counted - 1,
        audienceComplete=complete,
        messages=messages,
        skipped=skipped,
        failures=composer.failures,
        truncated=truncated,
        sendAt=None if send_at is None else utc_iso(send_at),
    )


def _entries(
    composer: Composer, recipient: Recipient, channels: Sequence[Channel]
) -> tuple[list[PreviewMessage], list[PreviewSkip]]:
    """One user's messages (addresses masked, the variant named) and skips, rendered whole or not
    at all (a render cut by the deadline leaves nothing of the user)."""
    tag = composer.variant(recipient)
    rendered = [
        PreviewMessage(
            userId=recipient.user_id,
            channel=channel,
            message=masked_message(message.model_dump(mode="json")),
            locale=tag,
        )
        for channel, message in composer.messages(recipient)
    ]
    skips = [
        PreviewSkip(userId=recipient.user_id, channel=channel, reason=reason)
        for channel in channels
        if (reason := composer.skip_reason(recipient, channel)) is not None
    ]
    return rendered, skips
