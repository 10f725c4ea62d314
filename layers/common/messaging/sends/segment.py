"""Running one segment: its users rendered into batches (new ones, and started ones resumed under
their first `batchId`, as resume.py places each user), the batches sent (batches.py), then the
segment finished with its skipped and unsent users, once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from messaging.audience import Audience, Recipient
from messaging.errors import BadRequest
from messaging.models.common import Channel
from messaging.models.function_settings import SendSettings
from messaging.models.response import Failure, FailureCode, SkipReason
from messaging.observability import logger, record_segment, record_skips
from messaging.sends.batches import BatchJob, BatchSender
from messaging.sends.persistence.objects import Job
from messaging.sends.persistence.store import SendStore
from messaging.sends.resume import Checkpoints, Placement, read_checkpoints
from messaging.sends.segment_batches import SegmentBatches
from messaging.sends.states import SendRecord
from messaging.service import USER_NOT_FOUND
from messaging.store import Store
from messaging.templates.compose import Composer, texts_from_json
from messaging.templates.errors import RenderDeadlineError
from messaging.templates.renderer import Renderer


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


# The first part of a segment's invocation, in bytes of rendered messages (a few hundred e-mails):
# sending starts as soon as they are rendered, not once the whole render budget is.
FIRST_PART_BYTES = 256 * 1024


@dataclass(frozen=True)
class Dispatched:
    finished: bool  # every user of the segment is accounted for on every channel
    progressed: bool  # this invocation counted a batch (or finished the segment)


@dataclass
class SegmentRun:
    """One segment of one send, rendered and sent by one invocation: a part at a time, each part
    sent while the next renders, the two within RENDER_BUDGET_BYTES of rendered messages, and
    bounded by the deadline (rendering stops with 2 x DISPATCH_MARGIN_S left: the second margin sends
    what was rendered). The users of started batches come first, in the first part."""

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
        channels = job.request.channels
        work = SegmentWork()

        def render_part(checkpoints: Checkpoints, budget: int) -> tuple[SegmentBatches, bool]:
            batches = SegmentBatches(
                self.send_id, self.segment, self.settings, job.envelopes, checkpoints, sender.pacer.batch_limits()
            )
            # A started batch goes again whole, under its first batchId: its users all in the first part.
            self._render(composer, channels, resumed_users, checkpoints, batches, work, None, budget)
            if self._cancel_seen(sender):
                # No new user is rendered after the cancel is recorded: they count `cancelled`.
                self._cancel_rest(channels, user_ids, resumed, audiences[1], checkpoints, work)
                return batches, True
            # A render cannot be interrupted from Python: past the render stop, its next catalogue
            # helper call ends it, and the user goes again in the continuation.
            with self.renderer.deadline(max(0.0, remaining_s() - self._render_stop_s)):
                done = self._render(composer, channels, new_users, checkpoints, batches, work, remaining_s, budget)
            return batches, done

        # Each part is sent while the next renders (its users read from the store meanwhile): the
        # first part is small, so that the first messages leave at once, and each next one up to twice
        # as large, so that rendering keeps ahead of sending; the part being sent and the one being
        # rendered hold the render budget between them (plus the user that crosses it), and a part
        # that holds it all is sent before the next renders.
        limit = self.settings.render_budget_bytes
        budget = min(FIRST_PART_BYTES, limit)
        batches, complete = render_part(checkpoints, budget)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="segment-send") as background:
            while True:
                jobs, held = batches.jobs(), batches.held_bytes
                self._log_part(user_ids, jobs, checkpoints, complete)
                sending = background.submit(sender.run, jobs, remaining_s)
                following: tuple[SegmentBatches, bool] | None = None
                if not complete:
                    checkpoints = checkpoints.after(batches.next_numbers())
                    budget = min(budget * 2, limit)
                if not complete and held < limit and not self._no_time_to_render(sender, remaining_s, work):
                    try:
                        following = render_part(checkpoints, min(budget, limit - held))
                    except BaseException:
                        wait([sending])  # nothing of this invocation goes on sending after it ended
                        raise
                if not sending.result():
                    return self._unfinished(done_before)
                if complete:
                    break
                if following is None:
                    if self._no_time_to_render(sender, remaining_s, work):
                        return self._unfinished(done_before)
                    following = render_part(checkpoints, budget)
                batches, complete = following
        return self._finish(job, audiences, checkpoints, sender, work)

    def _unfinished(self, done_before: int) -> Dispatched:
        done_now = sum(state.done for state in self.sends.segments.batches(self.send_id, self.segment))
        return Dispatched(finished=False, progressed=done_now > done_before)

    def _log_part(
        self, user_ids: Sequence[str], jobs: Sequence[BatchJob], checkpoints: Checkpoints, complete: bool
    ) -> None:
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

    def _finish(
        self, job: Job, audiences: Sequence[Audience], checkpoints: Checkpoints, sender: BatchSender, work: SegmentWork
    ) -> Dispatched:
        """Every user is accounted for: the segment's skipped and unsent users recorded, once."""
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
        budget: int,
    ) -> bool:
        """Renders users into `batches` until none is left (True), or the part holds `budget` bytes or
        the deadline is near (False); with no `remaining_s`, every user, whatever the budget."""
        while True:
            if remaining_s is not None and (batches.held_bytes >= budget or remaining_s() < self._render_stop_s):
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
