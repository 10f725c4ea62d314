"""What POST /send answers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from messaging.models.common import Channel


class Failure(BaseModel):
    """One user on one channel that did not get the message, with the reason."""

    userId: str
    channel: Channel
    error: str


class SendResponse(BaseModel):
    failures: list[Failure] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The seed's error shape: nothing was sent."""

    statusCode: str = Field(examples=["400"])
    error: str = Field(examples=["Bad Request"])
    message: str
