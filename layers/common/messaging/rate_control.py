"""The pacer's arithmetic, on plain numbers (messaging.pacing keeps its state in DynamoDB).

Reservations: a channel's pace is a "theoretical arrival time" (`tat`, in milliseconds): the moment
the messages reserved so far have been sent at the current rate. A batch of `n` takes the slot
[tat, tat + n / rate) and waits for its start, so the grants follow each other at exactly the rate,
whoever asks: no window boundary lets twice the rate through. Nobody reserves further ahead than
`ahead_ms`, so a lowered rate applies within that time.

Adaptation (AIMD): while the recent share of throttled provider calls is above `cut_above` the rate
is cut by that share (what got through is what the provider takes), at least `cut` and at most
`max_cut`. One episode makes one cut, however many dispatchers meet it: a batch paced at a rate since
cut is no evidence, and a cut is written only over the rate it was decided from (`Change`), at most
once per `cooldown_s`. While the share is below `raise_below` the rate rises by a fixed step every
`raise_every_s` (a rate left unchanged for `idle_s` or more by a step for every `raise_every_s`
since: yesterday's cut does not hold today's sends back), up to the ceiling (the configured rate,
less a little headroom for the jitter between a grant and its messages' arrival at the provider).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

# The ceiling's share of the configured rate: grants are exact, arrivals jitter by the invoke's
# and the provider calls' latencies, so pacing at the very limit would be throttled now and then.
HEADROOM = 0.98
# A batch is at most this many seconds of the rate: its messages leave together, within the
# provider's short burst tolerance.
BATCH_SECONDS = 0.05
# A slot whose holder wakes this late is given up and another taken: after a stall, the waiting
# batches would otherwise all leave at once, one second getting the previous one's messages too.
# Two slots' length: a tighter bound gives up so many slots on a busy machine that the pace goes
# unfilled (50 ms: 61 % of the rate on this 2-CPU machine under load, against 98 % at 500 ms).
LATE_MS = 100
# A paced batch is invoked this much before its slot, and its channel function waits for the slot's
# start (Envelope.sendAt): the invoke's latency, and its jitter up to this, no longer moves the
# messages. A batch that reaches its channel function over HAND_BACK_MS past the slot's start is
# handed back unsent (Envelope.sendBy) and paced again: sent late, its messages would crowd the
# slots after it (two sends at once: one second in 409 at 114 % of the rate).
LEAD_MS = 100
HAND_BACK_MS = 100
# The lead adapts (Lead): all but the slowest one in fifty of the last LEAD_SAMPLES batches would
# have been ready by their slot's start, plus LEAD_SPARE_MS, within [LEAD_MIN_MS, LEAD_MAX_MS]
# (under AHEAD_MS, how far ahead reservations reach). A loaded or cold fleet needs more than 100 ms;
# a quiet one less. Nine in ten was tried: under load 4 % of the batches were handed back.
LEAD_QUANTILE = 0.98
LEAD_SAMPLES = 64
LEAD_MIN_SAMPLES = 8
LEAD_SPARE_MS = 20
LEAD_MIN_MS = 50
LEAD_MAX_MS = 400
# A reservation time or a rate change dated further ahead than this is nobody's (a manual edit, a
# dispatcher whose clock ran far ahead): reservations reach at most half a second ahead plus one
# slot (under 2 s), so waiting for it would stall the channel, or freeze its rate, until then.
STALE_AHEAD_MS = 10_000


def batch_limit(rate: float) -> int:
    """The most messages one paced batch may carry."""
    return max(1, math.ceil(rate * BATCH_SECONDS))


def slot_ms(count: int, rate: float) -> float:
    """How long `count` messages take at `rate` per second, in milliseconds to the microsecond (whole
    milliseconds would lose 2 % of 196 per second: 10 messages in 52 ms rather than 51.02)."""
    return max(0.001, round(count * 1000 / max(rate, 1e-9), 3))


class Slot(NamedTuple):
    """A batch's turn: the rate it was paced at (infinite: the channel is not paced), when its
    messages may go to the provider (epoch seconds; None: at once), and when its dispatcher was to
    wake for it (the lead before, or when granted if that is later)."""

    rate: float
    start_s: float | None = None
    wake_s: float | None = None


class Lead:
    """How long before its slot a dispatcher wakes for a paced batch, from how long its last batches
    took from that moment to their channel function's being ready to send (`needed_ms`): the
    dispatcher's oversleeping, its invoke, the function's start and its once-only claim."""

    def __init__(self) -> None:
        self._needed: deque[float] = deque(maxlen=LEAD_SAMPLES)
        self._ms = float(LEAD_MS)

    @property
    def ms(self) -> float:
        return self._ms

    def add(self, needed_ms: float) -> None:
        if not math.isfinite(needed_ms):
            return
        self._needed.append(needed_ms)
        if len(self._needed) >= LEAD_MIN_SAMPLES:
            ordered = sorted(self._needed)
            slow = ordered[int(len(ordered) * LEAD_QUANTILE)]
            self._ms = min(LEAD_MAX_MS, max(LEAD_MIN_MS, slow + LEAD_SPARE_MS))


class Move(Enum):
    QUEUE = "queue"  # take the slot after the last reservation
    RESTART = "restart"  # the pace is idle (its last slot is over): start at now
    WAIT = "wait"  # reservations already reach `ahead_ms` past now: wait before asking again


def next_move(tat_ms: float | None, now_ms: float, ahead_ms: int, stale_ms: float = STALE_AHEAD_MS) -> Move:
    """`stale_ms`: further ahead than this, the reservation time is nobody's (Aimd.stale_ahead_ms)."""
    if tat_ms is None or tat_ms < now_ms or tat_ms - now_ms > stale_ms:
        return Move.RESTART
    if tat_ms - now_ms <= ahead_ms:
        return Move.QUEUE
    return Move.WAIT


