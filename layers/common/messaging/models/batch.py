"""What every batch carries, and what a channel function answers. Each channel's own message and
batch models live in its module (messaging.channels.<name>).

These cross a Lambda invoke as JSON, so they are the contract between the functions.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from messaging.models.response import ChannelFailure, FailureCode

# The error of a paced batch's messages handed back unsent: they reached their channel function
# past their slot (Envelope.sendBy), and their dispatcher paces them again (messaging.sends.batches).
LATE_ERROR = FailureCode.LATE


def is_late(error: str) -> bool:
    return error.startswith(f"{LATE_ERROR}:")


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
    # The send the batch belongs to (synchronous or asynchronous): tagged on every message so that
    # the provider's delivery events find their way back to GET /sends/{sendId}.
    sendId: str | None = Field(default=None, min_length=1, max_length=64)
    # A transactional message goes to users who opted out of the channel's marketing (a receipt, a
    # password reset): no unsubscribe headers, and a provider's opt-out is a failure, not a skip.
    transactional: bool = False
    # The message's category (`newsletter`): an e-mail's one-click unsubscribe topic.
    category: str | None = None
    # Sent at a pace (the channel's rate is set): a throttled provider call is answered throttled,
    # not retried by the channel function, so that the dispatcher sends it again within the pace.
    paced: bool = False
    # A paced batch's slot (epoch seconds, messaging.rate_control.LEAD_MS): its messages wait for
    # `sendAt`, and the batch is handed back unsent (`Late`) if it arrives after `sendBy`.
    sendAt: float | None = Field(default=None, allow_inf_nan=False)
    sendBy: float | None = Field(default=None, allow_inf_nan=False)


class BatchResult(BaseModel):
    """A channel function's answer: only the users that did not get the message, with their codes.

    Strict on purpose: an answer without `failures` (a runtime's error object, say) must never
    read as "everybody got it". Only `failures` says whom the batch reached: a field a newer channel
    function adds (during a deploy or a rollback) is ignored, and a throttle count that makes no
    sense counts as none, rather than leaving every user's outcome unknown.
    """

    model_config = ConfigDict(extra="ignore")

    failures: list[ChannelFailure]
    # Provider calls answered "too fast" while sending it (retried ones included): the pace adapts.
    throttled: int = Field(default=0, ge=0)

    # A paced batch: how long after its slot's start the function was ready to send it (negative:
    # before, and it waited); the dispatcher's lead adapts to it (messaging.rate_control.Lead).
    slotLagMs: float | None = Field(default=None, allow_inf_nan=False)

    @field_validator("throttled", "slotLagMs", mode="wrap")
    @classmethod
    def _advisory(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        """Advice to the pace: a value that makes no sense is its default, never an unreadable answer."""
        try:
            return handler(value)
        except ValidationError:
            return cls.model_fields[str(info.field_name)].default
