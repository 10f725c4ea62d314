"""Voice: the request's content or the template's `voiceMessage`, spoken to the user's
`phoneNumber` (the same `userFields` entry as SMS) through AWS End User Messaging SMS and Voice v2
`SendVoiceMessage`, from `VOICE_ORIGINATION_IDENTITY` (the identity the function's IAM grant
names) or else `sender.voice` (an origination phone number or a pool). VoiceFunction's `VOICE_ID`
and `VOICE_BODY_TYPE` (TEXT or SSML) choose the voice and how the text is read;
`VOICE_CONFIGURATION_SET` routes the delivery events.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from messaging.channels.base import Source, Texts
from messaging.channels.common import DeliveryReport, Problem
from messaging.channels.sms import PhoneChannel, SmsMessage, send_through_eum
from messaging.errors import BadRequest
from messaging.models.batch import Envelope
from messaging.models.common import E164_PATTERN
from messaging.models.settings import ChannelSettings, prefixed

# An origination identity SendVoiceMessage takes: an E.164 number, a phone number or pool id
# (`phone-…`, `pool-…`), or the ARN of either.
_IDENTITY = re.compile(
    rf"{E164_PATTERN}|^(phone|pool)-[0-9a-zA-Z]{{1,64}}$|^arn:aws[a-z-]*:sms-voice:[a-z0-9-]+:\d{{12}}:(phone-number|pool)/\S+$"
)
# The longest text SendVoiceMessage speaks (MessageBody: 1-6000 characters).
MAX_VOICE_TEXT = 6000


def _voice_sender(value: str) -> str:
    if not _IDENTITY.match(value):
        raise ValueError("must be an E.164 origination number, a phone number or pool id, or the ARN of one")
    return value


class VoiceMessage(SmsMessage):
    """The text spoken to the number (same fields as an SMS)."""


class VoiceBatch(Envelope):
    channel: Literal["voice"] = "voice"
    sender: str
    messages: list[VoiceMessage]


# End User Messaging SMS and Voice v2 SendVoiceMessage.
CHANNEL = PhoneChannel("voice", "voiceMessage", VoiceBatch, _voice_sender)


BodyType = Literal["TEXT", "SSML"]


# A tag that writes its value unescaped: `{{{x}}}` (and `{{~{x}~}}`, `{{{{raw}}}}`), `{{&x}}`.
_UNESCAPED_TAG = re.compile(r"\{\{~?\s*[{&]")


def _unescaped_tag(text: str) -> str | None:
    for match in _UNESCAPED_TAG.finditer(text):
        backslashes = 0
        while match.start() - backslashes > 0 and text[match.start() - backslashes - 1] == "\\":
            backslashes += 1
        if backslashes != 1:  # exactly one makes `\{{` literal text, as the engine reads it
            return text[match.start() : match.start() + 40]
    return None


def as_ssml(texts: Texts) -> Texts:
    """SSML is XML: a value inserted into it (a user's name, the request's data) is escaped as in
    HTML (`&`, `<`, `>`, quotes become entities), so it is spoken as text and can never add markup
    (a `<break time="10s"/>`, an `<audio>`) to a call; the template's own markup stays markup. The
    forms that write a value unescaped (`{{{x}}}`, `{{&x}}`, whatever they name: `this`, `lookup`,
    a `with` block's field) are refused (a 400 naming the field), so none can."""
    for text in texts.values():
        if isinstance(text, Source) and (tag := _unescaped_tag(text.text)) is not None:
            raise BadRequest(
                f"{text.label}: {tag!r} writes a value unescaped, which SSML voice texts refuse "
                "(a value could add markup to the call): use {{x}}"
            )
    # A line break in a value stays one: `<br/>` (an HTML body's) is no SSML element.
    return {
        name: replace(text, html=True, line_break="\n") if isinstance(text, Source) else text
        for name, text in texts.items()
    }


class VoiceSettings(ChannelSettings):
    # The identity VoiceFunction's IAM grant names (the template's VoiceOriginationIdentityArn);
    # the batch's sender (`sender.voice`) when unset.
    origination_identity: str | None = None
    voice_id: Annotated[str, Field(pattern=r"^[A-Z]{2,16}$")] | None = None  # AMY, BIANCA, CARLA...
    body_type: BodyType = "TEXT"
    configuration_set: str | None = None

    ENV: ClassVar[dict[str, str]] = {
        **ChannelSettings.ENV,
        "voice_id": "VOICE_ID",
        **prefixed("VOICE", "origination_identity", "body_type", "configuration_set"),
    }


def send_batch(batch: VoiceBatch, client: Any, settings: VoiceSettings) -> DeliveryReport:
    """One SendVoiceMessage per number; End User Messaging's errors are that user's failure."""
    identity = settings.origination_identity or batch.sender
    params: dict[str, Any] = {"OriginationIdentity": identity, "MessageBodyTextType": settings.body_type}
    if settings.voice_id:
        params["VoiceId"] = settings.voice_id
    if settings.configuration_set:
        params["ConfigurationSetName"] = settings.configuration_set
    return send_through_eum(
        "voice", batch, batch.messages, client.send_voice_message, params, settings.concurrency, _speakable
    )


def _speakable(message: SmsMessage) -> Problem | None:
    if 0 < len(message.text) <= MAX_VOICE_TEXT:
        return None
    return Problem("InvalidParameter", f"InvalidParameter: a voice message holds 1 to {MAX_VOICE_TEXT} characters")