def wait_before_asking_s(tat_ms: float, now_ms: float, ahead_ms: int) -> float:
    """How long to wait, with reservations reaching `tat_ms`, until one may be taken again."""
    return max(0.0, (tat_ms - now_ms - ahead_ms) / 1000)


@dataclass
class ThrottleShare:
    """The recent share of provider calls throttled: the messages and the throttled calls each a
    moving sum over batches, so their ratio is exact from the first batch on (a moving average of
    per-batch shares would start at a fifth of the truth and call for one small cut after another)."""

    weight: float = 0.2  # of the newest batch
    messages: float = 0.0
    throttled: float = 0.0
    stale_s: float = 60.0  # batches further apart than this: the older ones are no evidence
    last_s: float | None = None

    @property
    def share(self) -> float:
        return self.throttled / self.messages if self.messages > 0 else 0.0

    def reset(self) -> None:
        """After a change of rate: only what comes after it is evidence."""
        self.messages = self.throttled = 0.0

    def add(self, messages: int, throttled: int, now_s: float | None = None) -> float:
        if now_s is not None:
            if self.last_s is not None and now_s - self.last_s > self.stale_s:
                self.reset()  # a warm process's episode of long ago must not cut today's rate
            self.last_s = now_s
        # at most the whole batch (each attempt is counted), never less than none, never an overflow
        sent = max(messages, 1)
        self.messages += self.weight * (sent - self.messages)
        self.throttled += self.weight * (min(max(0, throttled), sent) - self.throttled)
        return self.share


