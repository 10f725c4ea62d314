"""E-mail through Amazon SES v2 `SendEmail`, one message per user (To = the user, CC/BCC shared)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from messaging.channels.common import aws_reason, deliver_all
from messaging.models.batch import EmailBatch, EmailMessage
from messaging.models.response import Failure


def _content(message: EmailMessage) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if message.html is not None:
        body["Html"] = {"Data": message.html, "Charset": "UTF-8"}
    if message.text is not None:
        body["Text"] = {"Data": message.text, "Charset": "UTF-8"}
    return {"Simple": {"Subject": {"Data": message.subject, "Charset": "UTF-8"}, "Body": body}}


def send_batch(batch: EmailBatch, ses: Any, concurrency: int) -> list[Failure]:
    def deliver(message: EmailMessage) -> str | None:
        destination = {"ToAddresses": [message.to], "CcAddresses": batch.cc, "BccAddresses": batch.bcc}
        try:
            ses.send_email(FromEmailAddress=batch.sender, Destination=destination, Content=_content(message))
        except (ClientError, BotoCoreError) as exc:
            return aws_reason(exc)
        return None

    return deliver_all("email", batch.messages, deliver, concurrency)
