"""E-mail through Amazon SES v2 `SendEmail`, one message per user (To = the user, CC/BCC shared).

Without attachments the message goes as Simple content (HTML and its text alternative); with
attachments as raw MIME, the attachments read from S3 once per batch and encoded once: each
message is its own headers and body followed by the same pre-encoded bytes. Large messages lower
the calls in flight so that they fit the function's memory.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from email.message import EmailMessage as MimeMessage
from email.message import MIMEPart
from email.policy import SMTP
from email.utils import formatdate
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from messaging.addresses import recipient_problem
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


# Per SendEmail call in flight botocore holds the raw message, its base64 (a str), the JSON body
# (a str) and that body encoded. bench/email_memory.py measured 4.3x to 6.1x the raw bytes per
# extra call in flight (20.6 MB raw for a 15 MB attachment): the worst of them.
IN_FLIGHT_FACTOR = 6
MB = 1024 * 1024


@dataclass(frozen=True)
class SharedParts:
    """The batch's attachments as MIME, encoded once: every message ends with these same bytes."""

    boundary: str
    tail: bytes  # each attachment part after its delimiter, then the closing delimiter


def attachment_part(attachment: EmailAttachment, data: bytes) -> bytes:
    """One attachment as a MIME body part (headers and base64 body), encoded once per batch."""
    maintype, _, subtype = attachment.contentType.partition("/")
    part = MIMEPart(policy=SMTP)
    # A non-ASCII file name is written RFC 2231-encoded by the email package.
    part.set_content(
        data,
        maintype=maintype or "application",
        subtype=subtype or "octet-stream",
        disposition="attachment",
        filename=attachment.name,
    )
    return part.as_bytes()


def shared_parts(encoded: list[bytes]) -> SharedParts:
    # "=_" never occurs in base64 or quoted-printable text; the random rest in no rendered body either.
    boundary = f"=_messaging_{uuid.uuid4().hex}"
    delimiter = f"--{boundary}\r\n".encode()
    tail = b"".join(delimiter + part + b"\r\n" for part in encoded) + f"--{boundary}--\r\n".encode()
    return SharedParts(boundary, tail)


def raw_mime(batch: EmailBatch, message: EmailMessage, to: str, shared: SharedParts) -> bytes:
    """The per-message headers and body, built by the email package (the policy refuses CR/LF in
    any header value, so nothing can inject a header), then the batch's pre-encoded attachments."""
    mime = MimeMessage(policy=SMTP)
    mime["From"] = batch.sender
    mime["To"] = to
    if batch.cc:
        mime["Cc"] = ", ".join(batch.cc)  # BCC only goes in the envelope, never in a header
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(usegmt=True)
    mime.set_content(_text(message))
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    mime.make_mixed()
    mime.set_boundary(shared.boundary)
    head = mime.as_bytes()
    closing = f"--{shared.boundary}--\r\n".encode()
    if not head.endswith(closing) or head.count(shared.boundary.encode()) != 3:
        raise ValueError("the message body collides with the MIME boundary")  # never with a random one
    return head[: -len(closing)] + shared.tail


def _read_attachments(batch: EmailBatch, s3: Any, bucket: str) -> SharedParts:
    encoded = [
        attachment_part(attachment, s3.get_object(Bucket=bucket, Key=attachment.key)["Body"].read())
        for attachment in batch.attachments
    ]
    return shared_parts(encoded)


def concurrency_for(configured: int, message_bytes: int, budget_bytes: int | None) -> int:
    """How many SendEmail calls fit in the memory budget at once: at least one, at most `configured`."""
    if budget_bytes is None:
        return configured
    return max(1, min(configured, budget_bytes // (IN_FLIGHT_FACTOR * max(message_bytes, 1))))


def _largest_message(batch: EmailBatch, shared: SharedParts) -> int:
    """An upper bound of one raw message's size: the shared tail, the body in at most base64 twice."""
    body = max((len((m.text or "").encode()) + len((m.html or "").encode()) for m in batch.messages), default=0)
    return len(shared.tail) + 2 * body + 16 * 1024


def send_batch(
    batch: EmailBatch,
    ses: Any,
    concurrency: int,
    s3: Any = None,
    bucket: str = "",
    memory_budget: int | None = None,
) -> DeliveryReport:
    """`memory_budget` (bytes) bounds the raw messages in flight: `concurrency` drops for large ones."""
    shared: SharedParts | None = None
    if batch.attachments:
        try:
            if s3 is None or not bucket:
                raise ValueError("no attachments bucket is configured (ATTACHMENTS_BUCKET)")
            shared = _read_attachments(batch, s3, bucket)
        except (ClientError, BotoCoreError, ValueError) as exc:
            reason = f"attachments unavailable: {aws_reason(exc) if not isinstance(exc, ValueError) else exc}"
            return DeliveryReport([Failure(userId=m.userId, channel="email", error=reason) for m in batch.messages])
        budget = None if memory_budget is None else memory_budget - len(shared.tail)
        concurrency = concurrency_for(concurrency, _largest_message(batch, shared), budget)

    def deliver(message: EmailMessage) -> str | None:
        to, problem = recipient_problem(message.to)
        if problem is not None:
            return problem  # SES has no SMTPUTF8: decided here, never sent
        destination = {"ToAddresses": [to], "CcAddresses": batch.cc, "BccAddresses": batch.bcc}
        content = {"Raw": {"Data": raw_mime(batch, message, to, shared)}} if shared else _simple(message)
        try:
            ses.send_email(FromEmailAddress=batch.sender, Destination=destination, Content=content)
        except (ClientError, BotoCoreError) as exc:
            return aws_reason(exc)
        return None

    return deliver_all("email", batch.messages, deliver, concurrency)
