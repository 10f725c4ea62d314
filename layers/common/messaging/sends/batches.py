"""Sending a segment's batches to the channel functions: in parallel, paced per channel, each
checkpointed `started` before its invoke and counted once after; throttled messages go again in a
batch of their own (`<batchId>-r<n>`) after an exponential backoff. A batch without the time to
finish is left `started`: the segment's continuation invokes it again under the same id."""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from messaging.channels.once import duplicate_reason
from messaging.dispatch import Batch, Invoker, _run
from messaging.models.batch import BatchResult, is_late
from messaging.models.common import Channel
from messaging.models.function_settings import SendSettings
from messaging.models.response import Failure, FailureCode, SkipReason
from messaging.observability import count, logger, record_batch, record_skips
from messaging.preferences import UserPreferences
from messaging.rate_control import HAND_BACK_MS, Slot
from messaging.sends.keys import late_batch_id, retry_batch_id
from messaging.service import provider_opt_outs, remember_opt_outs

# Every answer a paced batch's channel function leaves to this pace (messaging.throttles.AWS_CODES,
# FCM's 429 however its body reads): a reason matched by neither would be tried only once.
_THROTTLED = re.compile(r"^(Throttl\w*|TooManyRequests\w*|QUOTA_EXCEEDED|RESOURCE_EXHAUSTED|HTTP ?429)\b")
THROTTLE_BACKOFF_S = 0.5
THROTTLE_BACKOFF_MAX_S = 20.0
# A resumed batch whose first attempt may still be running: asked again this often, this far apart.
IN_PROGRESS_CHECKS = 6
IN_PROGRESS_PAUSE_S = 5.0
# Times a batch handed back late is paced again before it goes whatever its delay: a channel function
# whose clock runs ahead would otherwise hand every batch back.
HAND_BACKS = 2


def is_throttled(error: str) -> bool:
    return bool(_THROTTLED.match(error))


class Checkpoints(Protocol):
    """Where batches are checkpointed (messaging.sends.persistence.segments.Segments)."""

    def start_batch(self, send_id: str, segment: int, channel: Channel, number: int, user_ids: list[str]) -> bool: ...

    def finish_batch(
        self,
        send_id: str,
        segment: int,
        channel: Channel,
        number: int,
        users: int,
        failures: Sequence[Failure],
        *,
        opted_out: int = 0,
    ) -> bool: ...


class Pace(Protocol):
    """The channels' pace (messaging.pacing.Pacer)."""

    def batch_limits(self) -> Mapping[Channel, int]: ...

    def acquire(
        self, channel: Channel, count: int, left_s: Callable[[], float], margin_s: float
    ) -> Slot | None: ...  # None: out of time

    def record(self, channel: Channel, messages: int, throttled: int, paced_at: float | None = None) -> None: ...

    def ready_after(self, channel: Channel, needed_ms: float) -> None: ...


class OutOfTimeError(Exception):
    """This invocation has no time left for the batch: a continuation takes it over."""


@dataclass
class BatchJob:
    batch: Batch
    number: int  # the batch's number in its segment and channel (its checkpoint's)
    new: bool  # False: a started batch resumed under its first batchId
    known: list[Failure] = field(default_factory=list)  # its users' failures known before the invoke


