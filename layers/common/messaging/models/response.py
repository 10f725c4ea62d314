"""What POST /send answers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from messaging.models.common import Channel
from messaging.redact import redact
from messaging.sends.states import SendState


class FailureCode:
    """The machine-readable kinds of failure besides the providers' own error codes
    (`MessageRejected`, `UNREGISTERED`, `OptedOut`...): metrics count by code, never by text."""

    USER_NOT_FOUND = "UserNotFound"
    UNKNOWN = "Unknown"  # perhaps sent, perhaps not: a retry could send twice
    FUNCTION_FAILED = "ChannelFunctionFailed"
    NOT_ATTEMPTED = "NotAttempted"
    TOO_LARGE = "MessageTooLarge"
    OPTED_OUT = "OptedOut"  # the provider refused: the user opted out (a skip unless transactional)
    OTHER = "Other"
    # A paced batch that reached its channel function past its slot: handed back unsent, and paced
    # again by its dispatcher (never an answer of the API).
    LATE = "Late"


class SkipReason:
    """Why a user got nothing on a channel without it being a failure."""

    NO_ADDRESS = "noAddress"
    OPTED_OUT = "optedOut"  # the user's optOuts name the channel (and the message is not transactional)
    STALE_TOKEN = "staleToken"  # noqa: S105 - a reason name; push: the token was reported stale, unchanged


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


# The models of the preview and status routes are built by the first request that answers with
# them (pydantic's defer_build), not at SendFunction's cold start: POST /send never needs them.
_ROUTE_ONLY = ConfigDict(defer_build=True)


class PreviewMessage(BaseModel):
    """One user's message on one channel, as the channel function would receive it."""

    model_config = _ROUTE_ONLY

    userId: str
    channel: Channel
    message: dict[str, Any]
    locale: str | None = Field(default=None, description="the locale variant the user gets; null: the base texts")


class PreviewSkip(BaseModel):
    """A user rendered who would get nothing on a channel, and why (noAddress, optedOut, staleToken)."""

    model_config = _ROUTE_ONLY

    userId: str
    channel: Channel
    reason: str = Field(examples=["optedOut"])


class PreviewResponse(BaseModel):
    model_config = _ROUTE_ONLY

    audience: int = Field(description="users the request resolves to (all of them, not only those rendered)")
    audienceComplete: bool = Field(
        default=True,
        description="false when counting stopped before the end of the audience (the deadline, or "
        "PREVIEW_COUNT_LIMIT users): `audience` is then a lower bound",
    )
    messages: list[PreviewMessage] = Field(default_factory=list)
    skipped: list[PreviewSkip] = Field(
        default_factory=list, description="the rendered users who would get nothing on a channel, and why"
    )
    failures: list[Failure] = Field(
        default_factory=list, description="the rendered users whose message cannot be made (too large)"
    )
    truncated: bool = Field(
        default=False,
        description="true when the messages stopped before `limit` users: the answer reached its size bound",
    )
    sendAt: str | None = Field(
        default=None,
        description="when the send would run, ISO 8601, UTC: the request's `sendAt`, checked as /send checks it; "
        "null for now. The audience shown is today's: a scheduled send resolves it when it runs",
        examples=["2026-12-07T08:00:00Z"],
    )


class ErrorResponse(BaseModel):
    """The seed's error shape: nothing was sent. The message names the field or the cause, and never
    quotes the body."""

    statusCode: str = Field(description="the HTTP status, as text", examples=["400"])
    error: str = Field(description="the HTTP reason phrase", examples=["Bad Request"])
    message: str = Field(examples=["recipients or clusters is required (non-empty)"])


# The API spells a send's status inline, as the enum of its values (the states are messaging.sends.states').
_SEND_STATE_SCHEMA = WithJsonSchema({"type": "string", "enum": [state.value for state in SendState]})


class SendAccepted(BaseModel):
    """`Prefer: respond-async`: the send is checked and recorded; follow it at `Location`."""

    sendId: str = Field(examples=["4f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b"])
    status: Literal["accepted"] = Field(default="accepted", examples=["accepted"])


class SendScheduled(BaseModel):
    """`sendAt` ahead: the send is checked and recorded, and runs at `sendAt`; follow it at `Location`,
    cancel it with DELETE there."""

    sendId: str = Field(examples=["4f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b"])
    status: Literal["scheduled"] = Field(default="scheduled", examples=["scheduled"])
    sendAt: str = Field(description="ISO 8601, UTC", examples=["2026-12-07T08:00:00Z"])


class ChannelCounts(BaseModel):
    """sent + failed + skipped + pending + cancelled = audience + notFound, at every moment. `noAddress`,
    `optedOut` and `staleToken` say why some were skipped (they add up to skipped); `delivered`,
    `bounced`, `complained` and `undelivered` what became of sent messages, as far as the providers'
    delivery events have told (they arrive seconds to days after the send)."""

    model_config = _ROUTE_ONLY

    sent: int = Field(description="handed to the provider and accepted", examples=[6300])
    failed: int = Field(description="listed in the failures (`unknown: ...` included)", examples=[0])
    skipped: int = Field(description="not attempted: no address, opted out or a stale token", examples=[12])
    pending: int = Field(description="not handled yet", examples=[18688])
    cancelled: int = Field(default=0, description="not attempted: the send was cancelled", examples=[0])
    noAddress: int = Field(default=0, description="of skipped: the user has no address for the channel", examples=[9])
    optedOut: int = Field(default=0, description="of skipped: the user opted out of the channel", examples=[3])
    staleToken: int = Field(
        default=0, description="of skipped (push): the device token was reported stale and is unchanged", examples=[0]
    )
    delivered: int = Field(default=0, description="of sent: the provider reported delivery", examples=[6100])
    bounced: int = Field(default=0, description="of sent (e-mail): bounced; listed in the failures", examples=[4])
    complained: int = Field(
        default=0, description="of sent (e-mail): marked as spam; listed in the failures", examples=[0]
    )
    undelivered: int = Field(
        default=0,
        description="of sent (SMS, voice): the carrier reported it not delivered; listed in the failures",
        examples=[0],
    )


class SendStatus(BaseModel):
    model_config = _ROUTE_ONLY

    sendId: str = Field(examples=["4f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b"])
    status: Annotated[SendState, _SEND_STATE_SCHEMA] = Field(title="Status", examples=["running"])
    createdAt: str = Field(description="ISO 8601, UTC", examples=["2026-11-28T09:00:00Z"])
    updatedAt: str = Field(description="ISO 8601, UTC", examples=["2026-11-28T09:00:40Z"])
    completedAt: str | None = Field(default=None, description="ISO 8601, UTC, once over", examples=[None])
    sendAt: str | None = Field(default=None, description="a scheduled send's time, ISO 8601, UTC", examples=[None])
    audience: int = Field(description="users found (0 until the audience is resolved)", examples=[25000])
    notFound: int = Field(description="recipients that name no user", examples=[0])
    channels: dict[str, ChannelCounts] = Field(description="the counts of each requested channel")
    reference: str | None = Field(default=None, description="the request's `reference`", examples=["order-2026-000123"])


class FailuresPage(BaseModel):
    model_config = _ROUTE_ONLY

    failures: list[Failure] = Field(description="in a stable order, as the synchronous answer has them")
    nextToken: str | None = Field(
        default=None, description="pass it back for the next page; null on the last", examples=["eyJzIjoxMDB9"]
    )
