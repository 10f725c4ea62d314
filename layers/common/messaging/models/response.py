"""What POST /send answers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from messaging.models.common import Channel
from messaging.redact import redact


class Failure(BaseModel):
    """One user on one channel that did not get the message, with the reason. The reason is masked
    where it is made: a provider may name the address it refused, and failures are answered, logged,
    traced and kept in idempotency records."""

    userId: str
    channel: Channel
    error: Annotated[str, AfterValidator(redact)]


class SendResponse(BaseModel):
    failures: list[Failure] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The seed's error shape: nothing was sent."""

    statusCode: str = Field(examples=["400"])
    error: str = Field(examples=["Bad Request"])
    message: str


SendState = Literal["accepted", "running", "completed", "failed"]


class SendAccepted(BaseModel):
    """`Prefer: respond-async`: the send is checked and recorded; follow it at `Location`."""

    sendId: str
    status: Literal["accepted"] = "accepted"


class ChannelCounts(BaseModel):
    """sent + failed + skipped + pending = audience + notFound, at every moment."""

    sent: int
    failed: int
    skipped: int
    pending: int


class SendStatus(BaseModel):
    sendId: str
    status: SendState
    createdAt: str
    updatedAt: str
    completedAt: str | None = None
    audience: int = Field(description="users found (0 until the audience is resolved)")
    notFound: int = Field(description="recipients that name no user")
    channels: dict[str, ChannelCounts]


class FailuresPage(BaseModel):
    failures: list[Failure]
    nextToken: str | None = None
