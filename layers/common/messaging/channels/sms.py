"""SMS: the request's content or the template's `smsMessage`, to the user's `phoneNumber`.

Two providers, chosen by SmsFunction's `SMS_PROVIDER`: `sns` (default) publishes through Amazon
SNS as transactional messages; `end-user-messaging` sends through AWS End User Messaging SMS and
Voice v2 `SendTextMessage` with an origination identity, a configuration set and a `Context`
carrying the send and user ids (returned in delivery events). End User Messaging honours the
opt-out lists itself: an opted-out number is that user's `OptedOut` failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar, Literal, get_args

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import AfterValidator, BaseModel

from messaging.channels.base import ChannelSpec, Rendered, Source, Texts
from messaging.channels.common import DeliveryReport, Problem, deliver_all, send_problem
from messaging.channels.eum_context import make_context
from messaging.models.batch import Envelope
from messaging.models.common import E164_PATTERN, SENDER_ID_PATTERN, Channel
from messaging.models.response import FailureCode
from messaging.models.settings import ChannelSettings, prefixed

_E164 = re.compile(E164_PATTERN)
NOT_E164 = Problem("InvalidParameter", "InvalidParameter: phone number is not in E.164 format")
OPTED_OUT = "DESTINATION_PHONE_NUMBER_OPTED_OUT"


def _sms_sender(value: str) -> str:
    if not (re.match(E164_PATTERN, value) or re.match(SENDER_ID_PATTERN, value)):
        raise ValueError("must be an E.164 number or an alphanumeric sender id of at most 11 characters")
    return value


class SmsMessage(BaseModel):
    userId: str
    phoneNumber: str
    text: str


class SmsBatch(Envelope):
    channel: Literal["sms"] = "sms"
    sender: str | None = None
    messages: list[SmsMessage]


class PhoneChannel(ChannelSpec):
    """A channel of one text to the user's `phoneNumber`: the request's content, or the template's
    `text_field` (its only field, required); `sender.<name>` is checked by `sender_check`."""

    user_field = "phoneNumber"
    message_model: type[SmsMessage]

    def __init__(
        self, name: Channel, text_field: str, batch: type[Envelope], sender_check: Callable[[str], str]
    ) -> None:
        self.name = name
        self.text_field = text_field
        self.template_fields = {text_field: (str | None, None)}
        self.required = ((text_field,),)
        self.batch_model = batch
        [self.message_model] = get_args(batch.model_fields["messages"].annotation)
        self.sender_type = Annotated[str, AfterValidator(sender_check)]

    def request_texts(self, title: Source, content: Source) -> Texts:
        return {"text": content}  # the title has no place in an SMS or a call

    def template_texts(self, template: BaseModel, template_id: str) -> Texts:
        return {"text": self.template_source(template, template_id, self.text_field)}

    def message(self, user_id: str, address: str, rendered: Rendered) -> SmsMessage:
        return self.message_model(userId=user_id, phoneNumber=address, text=rendered.get("text") or "")


# Amazon SNS Publish, or End User Messaging SendTextMessage (SmsFunction's SMS_PROVIDER).
CHANNEL = PhoneChannel("sms", "smsMessage", SmsBatch, _sms_sender)


class SmsSettings(ChannelSettings):
    """Which provider sends, and End User Messaging's origination identity and configuration set."""

    provider: Literal["sns", "end-user-messaging"] = "sns"
    # End User Messaging only: the phone number, sender id or pool (id or ARN) to send from; the
    # batch's sender (`sender.sms`) when unset.
    origination_identity: str | None = None
    configuration_set: str | None = None

    ENV: ClassVar[dict[str, str]] = {
        **ChannelSettings.ENV,
        **prefixed("SMS", "provider", "origination_identity", "configuration_set"),
    }


def eum_problem(exc: ClientError | BotoCoreError) -> Problem:
    """End User Messaging's errors (both SendTextMessage and SendVoiceMessage): an opted-out number
    is `OptedOut`; a ValidationException names its reason (`ValidationException.INVALID_PARAMETER`)."""
    problem = send_problem(exc)
    if isinstance(exc, ClientError) and problem.code != FailureCode.UNKNOWN:
        reason = str(exc.response.get("Reason") or "")
        if reason == OPTED_OUT:
            return Problem("OptedOut", f"OptedOut: {problem.reason}")
        if reason:
            return Problem(f"{problem.code}.{reason}"[:64], f"{problem.reason} ({reason})")
    return problem


def _attributes(sender: str | None) -> dict[str, dict[str, str]]:
    attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
    if sender:
        # A number sends as origination number, a name as alphanumeric sender id.
        key = "AWS.MM.SMS.OriginationNumber" if _E164.match(sender) else "AWS.SNS.SMS.SenderID"
        attributes[key] = {"DataType": "String", "StringValue": sender}
    return attributes


def send_batch(batch: SmsBatch, sns: Any, concurrency: int) -> DeliveryReport:
    """Through SNS `Publish`, one message per number."""
    attributes = _attributes(batch.sender)

    def deliver(message: SmsMessage) -> Problem | None:
        # Refuse what is not E.164 before SNS: a malformed number must not become a paid attempt.
        if not _E164.match(message.phoneNumber):
            return NOT_E164
        try:
            sns.publish(PhoneNumber=message.phoneNumber, Message=message.text, MessageAttributes=attributes)
        except (ClientError, BotoCoreError) as exc:
            return send_problem(exc)
        return None

    return deliver_all("sms", batch.messages, deliver, concurrency)


def context(batch: Envelope, user_id: str) -> dict[str, str]:
    """What End User Messaging returns in its delivery events: whose message, of which send (the
    user id encoded where it breaks Context's limits: messaging.channels.eum_context)."""
    return make_context(user_id, batch.sendId, batch.batchId)


def send_through_eum(
    channel: Channel,
    batch: Envelope,
    messages: Sequence[SmsMessage],
    call: Callable[..., Any],
    params: dict[str, Any],
    concurrency: int,
    check: Callable[[SmsMessage], Problem | None] = lambda message: None,
) -> DeliveryReport:
    """One End User Messaging call (`SendTextMessage`, `SendVoiceMessage`) per number, with
    `params` and a Context naming the user; its errors mapped per user."""

    def deliver(message: SmsMessage) -> Problem | None:
        if not _E164.match(message.phoneNumber):
            return NOT_E164
        problem = check(message)
        if problem is not None:
            return problem
        try:
            call(
                DestinationPhoneNumber=message.phoneNumber,
                MessageBody=message.text,
                Context=context(batch, message.userId),
                **params,
            )
        except (ClientError, BotoCoreError) as exc:
            return eum_problem(exc)
        return None

    return deliver_all(channel, messages, deliver, concurrency)


def send_batch_eum(batch: SmsBatch, client: Any, settings: SmsSettings) -> DeliveryReport:
    """Through End User Messaging `SendTextMessage` (transactional), one message per number."""
    identity = settings.origination_identity or batch.sender
    params: dict[str, Any] = {"MessageType": "TRANSACTIONAL"}
    if identity:
        params["OriginationIdentity"] = identity
    if settings.configuration_set:
        params["ConfigurationSetName"] = settings.configuration_set
    return send_through_eum("sms", batch, batch.messages, client.send_text_message, params, settings.concurrency)
