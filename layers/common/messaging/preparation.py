"""What every send (synchronous, asynchronous or a preview) checks before any user is resolved:
the channels against the configuration, the template (stored or in the request) and its syntax,
the attachments; and the batch envelopes it makes. Each check can refuse the request (4xx/5xx)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pydantic import ValidationError

from messaging.attachments import stage_attachments
from messaging.channels import registry
from messaging.channels.base import Texts
from messaging.channels.voice import as_ssml
from messaging.errors import BadRequest, NotFound
from messaging.models.batch import EmailAttachment
from messaging.models.common import Channel
from messaging.models.function_settings import SendSettings
from messaging.models.request import SendRequest
from messaging.models.template import MessageTemplate
from messaging.store import Store
from messaging.templates.compose import Composer, MessageTexts, texts_from_request, texts_from_template
from messaging.templates.renderer import Renderer
from messaging.validation import describe_errors


def check_channels(request: SendRequest, settings: SendSettings) -> None:
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


def message_texts(
    request: SendRequest, store: Store, settings: SendSettings
) -> tuple[MessageTexts, MessageTemplate | None]:
    """The texts to render, from the request or its stored template (returned too: it has a say in
    attachments and transactional)."""
    strict = settings.service.strictTemplates
    template: MessageTemplate | None = None
    if request.templateId is None:
        texts = texts_from_request(request, strict=strict)
    else:
        template = _load_template(store, request.templateId)
        texts = texts_from_template(template, str(ObjectId(request.templateId)), request.channels, strict=strict)
    if settings.voice_body_type == "SSML" and "voice" in texts.channels:
        texts = MessageTexts(
            _ssml(texts.channels), texts.strict, {tag: _ssml(each) for tag, each in texts.locales.items()}
        )
    return texts, template


def _ssml(channels: Mapping[Channel, Texts]) -> dict[Channel, Texts]:
    return {**channels, "voice": as_ssml(channels["voice"])} if "voice" in channels else dict(channels)


def _envelopes(request: SendRequest, settings: SendSettings) -> dict[Channel, dict[str, Any]]:
    """Each requested channel's envelope, as its spec makes it from the request and the configuration."""
    return {channel: registry.spec(channel).envelope(request, settings.service) for channel in request.channels}


# File names -> the staged attachments; refuses missing files, oversize totals, no File Service.
Stager = Callable[[Sequence[str]], list[EmailAttachment]]


def no_file_service(names: Sequence[str]) -> list[EmailAttachment]:
    return stage_attachments(names, None, None, "")


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
    check_channels(request, settings)
    texts, template = message_texts(request, store, settings)
    transactional = is_transactional(request, template)
    category = message_category(request, template, settings)
    composer = Composer(texts, request.channels, request.data, renderer, transactional=transactional, category=category)
    envelopes = _envelopes(request, settings)
    for envelope in envelopes.values():
        envelope["correlationId"] = correlation_id
        envelope["transactional"] = transactional
        envelope["category"] = category
        envelope["sendId"] = send_id
    for channel, envelope in envelopes.items():
        names = registry.spec(channel).attachments(request, template)
        if names or "attachments" in registry.spec(channel).batch_model.model_fields:
            # Fetched once per request, before anything is sent: a missing file refuses the request.
            envelope["attachments"] = [attachment.model_dump() for attachment in stage(names)]
    return Prepared(texts, composer, envelopes, transactional)


def message_category(request: SendRequest, template: MessageTemplate | None, settings: SendSettings) -> str | None:
    """The request's category, else the template's; one the configuration does not declare is a 400."""
    category = request.category or (template.category if template is not None else None)
    if category is not None and category not in settings.service.categories:
        declared = ", ".join(settings.service.categories) or "none"
        raise BadRequest(f"category: {category} is not one of the configuration's categories ({declared})")
    return category


def is_transactional(request: SendRequest, template: MessageTemplate | None) -> bool:
    """The request or the stored template says so: either is enough."""
    return request.transactional or bool(template is not None and template.transactional)
