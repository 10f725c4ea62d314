"""DispatchFunction's orchestrator: each event to its phase (plan, run a segment, give up), the
segment's lease held around its run, and the next segment or a continuation launched after it.

Each phase is built per call from the Dispatcher's fields, so that what a test replaces on the
Dispatcher (settings, invoker, launcher, sleep) is what the phases use.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from messaging.dispatch import Invoker
from messaging.models.common import Channel
from messaging.models.function_settings import SendSettings
from messaging.observability import count, logger
from messaging.pacing import Pacer
from messaging.preferences import UserPreferences
from messaging.sends.accept import Launcher
from messaging.sends.batches import BatchSender
from messaging.sends.give_up import finish_if_done, give_up, stalled
from messaging.sends.persistence.store import SendStore
from messaging.sends.plan import Planner, segment_size
from messaging.sends.segment import Dispatched, SegmentRun
from messaging.sends.states import SegmentClaim, SendRecord
from messaging.store import Store
from messaging.templates.renderer import Renderer

LEASE_WAIT_S = 30.0
LEASE_EXTRA_S = 5  # a lease outlives its invocation's deadline by this much


@dataclass
class Dispatcher:
    """DispatchFunction's work; every collaborator is injected (tests run it in-process)."""

    settings: SendSettings
    store: Store
    renderer: Renderer
    invoker: Invoker
    launcher: Launcher
    sends: SendStore
    pacer: Pacer
    self_name: str
    sleep: Callable[[float], None] = time.sleep
    # Where a provider's opt-outs are noted (the users' documents); None: not noted.
    preferences: UserPreferences | None = None
    # Counted for the benchmark and the logs.
    invokes: Counter[str] = field(default_factory=Counter)

    def plan(self, send_id: str, correlation_id: str | None) -> None:
        record = Planner(self.settings, self.store, self.sends, self.pacer.batch_limits()).plan(send_id)
        if record is None:
            return
        for segment in range(min(self.settings.segment_parallel, record.segments)):
            self._launch(send_id, segment, correlation_id)

    def segment_size(self, channels: Sequence[Channel]) -> int:
        return segment_size(self.settings, self.pacer.batch_limits(), channels)

    def run_segment(
        self,
        send_id: str,
        segment: int,
        owner: str,
        remaining_s: Callable[[], float],
        correlation_id: str | None,
        continuation: bool = False,
    ) -> None:
        claim = self._claim(send_id, segment, owner, remaining_s)
        if claim == SegmentClaim.BUSY:
            logger.info("segment held by another dispatcher", extra={"sendId": send_id, "segment": segment})
            return
        record = self.sends.records.get(send_id)
        if record is None or record.over:
            self.sends.segments.release(send_id, segment, owner)
            return
        if claim == SegmentClaim.DONE:
            self._next(send_id, segment, record.segments, correlation_id)
            return
        self.sends.expiry.keep(send_id)  # a send may run longer than its items' lifetime
        try:
            dispatched = self._dispatch_segment(send_id, segment, remaining_s, record)
        except BaseException:
            # Let the retry (or a later dispatcher) take it at once.
            self.sends.segments.release(send_id, segment, owner)
            raise
        if not dispatched.finished:
            self.sends.segments.release(send_id, segment, owner)
            if continuation and not dispatched.progressed:
                # A whole invocation counted no batch: another would not either (a user's messages
                # take longer to render than the invocation has). Its pending users fail; it ends.
                count("SegmentsStalled", 1)
                stalled(self.sends, send_id, segment)
                self._next(send_id, segment, record.segments, correlation_id)
                return
            self._launch(send_id, segment, correlation_id, continuation=True)  # the rest, with a fresh 15 minutes
            return
        self._next(send_id, segment, record.segments, correlation_id)

    def give_up(self, send_id: str, segment: int | None, reason: str, dead_owner: str | None = None) -> None:
        give_up(self.sends, self.settings.segment_parallel, send_id, segment, reason, dead_owner)

    def _claim(self, send_id: str, segment: int, owner: str, remaining_s: Callable[[], float]) -> SegmentClaim:
        claim = self.sends.segments.claim(send_id, segment, owner, remaining_s() + LEASE_EXTRA_S)
        if claim == SegmentClaim.BUSY:
            # Its holder ran out of time (its lease ends with it): wait briefly. A live holder
            # (this event repeated) finishes the segment and starts the next itself.
            wait_s = self.sends.segments.lease_left_s(send_id, segment) + 1
            if wait_s < min(LEASE_WAIT_S, remaining_s() - self.settings.dispatch_margin_s):
                self.sleep(max(0.0, wait_s))
                claim = self.sends.segments.claim(send_id, segment, owner, remaining_s() + LEASE_EXTRA_S)
        return claim

    def _dispatch_segment(
        self, send_id: str, segment: int, remaining_s: Callable[[], float], record: SendRecord
    ) -> Dispatched:
        def sender(transactional: bool) -> BatchSender:
            return BatchSender(
                send_id,
                segment,
                self.settings,
                self.sends.segments,
                self.invoker,
                self.pacer,
                self.sleep,
                self.preferences,
                self.invokes,
                transactional,
                cancel_requested=lambda: self.sends.cancels.requested(send_id),
            )

        run = SegmentRun(send_id, segment, record, self.settings, self.store, self.renderer, self.sends, sender)
        return run.dispatch(remaining_s)

    def _next(self, send_id: str, segment: int, segments: int, correlation_id: str | None) -> None:
        finish_if_done(self.sends, send_id)
        following = segment + self.settings.segment_parallel
        if following < segments:
            self._launch(send_id, following, correlation_id)

    def _launch(self, send_id: str, segment: int, correlation_id: str | None, *, continuation: bool = False) -> None:
        event: dict[str, object] = {"sendId": send_id, "segment": segment, "correlationId": correlation_id}
        if continuation:
            event["continuation"] = True
        self.launcher(self.self_name, event)