@dataclass(frozen=True)
class Aimd:
    """Additive increase, multiplicative decrease of a channel's rate, between `floor` and `ceiling`."""

    configured: float
    # The least cut after throttles, rate x (1 - cut), and the most. Between them the cut is the
    # share refused: what got through is what the provider takes now.
    cut: float = 0.05
    max_cut: float = 0.5
    cut_above: float = 0.01  # of calls throttled (the recent share): the rate is cut
    raise_below: float = 0.002  # of calls throttled: quiet enough to raise the rate
    cooldown_s: float = 1.0  # at most one cut this often (batches in flight report the same episode)
    step: float = 0.01  # of the configured rate, added per quiet `raise_every_s`
    raise_every_s: float = 1.0
    idle_s: float = 60.0  # unchanged this long: the rate recovers for all that time at once
    floor_share: float = 0.05  # never below this share of the configured rate

    @property
    def ceiling(self) -> float:
        return self.configured * HEADROOM

    @property
    def floor(self) -> float:
        return max(min(1.0, self.configured), self.configured * self.floor_share)

    @property
    def stale_ahead_ms(self) -> float:
        """Further ahead than this, a reservation time is nobody's: STALE_AHEAD_MS past the longest
        slot a batch of this channel takes (under 0.1 message a second, one call's slot is longer
        than STALE_AHEAD_MS: every reservation would start the pace over, and nothing be paced)."""
        return STALE_AHEAD_MS + slot_ms(batch_limit(self.configured), min(self.floor, self.ceiling))

    def start(self, stored: float | None) -> float:
        """The rate to pace at: the shared one, within bounds (a lowered configuration wins)."""
        if stored is None or stored <= 0:
            return self.ceiling
        return min(self.ceiling, max(self.floor, stored))

    def next_rate(self, rate: float, share: float, now_s: float, changed_s: float | None) -> float | None:
        """The rate after a batch, with `share` of recent calls throttled; None: unchanged."""
        since = now_s - changed_s if changed_s is not None else float("inf")
        if since < -STALE_AHEAD_MS / 1000:
            since = float("inf")  # a change dated far ahead is nobody's: it must not freeze the rate
        if share > self.cut_above:
            if since < self.cooldown_s:
                return None
            # Lower by the share refused (what got through is what the provider takes), within bounds.
            lowered = max(self.floor, rate * (1 - self.max_cut), min(rate * (1 - self.cut), rate * (1 - share)))
            return lowered if lowered < rate else None
        if share < self.raise_below and rate < self.ceiling and since >= self.raise_every_s:
            # A rate left unchanged a while (the pace idle, yesterday's cut) rises by a step for every
            # interval since, as a busy one would have: one quiet batch does not hold it at the floor.
            steps = 1 if since < self.idle_s else math.floor(min(since / self.raise_every_s, 1e6))
            return min(self.ceiling, rate + self.configured * self.step * steps)
        return None


# A batch paced at a rate this much above the current one was reserved before a cut: its throttles
# are the episode that cut already answered.
STALE_BASIS = 0.005


@dataclass(frozen=True)
class Change:
    """A new shared rate, written only if the shared item still holds `expected` (None: no rate
    stored yet) and nobody changed it within `quiet_s`: dispatchers that met the same episode cut
    once between them, not once each."""

    rate: float
    expected: float | None
    quiet_s: float


class Adapter:
    """One process's evidence about one channel's pace, and the change it calls for after a batch."""

    def __init__(self, aimd: Aimd) -> None:
        self.aimd = aimd
        self.share = ThrottleShare()
        self._at: float | None = None  # the rate the evidence was gathered at

    def after_batch(
        self,
        stored: float | None,
        changed_s: float | None,
        paced_at: float,
        messages: int,
        throttled: int,
        now_s: float,
    ) -> Change | None:
        """`stored`/`changed_s`: the shared item as last read; `paced_at`: the rate the batch's slot
        was reserved at."""
        current = self.aimd.start(stored)
        if self._at is None or not math.isclose(self._at, current, rel_tol=1e-4):
            self.share.reset()  # the rate changed since (here or by another dispatcher)
            self._at = current
        if paced_at > current * (1 + STALE_BASIS):
            return None
        share = self.share.add(messages, throttled, now_s)
        rate = self.aimd.next_rate(current, share, now_s, changed_s)
        if rate is None:
            return None
        lowered = rate < current
        return Change(rate, stored, self.aimd.cooldown_s if lowered else self.aimd.raise_every_s)
