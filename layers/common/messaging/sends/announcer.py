"""Announcing a send's transitions on EventBridge (`events:PutEvents` on one bus), best effort.

An announcement never blocks or fails the send: a failed put is retried a bounded number of times,
and what is still not put is given up, logged (ids only) and counted (`LifecycleEventsGivenUp`).
The events are read from the send's record after its transition (messaging.sends.lifecycle), so
they never contradict its status.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from messaging import aws
from messaging.observability import count, logger
from messaging.sends.lifecycle import DETAIL_TYPES, send_detail
from messaging.sends.states import SendRecord, SendState

ATTEMPTS = 3
BACKOFF_S = 0.2
# No attempt starts this long after the first: a bus that hangs must not hold a synchronous send
# past API Gateway's 29 s (each attempt is one call of at most connect 5 s + read 2 s).
BUDGET_S = 3.0
DEFAULT_SOURCE = "messaging"


class Records(Protocol):
    def get(self, send_id: str) -> SendRecord | None: ...


class Announcer:
    """Puts lifecycle events on `bus` with `source`; without a client, announces nothing."""

    def __init__(
        self,
        client: Any | None,
        bus: str = "default",
        source: str = DEFAULT_SOURCE,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.bus = bus
        self.source = source
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Announcer:
        """EVENT_BUS_NAME (unset or empty: nothing is announced) and EVENT_SOURCE."""
        bus = environ.get("EVENT_BUS_NAME", "")
        if not bus:
            return cls(None)
        # Few, short attempts: the announcer retries itself, and a send must not wait long on it.
        client = aws.client("events", read_timeout=2, max_attempts=1)
        return cls(client, bus, environ.get("EVENT_SOURCE") or DEFAULT_SOURCE)

    @property
    def enabled(self) -> bool:
        return self._client is not None

    def transitions(self, records: Records, send_id: str, *statuses: SendState) -> None:
        """The send's transitions to `statuses`, in that order, from its record as it is now."""
        if not self.enabled:
            return
        try:
            record = records.get(send_id)
            if record is None:
                return
            events = [
                (DETAIL_TYPES[status], send_detail(record, status)) for status in statuses if status in DETAIL_TYPES
            ]
        except Exception as exc:  # noqa: BLE001 - the send goes on whatever its announcement meets
            self._given_up(len(statuses), send_id, exc)
            return
        self.put(events)

    def put(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """(detail-type, detail) pairs, retried; what still fails is counted, never raised."""
        if not self.enabled or not events:
            return
        pending = [
            {"Source": self.source, "DetailType": kind, "Detail": json.dumps(detail), "EventBusName": self.bus}
            for kind, detail in events
        ]
        error: Exception | None = None
        started = self._clock()
        for attempt in range(ATTEMPTS):
            try:
                answer = self._client.put_events(Entries=pending)  # type: ignore[union-attr]
                pending = [
                    entry
                    for entry, result in zip(pending, answer.get("Entries", []), strict=False)
                    if result.get("ErrorCode")
                ]
                if not pending:
                    return
            except Exception as exc:  # noqa: BLE001 - retried, then given up: never into the send
                error = exc
            pause = BACKOFF_S * 2**attempt
            if attempt + 1 == ATTEMPTS or self._clock() - started + pause > BUDGET_S:
                break
            self._sleep(pause)
        subject = json.loads(pending[0]["Detail"]).get("sendId") or json.loads(pending[0]["Detail"]).get("eventId")
        self._given_up(len(pending), str(subject), error)

    def _given_up(self, events: int, subject: str, error: Exception | None) -> None:
        count("LifecycleEventsGivenUp", events)
        cause = type(error).__name__ if error else "FailedEntry"
        logger.warning("lifecycle events given up", extra={"sendId": subject, "events": events, "cause": cause})
