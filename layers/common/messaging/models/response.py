"""What POST /send answers."""

from __future__ import annotations

from typing import Annotated, Any

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


class PreviewMessage(BaseModel):
    """One user's message on one channel, as the channel function would receive it."""

    userId: str
    channel: Channel
    message: dict[str, Any]


class PreviewResponse(BaseModel):
    audience: int = Field(description="users the request resolves to (all of them, not only those rendered)")
    messages: list[PreviewMessage] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The seed's error shape: nothing was sent."""

    statusCode: str = Field(examples=["400"])
    error: str = Field(examples=["Bad Request"])
    message: str
