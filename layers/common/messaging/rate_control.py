"""The pacer's arithmetic, on plain numbers (messaging.pacing keeps its state in DynamoDB).

Reservations: a channel's pace is a "theoretical arrival time" (`tat`, in milliseconds): the moment
the messages reserved so far have been sent at the current rate. A batch of `n` takes the slot
[tat, tat + n / rate) and waits for its start, so the grants follow each other at exactly the rate,
whoever asks: no window boundary lets twice the rate through. Nobody reserves further ahead than
`ahead_ms`, so a lowered rate applies within that time.

Adaptation (AIMD): while the recent share of throttled provider calls is above `cut_above` the rate
is cut multiplicatively, at most once per `cooldown_s` (the batches in flight all report the same
episode); while it is below `raise_below` the rate rises by a fixed step every `raise_every_s` (a
rate left unchanged for `idle_s` or more by a step for every `raise_every_s` since: yesterday's cut
does not hold today's sends back), up to the ceiling (the configured rate, less a little headroom
for the jitter between a grant and its messages' arrival at the provider).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

# The ceiling's share of the configured rate: grants are exact, arrivals jitter by the invoke's
# and the provider calls' latencies, so pacing at the very limit would be throttled now and then.
HEADROOM = 0.98
# A batch is at most this many seconds of the rate: its messages leave together, within the
# provider's short burst tolerance.
BATCH_SECONDS = 0.05
# A slot whose holder wakes this late is given up and another taken: after a stall, the waiting
# batches would otherwise all leave at once.
LATE_MS = 500
# A reservation time or a rate change dated further ahead than this is nobody's (a manual edit, a
# dispatcher whose clock ran far ahead): reservations reach at most half a second ahead plus one
# slot (under 2 s), so waiting for it would stall the channel, or freeze its rate, until then.
STALE_AHEAD_MS = 10_000


def batch_limit(rate: float) -> int:
    """The most messages one paced batch may carry."""
    return max(1, math.ceil(rate * BATCH_SECONDS))


def slot_ms(count: int, rate: float) -> int:
    """How long `count` messages take at `rate` per second, in whole milliseconds (at least 1)."""
    return max(1, math.ceil(count * 1000 / max(rate, 1e-9)))


class Move(Enum):
    QUEUE = "queue"  # take the slot after the last reservation
    RESTART = "restart"  # the pace is idle (its last slot is over): start at now
    WAIT = "wait"  # reservations already reach `ahead_ms` past now: wait before asking again


def next_move(tat_ms: int | None, now_ms: int, ahead_ms: int) -> Move:
    if tat_ms is None or tat_ms < now_ms or tat_ms - now_ms > STALE_AHEAD_MS:
        return Move.RESTART
    if tat_ms - now_ms <= ahead_ms:
        return Move.QUEUE
    return Move.WAIT


def wait_before_asking_s(tat_ms: int, now_ms: int, ahead_ms: int) -> float:
    """How long to wait, with reservations reaching `tat_ms`, until one may be taken again."""
    return max(0.0, (tat_ms - now_ms - ahead_ms) / 1000)


@dataclass
class ThrottleShare:
    """The recent share of provider calls throttled, as a moving average over batches."""

    weight: float = 0.2  # of the newest batch
    share: float = 0.0
    stale_s: float = 60.0  # batches further apart than this: the older ones are no evidence
    last_s: float | None = None

    def reset(self) -> None:
        """After a change of rate: only what comes after it is evidence."""
        self.share = 0.0

    def add(self, messages: int, throttled: int, now_s: float | None = None) -> float:
        if now_s is not None:
            if self.last_s is not None and now_s - self.last_s > self.stale_s:
                self.reset()  # a warm process's episode of long ago must not cut today's rate
            self.last_s = now_s
        # at most the whole batch (each attempt is counted), never less than none, never an overflow
        latest = min(max(0, throttled), max(messages, 1)) / max(messages, 1)
        self.share += self.weight * (latest - self.share)
        return self.share


@dataclass(frozen=True)
class Aimd:
    """Additive increase, multiplicative decrease of a channel's rate, between `floor` and `ceiling`."""

    configured: float
    cut: float = 0.1  # the least cut after throttles: rate x (1 - cut)
    max_cut: float = 0.25  # the most
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
