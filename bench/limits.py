"""The provider stand-ins' send rates, enforced as each provider documents its limit, and what they
saw: the accepted messages per second, the first and last, and the calls they throttled.

- SES (`MaxSendRate`, messages per second): "you can exceed this limit for short bursts, but not for
  a sustained period of time" (SES developer guide, sending quotas), no figure given. A token bucket
  of the rate holding SES_BURST_S of it (our assumption: one second's worth).
- End User Messaging (message parts per second per origination identity): no burst documented. The
  same bucket holding BURST_S of the rate (a limiter's granularity; at least one message).
- FCM (600,000 messages per minute per project, "per minute, but not aligned to the clock", 429
  `QUOTA_EXCEEDED` until it refills): a rolling one-minute window of 60 x the rate, so a minute's
  quota may go at once.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

BURST_S = 0.1
SES_BURST_S = 1.0

Answer = tuple[int, dict[str, str], bytes, str]  # status, headers, body, content type

SES_THROTTLED: Answer = (
    400,
    {"x-amzn-ErrorType": "Throttling"},
    json.dumps({"message": "Maximum sending rate exceeded."}).encode(),
    "application/json",
)
EUM_THROTTLED: Answer = (
    400,
    {"x-amzn-ErrorType": "ThrottlingException"},
    json.dumps({"__type": "ThrottlingException", "Message": "Rate exceeded"}).encode(),
    "application/x-amz-json-1.0",
)
FCM_THROTTLED: Answer = (
    429,
    {},
    json.dumps(
        {
            "error": {
                "code": 429,
                "message": "Quota exceeded for quota metric 'Messages'.",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "QUOTA_EXCEEDED"}
                ],
            }
        }
    ).encode(),
    "application/json",
)
THROTTLED_ANSWERS = {"email": SES_THROTTLED, "sms": EUM_THROTTLED, "voice": EUM_THROTTLED, "push": FCM_THROTTLED}


def burst(channel: str, rate: float) -> float:
    """The messages a provider lets through at once beyond its rate (FCM: a minute's quota)."""
    if channel == "push":
        return rate * 60
    return max(1.0, rate * (SES_BURST_S if channel == "email" else BURST_S))


class TokenBucket:
    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate, self.capacity = rate, capacity
        self._tokens, self._at = capacity, now

    def take(self, now: float) -> bool:
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class RollingWindow:
    """At most `quota` accepted in any `window_s`."""

    def __init__(self, quota: float, window_s: float) -> None:
        self.quota, self.window_s = quota, window_s
        self._accepted: deque[float] = deque()

    def take(self, now: float) -> bool:
        while self._accepted and self._accepted[0] <= now - self.window_s:
            self._accepted.popleft()
        if len(self._accepted) < self.quota:
            self._accepted.append(now)
            return True
        return False


@dataclass
class Seen:
    accepted: int = 0
    throttled: int = 0
    first: float | None = None
    last: float | None = None
    per_second: Counter[int] = field(default_factory=Counter)


class Limits:
    """Per channel: None (unlimited) or its limiter; thread-safe; `stats()` is what the bench prints."""

    def __init__(self, rates: Mapping[str, float]) -> None:
        now = time.monotonic()
        self.rates = dict(rates)
        self._limiters: dict[str, TokenBucket | RollingWindow] = {
            channel: (
                RollingWindow(math.floor(rate * 60), 60.0)
                if channel == "push"
                else TokenBucket(rate, burst(channel, rate), now)
            )
            for channel, rate in rates.items()
            if rate > 0
        }
        self._seen: dict[str, Seen] = {}
        self._lock = threading.Lock()

    def admit(self, channel: str) -> bool:
        """Whether the provider takes this message now; counted either way."""
        now = time.monotonic()
        with self._lock:
            limiter = self._limiters.get(channel)
            allowed = limiter is None or limiter.take(now)
            seen = self._seen.setdefault(channel, Seen())
            if not allowed:
                seen.throttled += 1
                return False
            seen.accepted += 1
            seen.first = now if seen.first is None else seen.first
            seen.last = now
            seen.per_second[int(time.time())] += 1
            return True

    def stats(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {
                channel: {
                    "accepted": seen.accepted,
                    "throttled": seen.throttled,
                    "span_s": (seen.last - seen.first) if seen.first is not None and seen.last is not None else None,
                    # time.monotonic() of the first and last accepted: the benchmark's clock too
                    "first": seen.first,
                    "last": seen.last,
                    # Whole seconds only: the first and last are partial.
                    "peak_second": max(
                        (count for second, count in seen.per_second.items() if second not in _ends(seen.per_second)),
                        default=max(seen.per_second.values(), default=0),
                    ),
                    "limit": self.rates.get(channel),
                    "series": [
                        seen.per_second.get(second, 0)
                        for second in range(min(seen.per_second), max(seen.per_second) + 1)
                    ]
                    if seen.per_second
                    else [],
                    "burst": burst(channel, self.rates[channel]) if self.rates.get(channel) else None,
                }
                for channel, seen in self._seen.items()
            }


def _ends(per_second: Counter[int]) -> set[int]:
    return {min(per_second), max(per_second)} if per_second else set()
