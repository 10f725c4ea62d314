"""How a send ends: `completed` once every segment is done, `failed` if a dispatcher gave up.

Lambda gives up on a DispatchFunction event (its retries exhausted, or too old): its on-failure
destination's record names the event. A planning event given up before the send was planned ends it
`failed` at once (nobody is pending yet). A segment's: that segment and the ones its chain would have
started (every `SEGMENT_PARALLEL`-th after it; the whole send for the planning event) are claimed
and done with their pending users listed as failures (`not attempted`, or `unknown` for a started
batch's, which may have left); the other segments finish, and then the send ends `failed`. A
cancelling send ends `cancelled` all the same (the states table): its users nobody attempted count
`cancelled`.
"""

from __future__ import annotations

import uuid
from collections import Counter

from messaging.models.common import Channel
from messaging.models.response import Failure, FailureCode
from messaging.observability import logger, record_batch, record_segment
from messaging.sends.persistence.store import SendStore
from messaging.sends.states import SegmentClaim, SendRecord, SendState

GAVE_UP_UNSENT = "not attempted: the dispatcher gave up"
GIVE_UP_LEASE_S = 900
STALLED = "the segment made no progress in a whole invocation (rendering slower than the time it had)"
STALLED_UNSENT = f"not attempted: {STALLED}"


def finish_if_done(sends: SendStore, send_id: str) -> None:
    """Once every segment is accounted for: completed, failed if a dispatcher gave up, cancelled if
    a cancel was recorded (decided again when a cancel lands between the read and the write)."""
    for _ in range(2):
        record = sends.records.get(send_id)
        if record is None or record.status not in (SendState.RUNNING, SendState.CANCELLING):
            return
        if record.segments_done < record.segments:
            return
        status = SendState.FAILED if record.reason else SendState.COMPLETED
        if record.status == SendState.CANCELLING:
            status = SendState.CANCELLED  # cancelling moves only there, whatever gave up meanwhile
        if sends.records.finish(send_id, status):
            logger.info(f"send {status}", extra={"sendId": send_id})
            sends.expiry.keep(send_id)  # its items expire from its end
            sends.announce(send_id, status)
            return


def give_up(
    sends: SendStore,
    segment_parallel: int,
    send_id: str,
    segment: int | None,
    reason: str,
    dead_owner: str | None = None,
) -> None:
    """Lambda gave up on an event: the users still pending in that segment's chain (or in the
    whole send, for the planning event) are listed as failures; the other segments finish, and
    then the send ends `failed`. `dead_owner`: the request id of the invocation given up on (every
    try of an event has the same): a segment it still leases (killed without cleanup: out of
    memory, a timeout) is taken over, not left `running` until its lease ends."""
    record = sends.records.get(send_id)
    if record is None or record.over:
        return
    logger.error("dispatcher gave up", extra={"sendId": send_id, "segment": segment, "reason": reason[:300]})
    reason = f"the dispatcher gave up: {reason}"
    if record.status in (SendState.ACCEPTED, SendState.SCHEDULED) or record.segments == 0:
        # Before planning (or cancelled then): nobody is pending yet.
        if ended := sends.records.fail(send_id, reason):
            sends.announce(send_id, ended)
        sends.expiry.keep(send_id)
        return
    sends.records.note_gave_up(send_id, reason)
    chain = range(record.segments) if segment is None else range(segment, record.segments, segment_parallel)
    for number in chain:
        _abandon(sends, record, number, reason, dead_owner)
    finish_if_done(sends, send_id)


def stalled(sends: SendStore, send_id: str, segment: int) -> None:
    """A continuation that counted no batch: its segment done with its pending users failed, and
    the send `failed` once the other segments finish (it starts no further continuation)."""
    record = sends.records.get(send_id)
    if record is None or record.over:
        return
    logger.error("segment stalled", extra={"sendId": send_id, "segment": segment})
    sends.records.note_gave_up(send_id, STALLED)
    _abandon(sends, record, segment, STALLED, unsent_error=STALLED_UNSENT)
    finish_if_done(sends, send_id)


def _abandon(
    sends: SendStore,
    record: SendRecord,
    segment: int,
    reason: str,
    dead_owner: str | None = None,
    unsent_error: str = GAVE_UP_UNSENT,
) -> None:
    send_id, channels = record.send_id, record.channels
    owner = f"give-up-{uuid.uuid4()}"
    claim = sends.segments.claim(send_id, segment, owner, GIVE_UP_LEASE_S, dead_owner=dead_owner)
    if claim != SegmentClaim.CLAIMED:
        return  # done, or held by a live dispatcher that will finish it
    user_ids = sends.objects.get_segment(send_id, record.plan, segment)
    accounted: dict[Channel, set[str]] = {channel: set() for channel in channels}
    for state in sends.segments.batches(send_id, segment):
        accounted[state.channel].update(state.user_ids)
        if not state.done:
            unknown = f"unknown: {state.channel} batch interrupted, the dispatcher gave up ({reason})"[:1000]
            failures = [
                Failure(userId=u, channel=state.channel, error=unknown, code=FailureCode.UNKNOWN)
                for u in state.user_ids
            ]
            if sends.segments.finish_batch(
                send_id, segment, state.channel, state.number, len(state.user_ids), failures
            ):
                record_batch(state.channel, len(state.user_ids), failures)
    if sends.cancels.requested(send_id):
        # A cancel kept them from being attempted, not the dispatcher's death: they count `cancelled`.
        cancelled = Counter({channel: sum(1 for u in user_ids if u not in accounted[channel]) for channel in channels})
        sends.segments.finish(send_id, segment, {}, [], cancelled=cancelled)
        return
    unsent = [
        Failure(userId=user_id, channel=channel, error=unsent_error, code=FailureCode.NOT_ATTEMPTED)
        for user_id in user_ids
        for channel in channels
        if user_id not in accounted[channel]
    ]
    if sends.segments.finish(send_id, segment, {}, unsent):
        record_segment({}, unsent, channels)
