"""Running one segment: its users rendered into batches (new ones, and started ones resumed under
their first `batchId`, as resume.py places each user), the batches sent (batches.py), then the
segment finished with its skipped and unsent users, once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from messaging.audience import Audience
from messaging.dispatch import Batch, BatchBuilder
from messaging.errors import BadRequest
from messaging.models.common import Channel
from messaging.models.function_settings import SendSettings
from messaging.models.response import Failure, FailureCode, SkipReason
from messaging.observability import logger, record_segment, record_skips
from messaging.sends.batches import BatchJob, BatchSender
from messaging.sends.keys import batch_id, legacy_batch_id
from messaging.sends.persistence.objects import Job
from messaging.sends.persistence.store import SendStore
from messaging.sends.resume import Checkpoints, Placement, interrupted_failures, read_checkpoints
from messaging.sends.states import BatchState, SendRecord
from messaging.service import USER_NOT_FOUND
from messaging.store import Store
from messaging.templates.compose import Composer, texts_from_json
from messaging.templates.renderer import Renderer

# A resumed batch is rebuilt as one payload, however large: it must go under its first batchId.
_RESUMED_MAX_MESSAGES = 10_000
_RESUMED_MAX_BYTES = 5_000_000


def composer_of(job: Job, renderer: Renderer) -> Composer:
    try:
        return Composer(
            texts_from_json(job.texts),
            job.request.channels,
            job.request.data,
            renderer,
            transactional=job.transactional,
        )
    except BadRequest as exc:  # checked before the 202: only a changed engine could refuse now
        raise RuntimeError(f"the accepted texts no longer compile: {exc.message}") from exc


@dataclass
class SegmentWork:
    """What rendering a segment leaves: its batches, and its users that need none."""

    jobs: list[BatchJob] = field(default_factory=list)
    unsent: list[Failure] = field(default_factory=list)
    skipped: Counter[Channel] = field(default_factory=Counter)
    skipped_by: Counter[tuple[Channel, str]] = field(default_factory=Counter)


class SegmentBatches:
    """The segment's batches being filled: new ones numbered after the checkpointed, and each
    started one rebuilt under its first batchId."""

    def __init__(
        self,
        send_id: str,
        segment: int,
        settings: SendSettings,
        envelopes: Mapping[Channel, Mapping[str, Any]],
        checkpoints: Checkpoints,
        batch_limits: Mapping[Channel, int],
    ) -> None:
        self._send_id, self._segment, self._checkpoints = send_id, segment, checkpoints
        self._function_names = {channel: settings.function_name(channel) for channel in checkpoints.next_number}
        self._numbers = dict(checkpoints.next_number)
        self._numbered: dict[str, int] = {}
        self._new = BatchBuilder(
            envelopes,
            self._function_names,
            max_messages=settings.batch_max_messages,
            max_bytes=settings.batch_max_bytes,
            batch_id=self._new_id,
            channel_max_messages=batch_limits,
        )
        self._resumed = {
            (state.channel, state.number): BatchBuilder(
                {state.channel: envelopes[state.channel]},
                {state.channel: self._function_names[state.channel]},
                max_messages=_RESUMED_MAX_MESSAGES,
                max_bytes=_RESUMED_MAX_BYTES,
                batch_id=partial(self._fixed_id, state),
            )
            for state in checkpoints.unfinished
        }
        self._rendered: dict[tuple[Channel, int], set[str]] = {key: set() for key in self._resumed}

    def _id(self, channel: Channel, number: int) -> str:
        made = batch_id(self._send_id, self._segment, channel, number)
        self._numbered[made] = number
        return made

    def _fixed_id(self, state: BatchState, _: Channel) -> str:
        """A started batch's first id: the legacy spelling if an earlier release checkpointed it."""
        if not state.legacy_id:
            return self._id(state.channel, state.number)
        made = legacy_batch_id(self._send_id, self._segment, state.channel, state.number)
        self._numbered[made] = state.number
        return made

    def _new_id(self, channel: Channel) -> str:
        number = self._numbers[channel]
        self._numbers[channel] += 1
        return self._id(channel, number)

    def add(self, channel: Channel, user_id: str, message: Any, resumed: int | None) -> None:
        if resumed is None:
            self._new.add(channel, user_id, message)
            return
        self._resumed[(channel, resumed)].add(channel, user_id, message)
        self._rendered[(channel, resumed)].add(user_id)

    def jobs(self) -> list[BatchJob]:
        """The resumed batches first (each with its users' known failures), then the new ones."""
        jobs: list[BatchJob] = []
        for state in self._checkpoints.unfinished:
            key = (state.channel, state.number)
            batches = self._resumed[key].batches()
            overflow = [user_id for extra in batches[1:] for user_id in extra.user_ids]
            gone = interrupted_failures(state, self._rendered[key], overflow)
            if batches:
                batch = batches[0]
                batch.user_ids = list(state.user_ids)  # counted as checkpointed
            else:
                function_name = self._function_names[state.channel]
                batch = Batch.of(state.channel, function_name, b"{}", list(state.user_ids), "")
                batch.batch_id = self._fixed_id(state, state.channel)
            jobs.append(BatchJob(batch, state.number, new=False, known=gone))
        jobs += [BatchJob(batch, self._numbered[batch.batch_id], new=True) for batch in self._new.batches()]
        return jobs


