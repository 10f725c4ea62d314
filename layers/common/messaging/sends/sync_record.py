"""A synchronous send's record in the sends table, so that GET /sends/{sendId} and the providers'
delivery events find it: opened just before its first batch leaves (events can arrive before the
answer), completed with its counts and failures, or ended `failed` if the request broke after
opening it. Every step is best effort: the messages have left or are leaving, and a 5xx would make
a client send them again."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from messaging.errors import Conflict
from messaging.models.common import Channel
from messaging.observability import logger
from messaging.sends.persistence.store import SendStore
from messaging.sends.states import SendRecord, SendState
from messaging.service import SendOutcome, new_send_id, sync_counts

# Past SendFunction's timeout: clocks of two Lambda hosts, and the record opened after the start.
KILLED_MARGIN_S = 30


def now_utc() -> datetime:
    return datetime.now(UTC)


def as_read(record: SendRecord, timeout_s: int, now: datetime | None = None) -> SendRecord:
    """A synchronous send's record as a reader must see it: one still open once SendFunction's
    timeout (and a margin) has passed since it opened was killed with its function (Lambda runs no
    code of ours after a timeout, so nothing closed it): `failed`, outcome unknown."""
    if not record.synchronous or record.over:
        return record
    killed_by = datetime.fromisoformat(record.created_at) + timedelta(seconds=timeout_s)
    if (now or now_utc()) < killed_by + timedelta(seconds=KILLED_MARGIN_S):
        return record
    reason = f"the request did not end within SendFunction's timeout ({timeout_s} s): outcome unknown"
    stamp = killed_by.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return dataclasses.replace(record, status=SendState.FAILED, reason=reason, completed_at=stamp, updated_at=stamp)


class SyncSendRecord:
    def __init__(
        self,
        sends: SendStore | None,
        scope: str,
        send_id: str,
        reference: str | None = None,
        correlation: str | None = None,
    ) -> None:
        self._sends = sends  # None: SENDS_TABLE unset, nothing is recorded
        self._scope = scope
        self._reference, self._correlation = reference, correlation  # echoed in its status and events
        self.send_id = send_id
        self.opened = False

    def refuse_a_rerun(self) -> None:
        """Conflict if a run of the same keyed request recorded this send already: it stopped (killed,
        timed out) before its answer was kept, or its answer outlived its 24 h, and whatever it sent
        must not be sent again."""
        if self._sends is None:
            return
        try:
            before = self._sends.records.get(self.send_id)
        except Exception as exc:  # noqa: BLE001 - as for the record itself: sending goes on
            logger.warning("synchronous send not checked", extra={"sendId": self.send_id, "cause": type(exc).__name__})
            return
        if before is not None and before.sent_nothing:  # refused 503 asynchronously: sent now, as a send of its own
            self.send_id = new_send_id()
        elif before is not None:
            raise Conflict(
                f"Idempotency-Key: this request already ran as send {self.send_id} ({before.status}); it is not "
                f"sent again (GET /sends/{self.send_id})"
            )

    def open(self, channels: Sequence[Channel]) -> None:
        self.opened = True
        if self._sends is None:
            return
        try:
            self._sends.records.create(
                self.send_id,
                self._scope,
                channels,
                synchronous=True,
                reference=self._reference,
                correlation_id=self._correlation,
            )
        except Exception as exc:  # noqa: BLE001 - sending goes on; the record is completed (or not) after
            logger.warning("synchronous send not opened", extra={"sendId": self.send_id, "cause": type(exc).__name__})

    def fail(self, exc: Exception) -> None:
        """Batches may have left: `failed`, outcome unknown, rather than `accepted` for good."""
        if self._sends is None or not self.opened:
            return
        try:
            reason = f"the request failed while sending ({type(exc).__name__}): outcome unknown"
            if self._sends.records.finish(self.send_id, SendState.FAILED, reason):
                self._sends.announce(self.send_id, SendState.ACCEPTED, SendState.FAILED)
        except Exception as error:  # noqa: BLE001 - the original error is what the caller must get
            logger.warning("synchronous send not closed", extra={"sendId": self.send_id, "cause": type(error).__name__})

    def complete(self, outcome: SendOutcome) -> None:
        if self._sends is None:
            return
        try:
            recorded = self._sends.records.record_sync(
                self.send_id,
                self._scope,
                outcome.channels,
                outcome.audience,
                outcome.missing,
                sync_counts(outcome),
                outcome.response.failures,
            )
            if recorded:
                self._sends.announce(self.send_id, SendState.ACCEPTED, SendState.COMPLETED)
        except Exception as exc:  # noqa: BLE001 - whatever it is, the answer stands
            logger.warning("synchronous send not recorded", extra={"sendId": self.send_id, "cause": type(exc).__name__})
