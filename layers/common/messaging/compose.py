"""What each user receives: the request's or the template's texts, rendered per user and channel.

A user with no address for a channel is skipped on it here, silently, as the original service does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from messaging.audience import Recipient
from messaging.errors import BadRequest
from messaging.models.batch import EmailMessage, PushMessage, SmsMessage
from messaging.models.common import Channel
from messaging.models.request import SendRequest
from messaging.models.response import Failure
from messaging.models.template import MessageTemplate
from messaging.templating import (
    CompiledTemplate,
    RenderContext,
    Renderer,
    TemplateRenderError,
    TemplateSyntaxError,
    UserTooLargeError,
    dumps,
    measure_data,
)

# pushData keys that are FCM v1 message blocks rather than custom data.
PUSH_BLOCKS = ("android", "apns")


@dataclass(frozen=True)
class Source:
    text: str
    label: str  # names the field (and template) in error messages


@dataclass(frozen=True)
class MessageTexts:
    """The uncompiled texts of every requested channel."""

    email_subject: Source | None = None
    email_text: Source | None = None
    email_html: Source | None = None
    sms_text: Source | None = None
    push_title: Source | None = None
    push_body: Source | None = None
    push_subtitle: Source | None = None
    push_data: dict[str, Any] | None = None
    push_data_label: str = ""
    strict: bool = False  # a missing variable or unknown helper is a 400, not an empty string


def texts_from_request(request: SendRequest, *, strict: bool = False) -> MessageTexts:
    title = Source(request.messageTitle or "", "messageTitle")
    content = Source(request.messageContent or "", "messageContent")
    return MessageTexts(
        email_subject=title, email_text=content, sms_text=content, push_title=title, push_body=content, strict=strict
    )


def texts_from_template(
    template: MessageTemplate, template_id: str, channels: Sequence[Channel], *, strict: bool = False
) -> MessageTexts:
    """Only the requested channels' fields are required; the message names every missing one.
    The template's own `strict` wins over the service's default (`strict`)."""

    def source(field: str) -> Source | None:
        value = getattr(template, field)
        return Source(value, f"template {template_id} {field}") if value is not None else None

    required: dict[Channel, list[tuple[str, ...]]] = {
        "email": [("emailTitle",), ("emailHtmlMessage", "emailMessage")],
        "sms": [("smsMessage",)],
        "push": [("pushTitle",), ("pushMessage",)],
    }
    missing = [
        " or ".join(alternatives)
        for channel in channels
        for alternatives in required[channel]
        if all(getattr(template, field) is None for field in alternatives)
    ]
    if missing:
        raise BadRequest(f"template {template_id} lacks the text of a requested channel: {', '.join(missing)}")
    return MessageTexts(
        email_subject=source("emailTitle"),
        # The HTML body wins over the text one.
        email_html=source("emailHtmlMessage"),
        email_text=None if template.emailHtmlMessage is not None else source("emailMessage"),
        sms_text=source("smsMessage"),
        push_title=source("pushTitle"),
        push_body=source("pushMessage"),
        push_subtitle=source("pushSubtitle"),
        push_data=template.pushData,
        push_data_label=f"template {template_id} pushData",
        strict=template.strict if template.strict is not None else strict,
    )


def _stringify(value: Any) -> str:
    # FCM data values must be strings.
    return value if isinstance(value, str) else dumps(value)


class Composer:
    """Checks every text once (refusals and structural syntax errors are a 400 before anything is
    sent), then renders one user's messages at a time; the native compile happens at the first
    user's render, so a request with no existing recipient compiles nothing."""

    def __init__(
        self, texts: MessageTexts, channels: Sequence[Channel], data: dict[str, Any], renderer: Renderer
    ) -> None:
        self._channels = list(channels)
        self._data = data
        self._data_json = dumps(data)
        self._data_measure: tuple[int, int] | None = None
        self._renderer = renderer
        # Users whose own document is too large to render on a channel: failed, never sent.
        self.failures: list[Failure] = []
        self._strict = texts.strict
        try:
            self._email_subject = self._compile(texts.email_subject)
            self._email_text = self._compile(texts.email_text)
            self._email_html = self._compile(texts.email_html, html_mode=True)
            self._sms_text = self._compile(texts.sms_text)
            self._push_title = self._compile(texts.push_title)
            self._push_body = self._compile(texts.push_body)
            self._push_subtitle = self._compile(texts.push_subtitle)
            self._push_data = self._compile_tree(texts.push_data, texts.push_data_label)
        except TemplateSyntaxError as exc:
            raise BadRequest(str(exc)) from exc

    def _compile(self, source: Source | None, *, html_mode: bool = False) -> CompiledTemplate | None:
        if source is None:
            return None
        return self._renderer.compile(source.text, source.label, html_mode=html_mode, strict=self._strict)

    def _compile_tree(self, value: Any, label: str) -> Any:
        if isinstance(value, str):
            return self._renderer.compile(value, label, strict=self._strict)
        if isinstance(value, dict):
            return {key: self._compile_tree(item, f"{label}.{key}") for key, item in value.items()}
        if isinstance(value, list):
            return [self._compile_tree(item, f"{label}[{index}]") for index, item in enumerate(value)]
        return value

    def messages(self, recipient: Recipient) -> Iterator[tuple[Channel, BaseModel]]:
        """The user's message on each requested channel it has an address for."""
        try:
            if self._data_measure is None:
                self._data_measure = measure_data(self._data)  # once per request
            context = RenderContext(
                recipient.document, self._data, data_json=self._data_json, data_measure=self._data_measure
            )
            for channel in self._channels:
                try:
                    message = self._compose(channel, recipient, context)
                except UserTooLargeError as exc:
                    self.failures.append(Failure(userId=recipient.user_id, channel=channel, error=str(exc)))
                    continue
                if message is not None:
                    yield channel, message
        except (TemplateRenderError, TemplateSyntaxError) as exc:
            raise BadRequest(str(exc)) from exc

    def _compose(self, channel: Channel, recipient: Recipient, context: RenderContext) -> BaseModel | None:
        if channel == "email" and recipient.email:
            return EmailMessage(
                userId=recipient.user_id,
                to=recipient.email,
                subject=_one_line(_render(self._email_subject, context)),
                text=_render_optional(self._email_text, context),
                html=_render_optional(self._email_html, context),
            )
        if channel == "sms" and recipient.phone:
            return SmsMessage(
                userId=recipient.user_id, phoneNumber=recipient.phone, text=_render(self._sms_text, context)
            )
        if channel == "push" and recipient.token:
            data = _render_tree(self._push_data, context) or {}
            blocks = {key: data.pop(key) for key in PUSH_BLOCKS if isinstance(data.get(key), dict)}
            return PushMessage(
                userId=recipient.user_id,
                token=recipient.token,
                title=_render(self._push_title, context),
                body=_render(self._push_body, context),
                subtitle=_render_optional(self._push_subtitle, context),
                data={str(key): _stringify(value) for key, value in data.items()},
                android=blocks.get("android"),
                apns=blocks.get("apns"),
            )
        return None


def _one_line(text: str) -> str:
    # A subject is a header: a line break in it (from data, say) must never start another header.
    return " ".join(text.splitlines()).strip()


def _render(template: CompiledTemplate | None, context: RenderContext) -> str:
    return template.render(context) if template is not None else ""


def _render_optional(template: CompiledTemplate | None, context: RenderContext) -> str | None:
    return template.render(context) if template is not None else None


def _render_tree(value: Any, context: RenderContext) -> Any:
    if isinstance(value, CompiledTemplate):
        return value.render(context)
    if isinstance(value, dict):
        return {key: _render_tree(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_tree(item, context) for item in value]
    return value
