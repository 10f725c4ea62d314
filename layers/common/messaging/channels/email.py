"""E-mail through Amazon SES v2 `SendEmail`, one message per user (To = the user, CC/BCC shared).

Without attachments the message goes as Simple content (HTML and its text alternative); with
attachments as raw MIME, the attachments read from S3 once per batch and encoded once: each
message is its own headers and body followed by the same pre-encoded bytes. Large messages lower
the calls in flight so that they fit the function's memory.

A non-transactional message names SES's contact list and topic (`ListManagementOptions`, from
EmailFunction's SES_CONTACT_LIST / SES_CONTACT_TOPIC): SES adds the one-click List-Unsubscribe
headers (RFC 8058), records the unsubscribe, and does not send that topic to an unsubscribed
address again. A transactional one (a receipt, a password reset) carries no unsubscribe link.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from email.message import EmailMessage as MimeMessage
from email.message import MIMEPart
from email.policy import SMTP
from email.utils import formatdate
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from messaging.addresses import SevenBitAddress, recipient_problem
from messaging.channels.base import ChannelSpec, Rendered, ServiceView, Source, Texts
from messaging.channels.common import DeliveryReport, Problem, aws_problem, deliver_all, failures_for, send_problem
from messaging.channels.email_tags import SEND_ID_TAG, USER_ID_TAG, tag_value
from messaging.models.batch import EmailAttachment, Envelope
from messaging.models.common import FileName

if TYPE_CHECKING:
    from messaging.models.request import SendRequest


class EmailMessage(BaseModel):
    userId: str
    to: str
    subject: str
    text: str | None = None
    html: str | None = None


class EmailBatch(Envelope):
    channel: Literal["email"] = "email"
    sender: str
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list)
    attachments: list[EmailAttachment] = Field(default_factory=list)
    messages: list[EmailMessage]


class TemplateAttachment(BaseModel):
    model_config = ConfigDict(extra="allow")

    file: FileName


def _one_line(text: str) -> str:
    # A subject is a header: a line break in it (from data, say) must never start another header.
    return " ".join(text.splitlines()).strip()


class Email(ChannelSpec):
    name = "email"
    user_field = "emailAddress"
    template_fields = MappingProxyType(
        {
            "emailTitle": (str | None, None),
            "emailMessage": (str | None, None),
            "emailHtmlMessage": (str | None, None),
            "emailAttachments": (list[TemplateAttachment], Field(default_factory=list)),
        }
    )
    required = (("emailTitle",), ("emailHtmlMessage", "emailMessage"))
    message_model = EmailMessage
    batch_model = EmailBatch
    sender_type = SevenBitAddress  # IDNA-encoded at start-up; a non-ASCII local part stops it

    def request_texts(self, title: Source, content: Source) -> Texts:
        return {"subject": title, "text": content}

    def template_texts(self, template: BaseModel, template_id: str) -> Texts:
        html = self.template_source(template, template_id, "emailHtmlMessage", html=True)
        return {
            "subject": self.template_source(template, template_id, "emailTitle"),
            "html": html,
            # The HTML body wins over the text one.
            "text": None if html is not None else self.template_source(template, template_id, "emailMessage"),
        }

    def message(self, user_id: str, address: str, rendered: Rendered) -> EmailMessage:
        return EmailMessage(
            userId=user_id,
            to=address,
            subject=_one_line(rendered.get("subject") or ""),
            text=rendered.get("text"),
            html=rendered.get("html"),
        )

    def envelope(self, request: SendRequest, service: ServiceView) -> dict[str, object]:
        return {
            "sender": request.emailSender or service.sender_of(self.name),
            "cc": request.emailCarbonCopies,
            "bcc": request.emailBlindCarbonCopies,
        }

    def attachments(self, request: SendRequest, template: BaseModel | None) -> list[str]:
        from messaging.attachments import merge_names

        stored = getattr(template, "emailAttachments", None) or []
        return merge_names(request.emailAttachments, [attachment.file for attachment in stored])


CHANNEL = Email()


def email_tags(batch: EmailBatch, message: EmailMessage) -> list[dict[str, str]]:
    """What SES returns in the message's delivery events (`mail.tags`): whose message, of which send."""
    tags = []
    for name, value in ((SEND_ID_TAG, batch.sendId), (USER_ID_TAG, message.userId)):
        encoded = tag_value(value) if value else None
        if encoded is not None:
            tags.append({"Name": name, "Value": encoded})
    return tags


def _text(message: EmailMessage) -> str:
    # html.parser is EmailFunction's alone (its app loads it at start): SendFunction reads this module too.
    from messaging.plaintext import html_to_text

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
    list_management: dict[str, str] | None = None,
    configuration_set: str | None = None,
    category_topics: frozenset[str] = frozenset(),
) -> DeliveryReport:
    """`memory_budget` (bytes) bounds the raw messages in flight: `concurrency` drops for large ones.
    Every message names the configuration set (its event destination publishes the delivery
    events) and carries the send and user ids as tags; `list_management` (ContactListName,
    TopicName) goes with every non-transactional message, its topic the message's category when the
    contact list declares one of it (`category_topics`), so an unsubscribe stops that category only."""
    shared: SharedParts | None = None
    options: dict[str, Any] = {}  # every message of the batch
    if configuration_set:
        options["ConfigurationSetName"] = configuration_set
    if list_management and not batch.transactional:
        own = batch.category if batch.category in category_topics else None
        options["ListManagementOptions"] = {**list_management, **({"TopicName": own} if own else {})}
    if batch.attachments:
        try:
            if s3 is None or not bucket:
                raise ValueError("no attachments bucket is configured (ATTACHMENTS_BUCKET)")
            shared = _read_attachments(batch, s3, bucket)
        except (ClientError, BotoCoreError, ValueError) as exc:
            problem = (
                aws_problem(exc) if not isinstance(exc, ValueError) else Problem("AttachmentsUnavailable", str(exc))
            )
            reason = f"attachments unavailable: {problem.reason}"
            return failures_for("email", batch.messages, Problem("AttachmentsUnavailable", reason))
        budget = None if memory_budget is None else memory_budget - len(shared.tail)
        concurrency = concurrency_for(concurrency, _largest_message(batch, shared), budget)

    def deliver(message: EmailMessage) -> Problem | None:
        to, problem = recipient_problem(message.to)
        if problem is not None:
            return Problem("InvalidAddress", problem)  # SES has no SMTPUTF8: decided here, never sent
        destination = {"ToAddresses": [to], "CcAddresses": batch.cc, "BccAddresses": batch.bcc}
        content = {"Raw": {"Data": raw_mime(batch, message, to, shared)}} if shared else _simple(message)
        tags = email_tags(batch, message)
        try:
            ses.send_email(
                FromEmailAddress=batch.sender, Destination=destination, Content=content, EmailTags=tags, **options
            )
        except (ClientError, BotoCoreError) as exc:
            return send_problem(exc)
        return None

    return deliver_all("email", batch.messages, deliver, concurrency)