@dataclass
class BatchSender:
    """One segment's batches. The collaborators are the dispatcher's (tests replace them there)."""

    send_id: str
    segment: int
    settings: SendSettings
    segments: Checkpoints
    invoker: Invoker
    pacer: Pace
    sleep: Callable[[float], None]
    preferences: UserPreferences | None
    invokes: Counter[str]
    transactional: bool = False
    # Whether the send's cancel is recorded (messaging.sends.cancel): read before each new batch.
    cancel_requested: Callable[[], bool] = lambda: False
    cancelled: list[BatchJob] = field(default_factory=list)  # new batches a cancel kept from starting
    _out_of_time: list[str] = field(default_factory=list)

    def run(self, jobs: Sequence[BatchJob], remaining_s: Callable[[], float]) -> bool:
        """True when every batch was counted; False: the rest is for a continuation."""
        deadline = time.monotonic() + remaining_s()

        def left() -> float:
            return deadline - time.monotonic()

        limit = self.settings.max_parallel_invokes
        pending: set[Future[None]] = set()
        pool = ThreadPoolExecutor(max_workers=limit)
        stopped = False
        try:
            for job in jobs:
                while len(pending) >= limit:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
                if left() < self.settings.dispatch_margin_s:
                    stopped = True
                    break
                if job.new and self._cancelled():
                    self.cancelled.append(job)  # never started: its users count `cancelled`
                    continue
                pending.add(pool.submit(self._one, job, left))
            done, pending = wait(pending)
            for future in done:
                future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if stopped or self._out_of_time:
            logger.info(
                "segment continues in a new invocation",
                extra={"sendId": self.send_id, "segment": self.segment, "waiting": len(self._out_of_time)},
            )
        return not (stopped or self._out_of_time)

    def _cancelled(self) -> bool:
        """Read until it says yes (a cancel is never taken back)."""
        if not self.cancelled:
            return self.cancel_requested()
        return True

    def _one(self, job: BatchJob, left: Callable[[], float]) -> None:
        batch = job.batch
        if job.new and not self.segments.start_batch(
            self.send_id, self.segment, batch.channel, job.number, batch.user_ids
        ):
            # Only if this segment's lease ran out under us: leave the batch to whoever holds it now.
            logger.warning("batch already started elsewhere", extra={"batchId": batch.batch_id})
            self._out_of_time.append(batch.batch_id)
            return
        known_ids = {failure.userId for failure in job.known}
        try:
            answered = self._send(batch, resumed=not job.new, left=left)
        except OutOfTimeError:
            # Left `started`: the continuation invokes it again under the same batchId.
            self._out_of_time.append(batch.batch_id)
            return
        failures, opted_out = provider_opt_outs(
            job.known + [failure for failure in answered if failure.userId not in known_ids], self.transactional
        )
        remember_opt_outs(self.preferences, opted_out)
        counted = self.segments.finish_batch(
            self.send_id,
            self.segment,
            batch.channel,
            job.number,
            len(batch.user_ids),
            failures,
            opted_out=len(opted_out),
        )
        if counted:
            record_batch(batch.channel, len(batch.user_ids), failures, len(opted_out))
        if counted and opted_out:
            record_skips({(batch.channel, SkipReason.OPTED_OUT): len(opted_out)})

    def _invoke(self, batch: Batch, left: Callable[[], float], *, resumed: bool = False) -> list[Failure]:
        """One batch's failures once the channel's pace let it go: what its channel function handed
        back late goes again in a slot of its own (`<batchId>-l<n>`), the last time whatever its delay
        (resumed: each attempt once it is no longer in progress)."""
        failures = self._invoke_in_slot(batch, left, hand_back=HAND_BACKS > 0, resumed=resumed)
        for attempt in range(1, HAND_BACKS + 1):
            late = {f.userId for f in failures if is_late(f.error)}
            if not late:
                break
            subset = _subset(batch, late, late_batch_id(batch.batch_id, attempt))
            again = self._invoke_in_slot(subset, left, hand_back=attempt < HAND_BACKS, resumed=resumed)
            failures = [f for f in failures if f.userId not in late] + again
        # Only an answer kept by a deploy that hands back more often (a rollback) says `Late` to the
        # last attempt: its messages were not sent, and `Late` is never a user's final state.
        return [_not_sent_late(f) if is_late(f.error) else f for f in failures]

    def _invoke_in_slot(
        self, batch: Batch, left: Callable[[], float], *, hand_back: bool, resumed: bool
    ) -> list[Failure]:
        slot = self.pacer.acquire(batch.channel, len(batch.user_ids), left, self.settings.dispatch_margin_s)
        if slot is None:
            raise OutOfTimeError(batch.batch_id)
        self.invokes[batch.channel] += 1
        answers: list[BatchResult] = []
        failures = _run(
            _in_slot(batch, slot, hand_back=hand_back),
            self.invoker,
            left,
            self.settings.dispatch_margin_s,
            answers.append,
        )
        if answers:  # only a batch the function answered tells how the provider took it
            sent = len(batch.user_ids) - sum(is_late(f.error) for f in failures)
            self.pacer.record(batch.channel, sent, answers[0].throttled, slot.rate)
            lag_ms = answers[0].slotLagMs
            if slot.start_s is not None and slot.wake_s is not None and lag_ms is not None:
                self.pacer.ready_after(batch.channel, (slot.start_s - slot.wake_s) * 1000 + lag_ms)
        # Resumed: the dispatcher that died may have left this very attempt running.
        return self._while_in_progress(batch, failures, left) if resumed else failures

    def _send(self, batch: Batch, *, resumed: bool, left: Callable[[], float]) -> list[Failure]:
        """One batch's failures, throttled messages sent again with backoff."""
        if batch.batch_id and batch.payload == b"{}":
            return []  # a resumed batch none of whose users renders any more: their failures are known
        failures = self._invoke(batch, left, resumed=resumed)
        margin = self.settings.dispatch_margin_s  # no invoke starts with less left: it could not finish
        for attempt in range(1, self.settings.throttle_retries + 1):
            throttled = {f.userId for f in failures if is_throttled(f.error)}
            if not throttled:
                break
            pause = min(THROTTLE_BACKOFF_MAX_S, THROTTLE_BACKOFF_S * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)  # noqa: S311
            if left() - pause < margin:
                raise OutOfTimeError(batch.batch_id)  # resumed, its retries run again under the same ids
            self.sleep(pause)
            count("ThrottledRetries", len(throttled), channel=batch.channel)
            retry = _subset(batch, throttled, retry_batch_id(batch.batch_id, attempt))
            again = self._invoke(retry, left, resumed=resumed)
            failures = [f for f in failures if f.userId not in throttled] + again
        return failures

    def _while_in_progress(self, batch: Batch, failures: list[Failure], left: Callable[[], float]) -> list[Failure]:
        """The first attempt may still be running: its channel function keeps the answer when done."""
        margin = self.settings.dispatch_margin_s
        checks = 0
        in_progress = duplicate_reason(batch.batch_id)
        while failures and all(f.error == in_progress for f in failures) and checks < IN_PROGRESS_CHECKS:
            if left() - IN_PROGRESS_PAUSE_S < margin:
                break
            checks += 1
            self.sleep(IN_PROGRESS_PAUSE_S)
            failures = _run(batch, self.invoker, left, margin)
        return failures


