"""What POST /send answers."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from messaging.models.common import Channel
from messaging.redact import redact


class FailureCode:
    """The machine-readable kinds of failure besides the providers' own error codes
    (`MessageRejected`, `UNREGISTERED`, `OptedOut`...): metrics count by code, never by text."""

    USER_NOT_FOUND = "UserNotFound"
    UNKNOWN = "Unknown"  # perhaps sent, perhaps not: a retry could send twice
    FUNCTION_FAILED = "ChannelFunctionFailed"
    NOT_ATTEMPTED = "NotAttempted"
    TOO_LARGE = "MessageTooLarge"
    OTHER = "Other"


class Failure(BaseModel):
    """One user on one channel that did not get the message, with the reason. The reason is masked
    where it is made: a provider may name the address it refused, and failures are answered, logged,
    traced and kept in idempotency records. `code` is the reason's kind, for metrics and logs: it
    is never part of the API's answer (`userId`, `channel`, `error` only)."""

    userId: str = Field(examples=["u1"])
    channel: Channel
    error: Annotated[
        str,
        AfterValidator(redact),
        Field(
            description="the provider's reason (`UNREGISTERED: ...`, `MessageRejected: ...`), `user not found`, "
            "`<channel> function failed: ...` or `not attempted: deadline` (safe to send again), or "
            "`unknown: ...` (the user may have the message: do not blindly resend)",
            examples=["user not found"],
        ),
    ]
    code: str = Field(default=FailureCode.OTHER, exclude=True, max_length=64)


class ChannelFailure(Failure):
    """A failure as a channel function answers it to SendFunction (and as its batch record keeps
    it): with its code, so that SendFunction's metrics need not read the reason."""

    code: str = Field(default=FailureCode.OTHER, max_length=64)


class SendResponse(BaseModel):
    """Sending ran: every user who did not get the message on a channel is listed once per channel.
    A user without an address for a channel is skipped on it silently."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "failures": [
                        {"userId": "nobody", "channel": "email", "error": "user not found"},
                        {"userId": "u3", "channel": "push", "error": "UNREGISTERED: Requested entity was not found."},
                    ]
                }
            ]
        }
    )

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
    """The seed's error shape: nothing was sent. The message names the field or the cause, and never
    quotes the body."""

    statusCode: str = Field(description="the HTTP status, as text", examples=["400"])
    error: str = Field(description="the HTTP reason phrase", examples=["Bad Request"])
    message: str = Field(examples=["recipients or clusters is required (non-empty)"])
