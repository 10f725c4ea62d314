"""A fake-clock model of paced sends against a provider with a rate limit: several dispatchers, each
with several batches in flight, reserve their slots on one shared pace, their messages reach a
token-bucket provider after half the call's latency, the answer (with its count of throttled calls)
comes back after the other half, and the throttled messages are sent again, paced, after a backoff.

The arithmetic is the pacer's own (messaging.rate_control: slots, Move, Adapter); what this model
stands in for is DynamoDB's item (its atomic reservation and conditional rate change, as
messaging.pacing writes them), Lambda's invokes and the provider. Deterministic for a seed.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field

from bench.limits import TokenBucket
from messaging.rate_control import (
    LATE_MS,
    Adapter,
    Aimd,
    Change,
    Move,
    batch_limit,
    next_move,
    slot_ms,
    wait_before_asking_s,
)

AHEAD_MS = 500  # messaging.pacing's horizon
BACKOFF_S = 0.5  # messaging.sends.batches' first backoff after throttles


@dataclass
class Pace:
    """The shared item: reservation time (ms), adapted rate, when it last changed (ms)."""

    tat: float | None = None
    rate: float | None = None
    changed: float | None = None

    def reserve(self, count: int, now_ms: float, rate: float, stale_ms: float) -> float | None:
        """The slot's start, or None: reservations reach too far ahead."""
        tat = self.tat
        move = next_move(tat, now_ms, AHEAD_MS, stale_ms)
        if move == Move.WAIT:
            return None
        start = now_ms if move == Move.RESTART or tat is None else tat
        self.tat = start + slot_ms(count, rate)
        return start

    def change(self, change: Change, now_ms: float) -> None:
        if self.rate != change.expected:
            return  # another dispatcher changed it first: its change stands
        if self.changed is not None and self.changed > now_ms - change.quiet_s * 1000:
            return
        self.rate, self.changed = round(change.rate, 3), now_ms


@dataclass
class Outcome:
    accepted: int = 0
    throttled: int = 0
    first: float | None = None
    last: float | None = None
    per_second: Counter[int] = field(default_factory=Counter)
    rates: list[tuple[float, float]] = field(default_factory=list)  # (when, shared rate) per change

    @property
    def achieved(self) -> float:
        span = (self.last or 0.0) - (self.first or 0.0)
        return self.accepted / span if span > 0 else 0.0

    def peak_second(self) -> int:
        whole = sorted(self.per_second)[1:-1]  # the first and last seconds are partial
        return max((self.per_second[second] for second in whole), default=0)


def simulate(
    configured: float,
    limit: float,
    messages: int,
    *,
    burst_s: float = 1.0,
    dispatchers: int = 4,
    in_flight: int = 8,
    latency_s: float = 0.06,
    jitter_s: float = 0.01,
    seed: int = 25,
) -> Outcome:
    rng = random.Random(seed)
    # the provider: `limit` a second, holding `burst_s` of it (SES: a second of the rate, as bench/limits.py)
    provider, pace, outcome = TokenBucket(limit, max(1.0, limit * burst_s), 0.0), Pace(), Outcome()
    size = batch_limit(configured)
    queues = [[size] * (messages // size // dispatchers) for _ in range(dispatchers)]
    clock = [0.0]

    def worker(queue: list[int], adapter: Adapter) -> Generator[float, None, None]:
        while queue:
            pending, attempt = queue.pop(), 0
            while pending:
                while True:  # the slot, as messaging.pacing's Pacer takes it
                    rate = adapter.aimd.start(pace.rate)
                    now_ms = clock[0] * 1000
                    start = pace.reserve(pending, now_ms, rate, adapter.aimd.stale_ahead_ms)
                    if start is not None:
                        break
                    assert pace.tat is not None
                    yield wait_before_asking_s(int(pace.tat), int(now_ms), AHEAD_MS) + rng.uniform(0, 0.02)
                yield max(0.0, start / 1000 - clock[0]) + rng.uniform(0, jitter_s)
                if clock[0] * 1000 - start > LATE_MS:
                    continue  # woken too late: the slot is given up
                yield latency_s / 2 + rng.uniform(0, jitter_s)
                throttled = 0
                for _ in range(pending):
                    if provider.take(clock[0]):
                        outcome.accepted += 1
                        outcome.first = clock[0] if outcome.first is None else outcome.first
                        outcome.last = clock[0]
                        outcome.per_second[int(clock[0])] += 1
                    else:
                        throttled += 1
                outcome.throttled += throttled
                yield latency_s / 2 + rng.uniform(0, jitter_s)
                changed_s = pace.changed / 1000 if pace.changed is not None else None
                change = adapter.after_batch(pace.rate, changed_s, rate, pending, throttled, clock[0])
                if change is not None:
                    before = pace.rate
                    pace.change(change, clock[0] * 1000)
                    if pace.rate != before:
                        outcome.rates.append((clock[0], change.rate))
                pending = throttled
                if pending:
                    attempt += 1
                    yield BACKOFF_S * 2 ** (attempt - 1) * rng.uniform(0.5, 1.0)

    ready: list[tuple[float, int, Generator[float, None, None]]] = []
    for number in range(dispatchers):
        adapter = Adapter(Aimd(configured))  # each dispatcher process has its own evidence
        for thread in range(in_flight):
            heapq.heappush(ready, (rng.uniform(0, 0.05), number * in_flight + thread, worker(queues[number], adapter)))
    while ready:
        at, key, running = heapq.heappop(ready)
        clock[0] = at
        pause = next(running, math.nan)
        if not math.isnan(pause):
            heapq.heappush(ready, (at + pause, key, running))
    return outcome
