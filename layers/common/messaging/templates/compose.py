"""What each user receives: the request's or the template's texts, rendered per user and channel.

Which texts a channel has, how the request's title and content or a template's fields become them,
and how one user's rendered texts become its message, is the channel's own (its spec in the
registry): this module only compiles, renders and asks. A user gets nothing on a channel, without
it being a failure (a skip, counted by reason), when they have no address for it (`noAddress`),
opted out of it (or of the message's category on it) and the message is not transactional
(`optedOut`), or when it is push and FCM reported their device token stale and it has not changed
since (`staleToken`: even a transactional message cannot reach a dead token).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ValidationError

from messaging.audience import Recipient
from messaging.categories import refused_channels
from messaging.channels import registry
from messaging.channels.base import DEFAULT_LINE_BREAK, Source, Texts, Tree
from messaging.errors import BadRequest
from messaging.locales import choose
from messaging.models.common import Channel
from messaging.models.request import SendRequest
from messaging.models.response import Failure, FailureCode, SkipReason
from messaging.templates.compiled import CompiledTemplate
from messaging.templates.context import RenderContext, dumps, measure_data
from messaging.templates.errors import TemplateRenderError, TemplateSyntaxError, UserTooLargeError
from messaging.templates.renderer import Renderer
from messaging.templates.user_defaults import rendering_for

__all__ = [
    "Composer",
    "MessageTexts",
    "Source",
    "texts_from_json",
    "texts_from_request",
    "texts_from_template",
    "texts_json",
]


@dataclass(frozen=True)
class MessageTexts:
    """The uncompiled texts of each channel, by the channel's own names."""

    channels: Mapping[Channel, Texts]
    strict: bool = False  # a missing variable or unknown helper is a 400, not an empty string
    # The locale variants by tag, each whole (the fields a variant leaves out are the base ones).
    locales: Mapping[str, Mapping[Channel, Texts]] = field(default_factory=dict)


# Every text field of a stored template (what a template's locale variant may hold).
_TEXT_FIELDS = frozenset(name for spec in registry.specs() for name in spec.template_fields)


def texts_json(texts: MessageTexts) -> dict[str, Any]:
    """The texts as JSON (kept with a send that another invocation renders)."""

    def text(value: Source | Tree | None) -> Any:
        if isinstance(value, Tree):
            return {"tree": value.value, "label": value.label}
        if value is None:
            return None
        stored = {"text": value.text, "label": value.label, "html": value.html}
        return stored if value.line_break == DEFAULT_LINE_BREAK else {**stored, "lineBreak": value.line_break}

    def channels(texts: Mapping[Channel, Texts]) -> dict[str, Any]:
        return {channel: {name: text(value) for name, value in each.items()} for channel, each in texts.items()}

    return {
        "strict": texts.strict,
        "channels": channels(texts.channels),
        "locales": {tag: channels(each) for tag, each in texts.locales.items()},
    }


def texts_from_json(document: Mapping[str, Any]) -> MessageTexts:
    def text(value: Any) -> Source | Tree | None:
        if value is None:
            return None
        if "tree" in value:
            return Tree(value["tree"], value["label"])
        return Source(
            value["text"], value["label"], bool(value.get("html")), value.get("lineBreak", DEFAULT_LINE_BREAK)
        )

    def channels(stored: Mapping[Channel, Any]) -> dict[Channel, Texts]:
        return {channel: {name: text(value) for name, value in each.items()} for channel, each in stored.items()}

    locales = {tag: channels(each) for tag, each in (document.get("locales") or {}).items()}
    return MessageTexts(channels(document["channels"]), bool(document.get("strict")), locales)


def _request_channels(title: Source, content: Source) -> dict[Channel, Texts]:
    return {spec.name: spec.request_texts(title, content) for spec in registry.specs()}


def texts_from_request(request: SendRequest, *, strict: bool = False) -> MessageTexts:
    title = Source(request.messageTitle or "", "messageTitle")
    content = Source(request.messageContent or "", "messageContent")
    locales: dict[str, Mapping[Channel, Texts]] = {}
    for tag, variant in (request.locales or {}).items():
        own_title = (
            title if variant.messageTitle is None else Source(variant.messageTitle, f"locales.{tag}.messageTitle")
        )
        own_content = (
            content
            if variant.messageContent is None
            else Source(variant.messageContent, f"locales.{tag}.messageContent")
        )
        locales[tag] = _request_channels(own_title, own_content)
    return MessageTexts(_request_channels(title, content), strict, locales)


def _template_variant(
    template: BaseModel, template_id: str, tag: str, variant: Mapping[str, Any], channels: Sequence[Channel]
) -> dict[Channel, Texts]:
    """The template with a variant's fields in place of its own, each labelled `locales.<tag>.<field>`."""
    unknown = [name for name in variant if name not in _TEXT_FIELDS]
    if unknown:
        raise BadRequest(f"template {template_id} locales.{tag}.{unknown[0]}: not a text field of a template")
    fields = {name: value for name, value in variant.items() if value is not None}
    try:
        merged = type(template).model_validate({**template.model_dump(exclude={"locales"}), **fields})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise BadRequest(f"template {template_id} locales.{tag}.{where}: {error['msg']}") from exc
    relabel = {f"template {template_id} {name}": f"template {template_id} locales.{tag}.{name}" for name in fields}

    def own(text: Source | Tree | None) -> Source | Tree | None:
        return replace(text, label=relabel[text.label]) if text is not None and text.label in relabel else text

    return {
        channel: {name: own(text) for name, text in registry.spec(channel).template_texts(merged, template_id).items()}
        for channel in channels
    }


