"""A send's lifecycle events, as plain data: which transitions are announced, under which
EventBridge detail-type, and the `detail` each carries (built from the send's record only, so an
event never says more than GET /sends/{sendId} does, and never a user's address, number, token or
text).

`eventId` is the same for the same send and transition whoever announces it and however often, so
a consumer dedupes a retried announcement by it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from messaging.sends.states import SendRecord, SendState

# The announced transitions (running and cancelling are steps within one, not outcomes).
DETAIL_TYPES: dict[SendState, str] = {
    SendState.ACCEPTED: "Send Accepted",
    SendState.SCHEDULED: "Send Scheduled",
    SendState.COMPLETED: "Send Completed",
    SendState.FAILED: "Send Failed",
    SendState.CANCELLED: "Send Cancelled",
}
REFUSED = "Send Refused"  # a queued request the HTTP API would have refused (no send, no record)
REQUESTED = "Send Requested"  # an event whose `detail` is a /send body, forwarded to the intake queue


def event_id(subject: str, transition: str) -> str:
    """Deterministic per send (or refused message) and transition."""
    return hashlib.sha256(f"{subject}\n{transition}".encode()).hexdigest()[:32]


def send_detail(record: SendRecord, status: SendState) -> dict[str, Any]:
    """The `detail` of `record`'s transition to `status` (read after that transition)."""
    detail: dict[str, Any] = {
        "eventId": event_id(record.send_id, status),
        "sendId": record.send_id,
        "status": str(status),
        "reference": record.reference,
        "correlationId": record.correlation_id,
        "synchronous": record.synchronous,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "completedAt": record.completed_at
        if status in (SendState.COMPLETED, SendState.FAILED, SendState.CANCELLED)
        else None,
        "sendAt": record.send_at,
        "audience": record.audience,
        "notFound": record.not_found,
        "channels": {channel: record.channel_counts(channel) for channel in record.channels},
    }
    return detail


def refused_detail(
    subject: str, status_code: int, message: str, reference: str | None, correlation_id: str | None, at: str
) -> dict[str, Any]:
    """A refused queued request: the status and message the HTTP API would have answered, never its body."""
    return {
        "eventId": event_id(subject, REFUSED),
        "sendId": None,
        "status": "refused",
        "statusCode": status_code,
        "message": message[:1000],
        "reference": reference,
        "correlationId": correlation_id,
        "createdAt": at,
    }
