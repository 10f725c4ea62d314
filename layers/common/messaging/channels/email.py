"""E-mail through Amazon SES v2 `SendEmail`, one message per user (To = the user, CC/BCC shared).

Without attachments the message goes as Simple content (HTML and its text alternative); with
attachments as raw MIME, the attachments read from S3 once per batch and encoded once.
"""

from __future__ import annotations

from email.message import EmailMessage as MimeMessage
from email.policy import SMTP
from email.utils import formatdate
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from messaging.channels.common import DeliveryReport, aws_reason, deliver_all
from messaging.models.batch import EmailAttachment, EmailBatch, EmailMessage
from messaging.models.response import Failure
from messaging.plaintext import html_to_text


def _text(message: EmailMessage) -> str:
    return message.text if message.text is not None else html_to_text(message.html or "")


def _simple(message: EmailMessage) -> dict[str, Any]:
    body: dict[str, Any] = {"Text": {"Data": _text(message), "Charset": "UTF-8"}}
    if message.html is not None:
        body["Html"] = {"Data": message.html, "Charset": "UTF-8"}
    return {"Simple": {"Subject": {"Data": message.subject, "Charset": "UTF-8"}, "Body": body}}


def attachment_part(attachment: EmailAttachment, data: bytes) -> MimeMessage:
    """Encoded once, attached to every message of the batch."""
    maintype, _, subtype = attachment.contentType.partition("/")
    part = MimeMessage(policy=SMTP)
    # A non-ASCII file name is written RFC 2231-encoded by the email package.
    part.set_content(
        data,
        maintype=maintype or "application",
        subtype=subtype or "octet-stream",
        disposition="attachment",
        filename=attachment.name,
    )
    return part


def raw_mime(batch: EmailBatch, message: EmailMessage, parts: list[MimeMessage]) -> bytes:
    """The policy refuses CR/LF in any header value, so nothing can inject a header."""
    mime = MimeMessage(policy=SMTP)
    mime["From"] = batch.sender
    mime["To"] = message.to
    if batch.cc:
        mime["Cc"] = ", ".join(batch.cc)  # BCC only goes in the envelope, never in a header
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(usegmt=True)
    mime.set_content(_text(message))
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    if parts:
        mime.make_mixed()
        for part in parts:
            mime.attach(part)
    return mime.as_bytes()


def _read_attachments(batch: EmailBatch, s3: Any, bucket: str) -> list[MimeMessage]:
    return [
        attachment_part(attachment, s3.get_object(Bucket=bucket, Key=attachment.key)["Body"].read())
        for attachment in batch.attachments
    ]


def send_batch(batch: EmailBatch, ses: Any, concurrency: int, s3: Any = None, bucket: str = "") -> DeliveryReport:
    parts: list[MimeMessage] = []
    if batch.attachments:
        try:
            if s3 is None or not bucket:
                raise ValueError("no attachments bucket is configured (ATTACHMENTS_BUCKET)")
            parts = _read_attachments(batch, s3, bucket)
        except (ClientError, BotoCoreError, ValueError) as exc:
            reason = f"attachments unavailable: {aws_reason(exc) if not isinstance(exc, ValueError) else exc}"
            return DeliveryReport([Failure(userId=m.userId, channel="email", error=reason) for m in batch.messages])

    def deliver(message: EmailMessage) -> str | None:
        destination = {"ToAddresses": [message.to], "CcAddresses": batch.cc, "BccAddresses": batch.bcc}
        content = {"Raw": {"Data": raw_mime(batch, message, parts)}} if parts else _simple(message)
        try:
            ses.send_email(FromEmailAddress=batch.sender, Destination=destination, Content=content)
        except (ClientError, BotoCoreError) as exc:
            return aws_reason(exc)
        return None

    return deliver_all("email", batch.messages, deliver, concurrency)
