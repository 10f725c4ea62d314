"""The payloads SendFunction invokes the channel functions with, and what they answer.

These cross a Lambda invoke as JSON, so they are the contract between the functions.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from messaging.models.response import Failure


class EmailMessage(BaseModel):
    userId: str
    to: str
    subject: str
    text: str | None = None
    html: str | None = None


class EmailAttachment(BaseModel):
    """A file staged in the attachments bucket for this request."""

    name: str
    key: str
    contentType: str
    size: int


class Envelope(BaseModel):
    """What every batch carries besides its messages."""

    correlationId: str | None = None  # the API request's, so one request's lines join up
    # Unique per batch (SendFunction sets it): the channel function sends a batchId once.
    batchId: str | None = Field(default=None, min_length=1, max_length=64)


class EmailBatch(Envelope):
    channel: Literal["email"] = "email"
    sender: str
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list)
    attachments: list[EmailAttachment] = Field(default_factory=list)
    messages: list[EmailMessage]


class SmsMessage(BaseModel):
    userId: str
    phoneNumber: str
    text: str


class SmsBatch(Envelope):
    channel: Literal["sms"] = "sms"
    sender: str | None = None
    messages: list[SmsMessage]


class PushMessage(BaseModel):
    userId: str
    token: str
    title: str
    body: str
    subtitle: str | None = None
    data: dict[str, str] = Field(default_factory=dict)
    # FCM v1 blocks from the template's pushData; they win over the derived fields.
    android: dict[str, Any] | None = None
    apns: dict[str, Any] | None = None


class PushBatch(Envelope):
    channel: Literal["push"] = "push"
    androidIntentAction: str | None = None
    messages: list[PushMessage]


class BatchResult(BaseModel):
    """A channel function's answer: only the users that did not get the message.

    Strict on purpose: an answer without `failures` (a runtime's error object, say) must never
    read as "everybody got it".
    """

    model_config = ConfigDict(extra="forbid")

    failures: list[Failure]
