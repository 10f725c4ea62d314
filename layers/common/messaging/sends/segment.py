"""Running one segment: its users rendered into batches (new ones, and started ones resumed under
their first `batchId`, as resume.py places each user), the batches sent (batches.py), then the
segment finished with its skipped and unsent users, once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from messaging.audience import Audience, Recipient
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
from messaging.templates.errors import RenderDeadlineError
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
            category=job.category,
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
    cancelled: Counter[Channel] = field(default_factory=Counter)  # users a cancel kept from being attempted
    placed: set[str] = field(default_factory=set)  # users rendered (or skipped) by this invocation
    out_of_time: bool = False  # a render ran past the render stop: no further part in this invocation


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
        # a channel with a batch limit is paced (messaging.pacing): its channel function leaves
        # throttled calls to the dispatcher
        envelopes = {ch: {**env, "paced": True} if ch in batch_limits else env for ch, env in envelopes.items()}
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

    @property
    def held_bytes(self) -> int:
        """The rendered messages this part holds (uncompressed JSON)."""
        return self._new.rendered_bytes + sum(builder.rendered_bytes for builder in self._resumed.values())

    def next_numbers(self) -> dict[Channel, int]:
        return dict(self._numbers)

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


@dataclass(frozen=True)
class Dispatched:
    finished: bool  # every user of the segment is accounted for on every channel
    progressed: bool  # this invocation counted a batch (or finished the segment)


@dataclass
class SegmentRun:
    """One segment of one send, rendered and sent by one invocation: a part at a time, each part
    bounded by RENDER_BUDGET_BYTES of rendered messages and by the deadline (rendering stops with
    2 x DISPATCH_MARGIN_S left: the second margin sends what was rendered), and sent before the
    next is rendered. The users of started batches come first, in the first part."""

    send_id: str
    segment: int
    record: SendRecord
    settings: SendSettings
    store: Store
    renderer: Renderer
    sends: SendStore
    sender: Callable[[bool], BatchSender]  # the batch sender, given whether the send is transactional

    def dispatch(self, remaining_s: Callable[[], float]) -> Dispatched:
        job = self.sends.objects.get_job(self.send_id)
        user_ids = self.sends.objects.get_segment(self.send_id, self.record.plan, self.segment)
        checkpoints = read_checkpoints(job.request.channels, self.sends.segments.batches(self.send_id, self.segment))
        done_before = checkpoints.done
        sender = self.sender(job.transactional)
        composer = composer_of(job, self.renderer)
        resumed = {user_id for state in checkpoints.unfinished for user_id in state.user_ids}
        audiences = [
            Audience(self.store, self.settings.service, [u for u in user_ids if u in resumed], None),
            Audience(self.store, self.settings.service, [u for u in user_ids if u not in resumed], None),
        ]
        resumed_users, new_users = iter(audiences[0]), iter(audiences[1])
        work = SegmentWork()
        while True:
            batches = SegmentBatches(
                self.send_id, self.segment, self.settings, job.envelopes, checkpoints, sender.pacer.batch_limits()
            )
            channels = job.request.channels
            # A started batch goes again whole, under its first batchId: its users all in the first part.
            self._render(composer, channels, resumed_users, checkpoints, batches, work, None)
            if self._cancel_seen(sender):
                # No new user is rendered after the cancel is recorded: they count `cancelled`.
                complete = True
                self._cancel_rest(channels, user_ids, resumed, audiences[1], checkpoints, work)
            else:
                # A render cannot be interrupted from Python: past the render stop, its next catalogue
                # helper call ends it, and the user goes again in the continuation.
                with self.renderer.deadline(max(0.0, remaining_s() - self._render_stop_s)):
                    complete = self._render(composer, channels, new_users, checkpoints, batches, work, remaining_s)
            jobs = batches.jobs()
            logger.info(
                "dispatching segment",
                extra={
                    "sendId": self.send_id,
                    "segment": self.segment,
                    "users": len(user_ids),
                    "batches": len(jobs),
                    "resumed": len(checkpoints.unfinished),
                    "done": checkpoints.done,
                    "complete": complete,
                },
            )
            if not sender.run(jobs, remaining_s) or (
                not complete and self._no_time_to_render(sender, remaining_s, work)
            ):
                done_now = sum(state.done for state in self.sends.segments.batches(self.send_id, self.segment))
                return Dispatched(finished=False, progressed=done_now > done_before)
            if complete:
                break
            checkpoints = checkpoints.after(batches.next_numbers())
        work.unsent += [
            Failure(userId=user_id, channel=channel, error=USER_NOT_FOUND, code=FailureCode.USER_NOT_FOUND)
            for audience in audiences
            for user_id in audience.missing_ids
            for channel in job.request.channels
            if user_id not in checkpoints.accounted[channel]
        ]
        for never in sender.cancelled:  # rendered, but a cancel kept the batch from starting
            work.cancelled[never.batch.channel] += len(never.batch.user_ids)
        if self.sends.segments.finish(
            self.send_id, self.segment, work.skipped, work.unsent, reasons=work.skipped_by, cancelled=work.cancelled
        ):
            record_skips(work.skipped_by)
            record_segment(work.skipped, work.unsent, job.request.channels)
        return Dispatched(finished=True, progressed=True)

    def _no_time_to_render(self, sender: BatchSender, remaining_s: Callable[[], float], work: SegmentWork) -> bool:
        """Too little time left for another part, unless a cancel came: the next part renders nobody
        then (its users count `cancelled`), so this invocation finishes the segment."""
        out_of_time = work.out_of_time or remaining_s() < self._render_stop_s
        return out_of_time and not self._cancel_seen(sender)

    def _cancel_seen(self, sender: BatchSender) -> bool:
        """Whether the send's cancel is recorded: read once a part, until it says yes."""
        return bool(sender.cancelled) or self.sends.cancels.requested(self.send_id)

    @staticmethod
    def _cancel_rest(
        channels: Sequence[Channel],
        user_ids: Sequence[str],
        resumed: set[str],
        audience: Audience,
        checkpoints: Checkpoints,
        work: SegmentWork,
    ) -> None:
        """The users this invocation has not rendered (nor found missing) count `cancelled` on each
        channel where no checkpointed batch holds them."""
        missing = set(audience.missing_ids)
        rest = [u for u in user_ids if u not in resumed and u not in work.placed and u not in missing]
        for channel in channels:
            work.cancelled[channel] += sum(1 for u in rest if u not in checkpoints.accounted[channel])

    @property
    def _render_stop_s(self) -> float:
        return 2 * self.settings.dispatch_margin_s

    def _render(
        self,
        composer: Composer,
        channels: Sequence[Channel],
        recipients: Iterator[Recipient],
        checkpoints: Checkpoints,
        batches: SegmentBatches,
        work: SegmentWork,
        remaining_s: Callable[[], float] | None,
    ) -> bool:
        """Renders users into `batches` until none is left (True), or the part is full or the
        deadline near (False); with no `remaining_s`, every user, whatever the budget."""
        while True:
            if remaining_s is not None and (
                batches.held_bytes >= self.settings.render_budget_bytes or remaining_s() < self._render_stop_s
            ):
                return False
            recipient = next(recipients, None)
            if recipient is None:
                return True
            try:
                self._place(composer, channels, recipient, checkpoints, batches, work)
            except RenderDeadlineError:
                if remaining_s is None:
                    raise  # a resumed batch's user: rendered whatever the time (no deadline is set then)
                work.out_of_time = True  # this user is not placed: the continuation renders them
                return False
            work.placed.add(recipient.user_id)

    def _place(
        self,
        composer: Composer,
        channels: Sequence[Channel],
        recipient: Recipient,
        checkpoints: Checkpoints,
        batches: SegmentBatches,
        work: SegmentWork,
    ) -> None:
        """One user's messages into batches, or their skips and failures into `work`."""
        user_id = recipient.user_id
        places = {channel: checkpoints.place(channel, user_id)[0] for channel in channels}
        reasons = {c: composer.skip_reason(recipient, c) for c in channels if places[c] is not Placement.DONE}
        if all(reasons.values()):
            # Nothing to render (or done before, in a continuation): only the skips, counted again.
            for channel, why in reasons.items():
                if places[channel] is Placement.NEW:
                    work.skipped[channel] += 1
                    work.skipped_by[(channel, why or SkipReason.NO_ADDRESS)] += 1
            return
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
            return
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
