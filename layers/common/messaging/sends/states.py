"""The states of a send and of its parts, and the records read back from the sends table.

A send (the `send` item's `status`; the API answers the same values):

    state      | reached from         | when
    -----------+----------------------+------------------------------------------------------------
    accepted   | (new)                | SendFunction checked the request and kept it (202), or a
               |                      | synchronous send opened its record before its first batch
    running    | accepted             | one planning attempt wrote its segments and won the
               |                      | conditional write (the others' segments are never read)
    completed  | accepted, running    | every segment is done (a synchronous send: its answer is in)
               | (new)                | a synchronous send recorded without its record opened first
    failed     | accepted, running    | DispatchFunction was not invoked, Lambda gave up on an event
               |                      | (the pending users listed as failures), or a synchronous
               |                      | send broke while sending
    scheduled  | (new)                | accepted with a `sendAt` ahead: EventBridge Scheduler fires
               |                      | DispatchFunction then (its audience resolved only at that time)
    cancelling | accepted, running    | DELETE /sends/{sendId}: no batch starts after it
    cancelled  | scheduled, cancelling| DELETE of a scheduled send (at once), or the last segment of a
               |                      | cancelling send accounted for (what was not attempted counts
               |                      | `cancelled`)
    terminal: completed, failed, cancelled (nothing moves a send out of them)

A segment (`seg#<k>`, running sends only) is leased by one dispatcher at a time (`owner`,
`leaseUntil`): claiming answers `claimed`, `busy` (another live dispatcher holds it) or `done`.
Out of time, the holder releases it and launches a continuation of itself. A segment is `done`
once every user is accounted for on every channel; a give-up makes it done with its pending users
as failures. A batch (`batch#...`) is `started` (its users checkpointed before the invoke) and done
once its name is in its segment's `applied` set (its counts added, once).

A provider's delivery event of one message is `recorded`, a `duplicate` (recorded before, or taken
back by a later outcome), or of an `unknown` (or expired) send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from messaging.models.common import Channel


class SendState(StrEnum):
    """A send's status, as stored and as GET /sends/{sendId} answers it."""

    ACCEPTED = "accepted"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SCHEDULED = "scheduled"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


# Each state and the states it may move to; None is a send with no record yet.
TRANSITIONS: Mapping[SendState | None, frozenset[SendState]] = MappingProxyType(
    {
        None: frozenset({SendState.ACCEPTED, SendState.COMPLETED, SendState.SCHEDULED}),
        SendState.ACCEPTED: frozenset({SendState.RUNNING, SendState.COMPLETED, SendState.FAILED, SendState.CANCELLING}),
        SendState.RUNNING: frozenset({SendState.COMPLETED, SendState.FAILED, SendState.CANCELLING}),
        SendState.COMPLETED: frozenset(),
        SendState.FAILED: frozenset(),
        SendState.SCHEDULED: frozenset({SendState.RUNNING, SendState.CANCELLED, SendState.FAILED}),
        SendState.CANCELLING: frozenset({SendState.CANCELLED}),
        SendState.CANCELLED: frozenset(),
    }
)
TERMINAL: frozenset[SendState] = frozenset(state for state, onward in TRANSITIONS.items() if state and not onward)


def may_move(current: SendState | None, target: SendState) -> bool:
    return target in TRANSITIONS[current]


def sources(target: SendState) -> frozenset[SendState]:
    """The states a send may reach `target` from (what a conditional write checks)."""
    return frozenset(state for state, onward in TRANSITIONS.items() if state is not None and target in onward)


class SegmentClaim(StrEnum):
    CLAIMED = "claimed"  # this dispatcher holds the lease
    BUSY = "busy"  # another live dispatcher holds it
    DONE = "done"  # every user of the segment is accounted for


class EventVerdict(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"  # its marker is there: delivered again, or taken back by a later outcome
    UNKNOWN = "unknown"  # no such send, or its record expired


# A segment item's and a batch checkpoint's `status` values.
SEGMENT_DONE = "done"
BATCH_STARTED = "started"

COUNTERS = ("sent", "failed", "skipped")
CANCELLED = "cancelled"  # the counter of messages a cancel left unattempted (0 unless cancelled)
# Parts of `skipped` (why) and of `sent` (what became of it, from the providers' delivery events).
DETAILS = ("noAddress", "optedOut", "staleToken", "delivered", "bounced", "complained", "undelivered")


@dataclass(frozen=True)
class SendRecord:
    send_id: str
    status: SendState
    scope: str
    channels: list[Channel]
    created_at: str
    updated_at: str
    completed_at: str | None
    audience: int
    not_found: int
    segments: int
    segments_done: int
    counts: dict[Channel, dict[str, int]]  # the send's own (users not found) plus its segments'
    updated_at_segments: str | None = None
    reason: str | None = None
    plan: str = ""  # the committed planning attempt; "" for a send planned before attempts had prefixes
    send_at: str | None = None  # a scheduled send's time (ISO 8601, UTC)
    synchronous: bool = False  # answered by its request (not cancellable)
    reference: str | None = None  # the caller's own, echoed in its status and events
    correlation_id: str | None = None

    @property
    def over(self) -> bool:
        return self.status in TERMINAL

    @property
    def sent_nothing(self) -> bool:
        """An asynchronous send that failed before its audience was planned (its request was answered
        503, or its dispatcher never ran). A synchronous one has no plan and may have sent everything."""
        return self.status == SendState.FAILED and not (self.synchronous or self.plan or self.segments)

    def channel_counts(self, channel: Channel) -> dict[str, int]:
        counts = self.counts.get(channel, {})
        sent, failed, skipped = (counts.get(name, 0) for name in COUNTERS)
        cancelled = counts.get(CANCELLED, 0)
        pending = max(0, self.audience + self.not_found - sent - failed - skipped - cancelled)
        details = {name: counts.get(name, 0) for name in DETAILS}
        return {
            "sent": sent,
            "failed": failed,
            "skipped": skipped,
            "pending": pending,
            "cancelled": cancelled,
            **details,
        }


@dataclass
class BatchState:
    """A batch's checkpoint: started with its users; done once its counts were added."""

    channel: Channel
    number: int
    done: bool
    user_ids: list[str] = field(default_factory=list)
    legacy_id: bool = False  # checkpointed by a release whose batch ids were `<send>-<k>-<c><n>`
