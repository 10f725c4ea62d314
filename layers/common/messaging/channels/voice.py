"""Voice: the request's content or the template's `voiceMessage`, spoken to the user's
`phoneNumber` (the same `userFields` entry as SMS) through AWS End User Messaging SMS and Voice v2
`SendVoiceMessage`, from `VOICE_ORIGINATION_IDENTITY` (the identity the function's IAM grant
names) or else `sender.voice` (an origination phone number or a pool). VoiceFunction's `VOICE_ID`
and `VOICE_BODY_TYPE` (TEXT or SSML) choose the voice and how the text is read;
`VOICE_CONFIGURATION_SET` routes the delivery events.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import AfterValidator, BaseModel, Field

from messaging.channels.base import ChannelSpec, Rendered, Source, Texts
from messaging.channels.common import DeliveryReport, Problem, deliver_all
from messaging.channels.sms import NOT_E164, SmsMessage, context, eum_problem
from messaging.models.batch import Envelope
from messaging.models.common import E164_PATTERN
from messaging.models.settings import ChannelSettings

_E164 = re.compile(E164_PATTERN)
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


class Voice(ChannelSpec):
    name = "voice"
    description = "End User Messaging SMS and Voice v2 SendVoiceMessage"
    user_field = "phoneNumber"
    template_fields: ClassVar[dict[str, object]] = {"voiceMessage": (str | None, None)}
    required = (("voiceMessage",),)
    message_model = VoiceMessage
    batch_model = VoiceBatch
    sender_type = Annotated[str, AfterValidator(_voice_sender)]

    def request_texts(self, title: Source, content: Source) -> Texts:
        return {"text": content}  # spoken: the title has no place in a call

    def template_texts(self, template: BaseModel, template_id: str) -> Texts:
        return {"text": self.template_source(template, template_id, "voiceMessage")}

    def message(self, user_id: str, address: str, rendered: Rendered) -> VoiceMessage:
        return VoiceMessage(userId=user_id, phoneNumber=address, text=rendered.get("text") or "")


CHANNEL = Voice()


class VoiceSettings(ChannelSettings):
    # The identity VoiceFunction's IAM grant names (the template's VoiceOriginationIdentityArn);
    # the batch's sender (`sender.voice`) when unset.
    origination_identity: str | None = None
    voice_id: Annotated[str, Field(pattern=r"^[A-Z]{2,16}$")] | None = None  # AMY, BIANCA, CARLA...
    body_type: Literal["TEXT", "SSML"] = "TEXT"
    configuration_set: str | None = None

    ENV: ClassVar[dict[str, str]] = {
        **ChannelSettings.ENV,
        "origination_identity": "VOICE_ORIGINATION_IDENTITY",
        "voice_id": "VOICE_ID",
        "body_type": "VOICE_BODY_TYPE",
        "configuration_set": "VOICE_CONFIGURATION_SET",
    }


def send_batch(batch: VoiceBatch, client: Any, settings: VoiceSettings) -> DeliveryReport:
    """One SendVoiceMessage per number; End User Messaging's errors are that user's failure."""
    identity = settings.origination_identity or batch.sender
    common: dict[str, Any] = {"OriginationIdentity": identity, "MessageBodyTextType": settings.body_type}
    if settings.voice_id:
        common["VoiceId"] = settings.voice_id
    if settings.configuration_set:
        common["ConfigurationSetName"] = settings.configuration_set

    def deliver(message: VoiceMessage) -> Problem | None:
        if not _E164.match(message.phoneNumber):
            return NOT_E164
        if not 0 < len(message.text) <= MAX_VOICE_TEXT:
            return Problem(
                "InvalidParameter", f"InvalidParameter: a voice message holds 1 to {MAX_VOICE_TEXT} characters"
            )
        try:
            client.send_voice_message(
                DestinationPhoneNumber=message.phoneNumber,
                MessageBody=message.text,
                Context=context(batch, message.userId),
                **common,
            )
        except (ClientError, BotoCoreError) as exc:
            return eum_problem(exc)
        return None

    return deliver_all("voice", batch.messages, deliver, settings.concurrency)
