"""SMS through Amazon SNS `Publish` to the user's E.164 number, as transactional messages."""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from messaging.channels.common import DeliveryReport, aws_reason, deliver_all
from messaging.models.batch import SmsBatch, SmsMessage
from messaging.models.common import E164_PATTERN

_E164 = re.compile(E164_PATTERN)


def _attributes(sender: str | None) -> dict[str, dict[str, str]]:
    attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
    if sender:
        # A number sends as origination number, a name as alphanumeric sender id.
        key = "AWS.MM.SMS.OriginationNumber" if _E164.match(sender) else "AWS.SNS.SMS.SenderID"
        attributes[key] = {"DataType": "String", "StringValue": sender}
    return attributes


def send_batch(batch: SmsBatch, sns: Any, concurrency: int) -> DeliveryReport:
    attributes = _attributes(batch.sender)

    def deliver(message: SmsMessage) -> str | None:
        # Refuse what is not E.164 before SNS: a malformed number must not become a paid attempt.
        if not _E164.match(message.phoneNumber):
            return "InvalidParameter: phone number is not in E.164 format"
        try:
            sns.publish(PhoneNumber=message.phoneNumber, Message=message.text, MessageAttributes=attributes)
        except (ClientError, BotoCoreError) as exc:
            return aws_reason(exc)
        return None

    return deliver_all("sms", batch.messages, deliver, concurrency)