def texts_from_template(
    template: BaseModel, template_id: str, channels: Sequence[Channel], *, strict: bool = False
) -> MessageTexts:
    """Only the requested channels' fields are required; the message names every missing one.
    The template's own `strict` wins over the service's default (`strict`)."""
    missing = [
        " or ".join(alternatives)
        for channel in channels
        for alternatives in registry.spec(channel).required
        if all(getattr(template, field, None) is None for field in alternatives)
    ]
    if missing:
        raise BadRequest(f"template {template_id} lacks the text of a requested channel: {', '.join(missing)}")
    own_strict = getattr(template, "strict", None)
    variants = getattr(template, "locales", None) or {}
    return MessageTexts(
        {channel: registry.spec(channel).template_texts(template, template_id) for channel in channels},
        strict=own_strict if own_strict is not None else strict,
        locales={tag: _template_variant(template, template_id, tag, each, channels) for tag, each in variants.items()},
    )


class Composer:
    """Checks every text once (refusals and structural syntax errors are a 400 before anything is
    sent), then renders one user's messages at a time; the native compile happens at the first
    user's render, so a request with no existing recipient compiles nothing."""

    def __init__(
        self,
        texts: MessageTexts,
        channels: Sequence[Channel],
        data: dict[str, Any],
        renderer: Renderer,
        *,
        transactional: bool = False,
        category: str | None = None,
    ) -> None:
        self._channels = list(channels)
        self._transactional = transactional
        self._category = category
        # Users who get nothing on a channel, by (channel, reason): every `messages` call counts here.
        self.skipped: Counter[tuple[Channel, str]] = Counter()
        self._data = data
        self._data_json = dumps(data)
        self._data_measure: tuple[int, int] | None = None
        self._renderer = renderer
        # Users whose own document is too large to render on a channel: failed, never sent.
        self.failures: list[Failure] = []
        self._strict = texts.strict
        try:
            self._compiled = self._compile_channels(texts.channels)
            self._variants = {tag: self._compile_channels(each) for tag, each in texts.locales.items()}
        except TemplateSyntaxError as exc:
            raise BadRequest(str(exc)) from exc

    def _compile_channels(self, texts: Mapping[Channel, Texts]) -> dict[Channel, dict[str, Any]]:
        return {
            channel: {name: self._compile(text) for name, text in texts.get(channel, {}).items()}
            for channel in self._channels
        }

    def variant(self, recipient: Recipient) -> str | None:
        """The tag of the locale variant the user gets, or None for the base texts."""
        return choose(recipient.locale, self._variants) if self._variants else None

    def _compile(self, text: Source | Tree | None) -> Any:
        if text is None:
            return None
        if isinstance(text, Tree):
            return self._compile_tree(text.value, text.label)
        return self._renderer.compile(
            text.text, text.label, html_mode=text.html, strict=self._strict, line_break=text.line_break
        )

    def _compile_tree(self, value: Any, label: str) -> Any:
        if isinstance(value, str):
            return self._renderer.compile(value, label, strict=self._strict)
        if isinstance(value, dict):
            return {key: self._compile_tree(item, f"{label}.{key}") for key, item in value.items()}
        if isinstance(value, list):
            return [self._compile_tree(item, f"{label}[{index}]") for index, item in enumerate(value)]
        return value

    def skip_reason(self, recipient: Recipient, channel: Channel) -> str | None:
        """Why the user gets nothing on the channel (a SkipReason), or None if they get the message."""
        spec = registry.spec(channel)
        if not recipient.address(spec.user_field):
            return SkipReason.NO_ADDRESS
        if not self._transactional and (
            channel in recipient.opted_out or channel in refused_channels(recipient.preferences, self._category)
        ):
            return SkipReason.OPTED_OUT
        if spec.user_field == "deviceToken" and recipient.stale_token:
            return SkipReason.STALE_TOKEN
        return None

    def messages(self, recipient: Recipient) -> Iterator[tuple[Channel, BaseModel]]:
        """The user's message on each requested channel they are not skipped on."""
        try:
            if self._data_measure is None:
                self._data_measure = measure_data(self._data)  # once per request
            context = RenderContext(
                recipient.document, self._data, data_json=self._data_json, data_measure=self._data_measure
            )
            tag = self.variant(recipient)
            compiled = self._compiled if tag is None else self._variants[tag]
            for channel in self._channels:
                spec = registry.spec(channel)
                skip = self.skip_reason(recipient, channel)
                if skip is not None:
                    self.skipped[(channel, skip)] += 1
                    continue
                address = recipient.address(spec.user_field) or ""
                try:
                    with rendering_for(recipient.timezone, recipient.locale):  # the date helpers' defaults
                        rendered = {name: _render(text, context) for name, text in compiled[channel].items()}
                except UserTooLargeError as exc:
                    self.failures.append(
                        Failure(userId=recipient.user_id, channel=channel, error=str(exc), code=FailureCode.TOO_LARGE)
                    )
                    continue
                yield channel, spec.message(recipient.user_id, address, rendered)
        except (TemplateRenderError, TemplateSyntaxError) as exc:
            raise BadRequest(str(exc)) from exc


def _render(value: Any, context: RenderContext) -> Any:
    if isinstance(value, CompiledTemplate):
        return value.render(context)
    if isinstance(value, dict):
        return {key: _render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, context) for item in value]
    return value
