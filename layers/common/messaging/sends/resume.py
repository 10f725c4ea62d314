"""Resuming a segment, decided from its batches' checkpoints alone (no I/O: plain data in and out).

A segment run again (a Lambda retry, a continuation, a second dispatcher after a lease ran out)
finds its batches checkpointed: a done batch's users are accounted for on its channel and are not
sent again; a started batch is invoked again under the same `batchId` (its channel function
answers what the first attempt did, and never sends twice) with those of its users who still
render; everyone else goes in new batches, numbered after the checkpointed ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from messaging.models.common import Channel
from messaging.models.response import Failure, FailureCode
from messaging.sends.states import BatchState


class Placement(Enum):
    NEW = "new"  # not in any checkpointed batch: a new batch
    RESUMED = "resumed"  # in a started batch: that batch again, same batchId
    DONE = "done"  # in a done batch: nothing more on this channel


@dataclass
class Checkpoints:
    """What one segment's checkpoints say, per channel."""

    accounted: dict[Channel, set[str]]  # users in a checkpointed batch (started or done)
    started_of: dict[tuple[Channel, str], int]  # (channel, user) -> the number of its unfinished batch
    next_number: dict[Channel, int]  # the number a new batch of the channel gets first
    unfinished: list[BatchState] = field(default_factory=list)
    done: int = 0

    def place(self, channel: Channel, user_id: str) -> tuple[Placement, int | None]:
        """Where a user goes on a channel: (NEW, None), (RESUMED, the batch's number) or (DONE, None)."""
        number = self.started_of.get((channel, user_id))
        if number is not None:
            return Placement.RESUMED, number
        if user_id in self.accounted[channel]:
            return Placement.DONE, None
        return Placement.NEW, None

    def after(self, next_number: dict[Channel, int]) -> Checkpoints:
        """The checkpoints a segment's next part is placed by: its started batches were resumed in
        the first part; its new batches are numbered after the parts sent before."""
        return Checkpoints(accounted=self.accounted, started_of={}, next_number=next_number, done=self.done)


def read_checkpoints(channels: Sequence[Channel], states: Sequence[BatchState]) -> Checkpoints:
    checkpoints = Checkpoints(
        accounted={channel: set() for channel in channels},
        started_of={},
        next_number=dict.fromkeys(channels, 0),
    )
    for state in states:
        checkpoints.accounted[state.channel].update(state.user_ids)
        checkpoints.next_number[state.channel] = max(checkpoints.next_number[state.channel], state.number + 1)
        if state.done:
            checkpoints.done += 1
        else:
            checkpoints.unfinished.append(state)
            for user_id in state.user_ids:
                checkpoints.started_of[(state.channel, user_id)] = state.number
    return checkpoints


def interrupted_failures(state: BatchState, rendered: set[str], overflow: Sequence[str]) -> list[Failure]:
    """A started batch's users that cannot go under its `batchId` again, `unknown` (its first attempt
    may have reached them): those no longer found or rendered, and those whose messages no longer fit
    in its one payload (`overflow`: their documents changed since)."""
    gone = [
        Failure(
            userId=user_id,
            channel=state.channel,
            error=f"unknown: {state.channel} batch interrupted and the user is no longer found",
            code=FailureCode.UNKNOWN,
        )
        for user_id in state.user_ids
        if user_id not in rendered
    ]
    changed = "unknown: the batch changed since its first attempt"
    return gone + [
        Failure(userId=user_id, channel=state.channel, error=f"{changed} ({state.channel})", code=FailureCode.UNKNOWN)
        for user_id in overflow
    ]
