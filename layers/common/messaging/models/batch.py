"""What every batch carries, and what a channel function answers. Each channel's own message and
batch models live in its module (messaging.channels.<name>).

These cross a Lambda invoke as JSON, so they are the contract between the functions.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from messaging.models.response import ChannelFailure


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


class BatchResult(BaseModel):
    """A channel function's answer: only the users that did not get the message, with their codes.

    Strict on purpose: an answer without `failures` (a runtime's error object, say) must never
    read as "everybody got it".
    """

    model_config = ConfigDict(extra="forbid")

    failures: list[ChannelFailure]