def _in_slot(batch: Batch, slot: Slot, *, hand_back: bool) -> Batch:
    """The batch as invoked in its slot: its messages wait for the slot's start, and are handed back
    unless they reach the channel function within HAND_BACK_MS of it."""
    if slot.start_s is None:
        return batch
    fields = {"sendAt": slot.start_s} | ({"sendBy": slot.start_s + HAND_BACK_MS / 1000} if hand_back else {})
    payload = b"{" + json.dumps(fields)[1:-1].encode() + b"," + batch.payload.removeprefix(b"{")
    return Batch.of(batch.channel, batch.function_name, payload, batch.user_ids, batch.batch_id)


def _not_sent_late(failure: Failure) -> Failure:
    error = f"not attempted: handed back late {HAND_BACKS + 1} times"
    return Failure(userId=failure.userId, channel=failure.channel, error=error, code=FailureCode.NOT_ATTEMPTED)


def _subset(batch: Batch, user_ids: set[str], batch_id: str) -> Batch:
    payload = json.loads(batch.payload)
    payload["messages"] = [message for message in payload["messages"] if message["userId"] in user_ids]
    payload["batchId"] = batch_id
    kept = [message["userId"] for message in payload["messages"]]
    return Batch.of(batch.channel, batch.function_name, json.dumps(payload).encode(), kept, batch_id)