@dataclass
class SegmentRun:
    """One segment of one send, rendered and sent by one invocation."""

    send_id: str
    segment: int
    record: SendRecord
    settings: SendSettings
    store: Store
    renderer: Renderer
    sends: SendStore
    sender: Callable[[bool], BatchSender]  # the batch sender, given whether the send is transactional

    def dispatch(self, remaining_s: Callable[[], float]) -> bool:
        """True when every user of the segment is accounted for on every channel."""
        job = self.sends.objects.get_job(self.send_id)
        user_ids = self.sends.objects.get_segment(self.send_id, self.record.plan, self.segment)
        checkpoints = read_checkpoints(job.request.channels, self.sends.segments.batches(self.send_id, self.segment))
        if not (checkpoints.done or checkpoints.unfinished) and self.sends.cancels.requested(self.send_id):
            return self._cancel_untouched(job, user_ids)
        sender = self.sender(job.transactional)
        batches = SegmentBatches(
            self.send_id, self.segment, self.settings, job.envelopes, checkpoints, sender.pacer.batch_limits()
        )
        work = self._render(job, user_ids, checkpoints, batches)
        work.jobs = batches.jobs()
        logger.info(
            "dispatching segment",
            extra={
                "sendId": self.send_id,
                "segment": self.segment,
                "users": len(user_ids),
                "batches": len(work.jobs),
                "resumed": len(checkpoints.unfinished),
                "done": checkpoints.done,
            },
        )
        if not sender.run(work.jobs, remaining_s):
            return False
        cancelled = Counter[Channel]()
        for never in sender.cancelled:
            cancelled[never.batch.channel] += len(never.batch.user_ids)
        if self.sends.segments.finish(
            self.send_id, self.segment, work.skipped, work.unsent, reasons=work.skipped_by, cancelled=cancelled
        ):
            record_skips(work.skipped_by)
            record_segment(work.skipped, work.unsent, job.request.channels)
        return True

    def _cancel_untouched(self, job: Job, user_ids: list[str]) -> bool:
        """A segment no batch of which started before the cancel: every user counts `cancelled`."""
        cancelled = Counter(dict.fromkeys(job.request.channels, len(user_ids)))
        self.sends.segments.finish(self.send_id, self.segment, {}, [], cancelled=cancelled)
        return True

    def _render(self, job: Job, user_ids: list[str], checkpoints: Checkpoints, batches: SegmentBatches) -> SegmentWork:
        channels = job.request.channels
        composer = composer_of(job, self.renderer)
        work = SegmentWork()
        audience = Audience(self.store, self.settings.service, user_ids, None)
        for recipient in audience:
            user_id = recipient.user_id
            made = len(composer.failures)
            try:
                messages = dict(composer.messages(recipient))
            except BadRequest as exc:
                reason = f"not sent: {exc.message}"[:1000]
                work.unsent += [
                    Failure(userId=user_id, channel=channel, error=reason, code=FailureCode.NOT_ATTEMPTED)
                    for channel in channels
                    if user_id not in checkpoints.accounted[channel]
                ]
                continue
            # A user whose own document renders too large on a channel fails there, as in a synchronous send.
            refused = {failure.channel: failure for failure in composer.failures[made:]}
            for channel in channels:
                placement, number = checkpoints.place(channel, user_id)
                message = messages.get(channel)
                if placement is Placement.DONE or (placement is Placement.RESUMED and message is None):
                    continue
                if message is not None:
                    batches.add(channel, user_id, message, number)
                elif channel in refused:
                    work.unsent.append(refused[channel])
                else:
                    work.skipped[channel] += 1
                    reason = composer.skip_reason(recipient, channel) or SkipReason.NO_ADDRESS
                    work.skipped_by[(channel, reason)] += 1
        work.unsent += [
            Failure(userId=user_id, channel=channel, error=USER_NOT_FOUND, code=FailureCode.USER_NOT_FOUND)
            for user_id in audience.missing_ids
            for channel in channels
            if user_id not in checkpoints.accounted[channel]
        ]
        return work
