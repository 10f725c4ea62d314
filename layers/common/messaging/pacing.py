"""A per-channel send rate shared by every dispatcher of every send of the stack (the provider's
limit is the account's): one item per channel in the sends table holds the pace's reservations and
its adapted rate; the arithmetic is messaging.rate_control's.

A batch reserves its slot with one atomic `ADD` on the channel's reservation time (a conditional
`SET` when the pace was idle) and waits for the slot's start. After the batch, its channel
function's count of throttled provider calls lowers the shared rate; quiet batches raise it back.

Limits: the adapted rate is only as fresh as the last reservation this process made (one slot);
reservations reach at most AHEAD_MS (plus one slot) into the future, and what the item holds beyond
STALE_AHEAD_MS past the longest slot (or not as a number) is started over.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from messaging.models.common import Channel
from messaging.pace_item import (
    BUSY_BACKOFF_S,
    BUSY_MAX_S,
    Num,
    PaceTable,
    error_code,
    number,
    table_busy,
)
from messaging.rate_control import (
    LATE_MS,
    LEAD_MS,
    Adapter,
    Aimd,
    Change,
    Lead,
    Move,
    Slot,
    batch_limit,
    next_move,
    slot_ms,
    wait_before_asking_s,
)

AHEAD_MS = 500
MAX_LATE = 1  # slots given up in a row before a batch goes all the same
ASKERS = 4  # threads of one process asking for a channel's slots at once (holders waiting for theirs not counted)
WAIT_JITTER_S = 0.01  # a waiting batch's first spread of its next ask, doubling with each wait
EXPIRATION_S = 7 * 24 * 3600  # a pace nobody used for a week starts afresh


class Pacer:
    def __init__(
        self,
        dynamodb: Any,
        table: str,
        rates: Mapping[Channel, float],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = PaceTable(dynamodb, table)
        # As configured, fractions included (0.5: one message every 2 s); infinite is unpaced.
        self.rates = {channel: float(rate) for channel, rate in rates.items() if 0 < rate < math.inf}
        self._clock = clock
        self._sleep = sleep
        # What this process last read of each pace: the adapted rate and when it last changed.
        self._seen: dict[str, dict[str, float | None]] = {}
        # ...and its rate as stored: a cut is written over exactly that (a float may not hold it).
        self._stored_rate: dict[str, str | None] = {}
        self._adapters: dict[str, Adapter] = {}  # this process's evidence per channel
        self._askers: dict[str, threading.Semaphore] = {}
        self._leads: dict[str, Lead] = {}
        self.waits = 0
        self.late = 0  # slots given up: their holder woke too late
        self.busy = 0  # requests to the pace item refused (throttled, unreachable) and waited out
        self.changes: list[tuple[float, float]] = []  # (when, rate) of this process's changes

    @property
    def requests(self) -> int:
        """Requests this process made to the pace items."""
        return self._table.requests

    def batch_limits(self) -> dict[Channel, int]:
        """Messages per batch of each paced channel: a twentieth of a second of its rate."""
        return {channel: batch_limit(rate) for channel, rate in self.rates.items()}

    def aimd(self, channel: Channel) -> Aimd:
        return Aimd(self.rates[channel])

    def current_rate(self, channel: Channel) -> float:
        """The shared adapted rate as this process last read it."""
        return self.aimd(channel).start(self._seen.get(channel, {}).get("rate"))

    def lead_ms(self, channel: Channel) -> float:
        return self._leads[channel].ms if channel in self._leads else LEAD_MS

    def ready_after(self, channel: Channel, needed_ms: float) -> None:
        """A batch's channel function was ready to send `needed_ms` after its dispatcher woke for it."""
        self._leads.setdefault(channel, Lead()).add(needed_ms)

    def acquire(self, channel: Channel, count: int, left_s: Callable[[], float], margin_s: float) -> Slot | None:
        """Waits until the lead (`lead_ms`) before the slots of `count` messages: the last slot (the rate it was
        paced at and its start; infinite and None: the channel is not paced), None if the time left
        ran out first."""
        if channel not in self.rates:
            return Slot(math.inf)
        # A batch planned larger (the rate unknown or higher then) takes one paced batch's slot
        # after another: each slot stays short, and all its messages are paced.
        limit = batch_limit(self.rates[channel])
        slot: Slot | None = Slot(math.inf)
        while count > 0:
            slot = self._acquire(channel, min(count, limit), left_s, margin_s)
            if slot is None:
                return None
            count -= limit
        return slot

    def _acquire(self, channel: Channel, count: int, left_s: Callable[[], float], margin_s: float) -> Slot | None:
        late = 0
        while True:
            asked = self._ask(channel, count, left_s, margin_s)
            if asked is None:
                return None
            start_ms, paced_at = asked
            # Woken at the lead before the slot, or at once if the slot is nearer than the lead.
            now_s = self._clock()
            wake_s = max(now_s, (start_ms - self.lead_ms(channel)) / 1000)
            slot = Slot(paced_at, start_ms / 1000, wake_s)
            pause = wake_s - now_s
            if left_s() - pause < margin_s:
                return None  # the slot goes unused: a little of the rate is lost, never exceeded
            if pause <= 0:
                return slot
            self._sleep(pause)
            if self._clock() * 1000 - start_ms <= LATE_MS or late >= MAX_LATE:
                return slot
            late += 1
            self.late += 1  # woken too late (a stall): this slot is given up, not caught up on

    def _ask(
        self, channel: Channel, count: int, left_s: Callable[[], float], margin_s: float
    ) -> tuple[float, float] | None:
        """A slot's start (ms) and the rate it was taken at; None if the time left ran out first.

        At most ASKERS threads of this process ask the shared item at once; the others queue here,
        costing neither a DynamoDB request nor the askers' turn at the interpreter."""
        asking = self._askers.setdefault(channel, threading.Semaphore(ASKERS))
        if not asking.acquire(timeout=max(0.0, left_s() - margin_s)):
            return None
        try:
            return self._ask_until_granted(channel, count, left_s, margin_s)
        finally:
            asking.release()

    def _ask_until_granted(
        self, channel: Channel, count: int, left_s: Callable[[], float], margin_s: float
    ) -> tuple[float, float] | None:
        busy = waited = 0
        while True:
            now_ms = int(self._clock() * 1000)
            try:
                reserved = self._reserve(channel, count, now_ms)
                tat = self._seen.get(channel, {}).get("tat")  # as the refused reservation found it
            except (ClientError, BotoConnectionError, HTTPClientError) as exc:
                if not table_busy(exc):
                    raise
                # The pace item is throttled or out of reach: the batch waits (for the continuation
                # if need be) rather than failing the dispatcher or going unpaced.
                busy += 1
                self.busy += 1
                pause = min(BUSY_MAX_S, BUSY_BACKOFF_S * 2**busy) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter
                if left_s() - pause < margin_s:
                    return None
                self._sleep(pause)
                continue
            if reserved is not None:
                item, duration, paced_at = reserved
                return (number(item, "tat") or now_ms) - duration, paced_at
            self.waits += 1
            waited += 1
            # Waiting askers ask again as the horizon moves, further apart the longer they wait (a
            # refused ask is a DynamoDB request); a quarter of the horizon at most, so that the
            # reservations never run out while they wait.
            spread = min(AHEAD_MS / 4000, WAIT_JITTER_S * 2 ** min(waited, 8))
            pause = wait_before_asking_s(tat or now_ms, now_ms, AHEAD_MS) + random.uniform(0, spread)  # noqa: S311 - jitter
            if left_s() - pause < margin_s:
                return None
            self._sleep(pause)

    def record(self, channel: Channel, messages: int, throttled: int, paced_at: float | None = None) -> None:
        """A batch's outcome, `paced_at` the rate its slot was reserved at (acquire's answer; None:
        the current one): throttled provider calls cut the shared rate, quiet ones raise it back."""
        if channel not in self.rates or messages <= 0:
            return
        now_s = self._clock()
        seen = self._seen.get(channel, {})
        changed_ms = seen.get("changed")
        adapter = self._adapters.setdefault(channel, Adapter(self.aimd(channel)))
        change = adapter.after_batch(
            seen.get("rate"),
            changed_ms / 1000 if changed_ms is not None else None,
            self.current_rate(channel) if paced_at is None else paced_at,
            messages,
            throttled,
            now_s,
        )
        if change is not None:
            self._change(channel, change, now_s)

    def _reserve(self, channel: Channel, count: int, now_ms: int) -> tuple[dict[str, Any], float, float] | None:
        """The pace's item after this reservation, the slot's length and the rate it was taken at;
        None when reservations already reach too far."""
        seen_tat = self._seen.get(channel, {}).get("tat")
        stale_ms = self.aimd(channel).stale_ahead_ms
        move = next_move(seen_tat, now_ms, AHEAD_MS, stale_ms)
        for _ in range(3):
            rate = self.current_rate(channel)
            duration = slot_ms(count, rate)
            found = None
            try:
                expiration_s = int(self._clock()) + EXPIRATION_S
                if move == Move.RESTART:
                    item = self._table.restart(channel, now_ms + duration, now_ms, stale_ms, expiration_s)
                else:
                    item = self._table.extend(channel, duration, now_ms, AHEAD_MS, expiration_s)
                self._remember(channel, item)
                return item, duration, rate
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                found = exc.response.get("Item")  # the refused write's answer: where the pace is
            if found is not None:
                self._remember(channel, found)
            tat = number(found if found is not None else self._get(channel), "tat")
            move = next_move(tat, now_ms, AHEAD_MS, stale_ms)
            if move == Move.WAIT:
                return None
        return None

    def _change(self, channel: Channel, change: Change, now_s: float) -> None:
        """The shared rate, unless another dispatcher changed it since this one read it, or within
        `quiet_s`: its change stands (the same episode is not cut twice)."""
        self.changes.append((now_s, change.rate))
        expected: Num | None = change.expected
        if change.expected is not None:
            # compared with the number as stored: its float may be another one (a hand edit finer
            # than a float, or beyond its range), and the rate could then never change again
            stored = self._stored_rate.get(channel)
            expected = stored if stored is not None and float(stored) == change.expected else change.expected
        try:
            item = self._table.set_rate(channel, change.rate, expected, change.quiet_s, int(now_s * 1000))
            self._remember(channel, item)
        except (ClientError, BotoConnectionError, HTTPClientError) as exc:
            if table_busy(exc):
                self.busy += 1  # the change is lost, not the batch's outcome: the next batch tries again
                return
            if not isinstance(exc, ClientError) or error_code(exc) != "ConditionalCheckFailedException":
                raise
            # another dispatcher changed the rate meanwhile: its change stands, and is what this
            # process paces at from now on
            found = exc.response.get("Item")
            if found is not None:
                self._remember(channel, found)

    def _get(self, channel: Channel) -> dict[str, Any]:
        item = self._table.get(channel)
        self._remember(channel, item)
        return item

    def _remember(self, channel: Channel, item: Mapping[str, Any]) -> None:
        self._seen[channel] = {name: number(item, name) for name in ("tat", "rate", "changed")}
        self._stored_rate[channel] = item.get("rate", {}).get("N")
