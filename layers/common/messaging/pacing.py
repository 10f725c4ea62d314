"""A per-channel send rate shared by every dispatcher of every send: a fixed one-second window
per channel in the sends table. A batch reserves its messages in the current window with one
conditional `ADD` (`used + n <= rate`); when the window is full the dispatcher waits for the next.

Limits: a fixed window lets up to twice the rate through across a window boundary (the provider's
own short burst allowance covers it, and a throttled message is retried anyway); a batch is sent
within its window only as fast as its channel function goes, so batches are made no larger than
the rate; a rate below 1 message per second is paced as 1.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from messaging.models.common import Channel


class Pacer:
    def __init__(
        self,
        dynamodb: Any,
        table: str,
        rates: Mapping[Channel, float],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = dynamodb
        self._table = table
        self.rates = {channel: max(1, int(rate)) for channel, rate in rates.items() if rate and rate > 0}
        self._clock = clock
        self._sleep = sleep
        self.requests = 0
        self.waits = 0

    def batch_limits(self) -> dict[Channel, int]:
        """Messages per batch of each paced channel: no batch is larger than its rate."""
        return dict(self.rates)

    def acquire(self, channel: Channel, count: int, left_s: Callable[[], float], margin_s: float) -> bool:
        """Waits for room for `count` messages; False if the time left ran out first."""
        rate = self.rates.get(channel)
        if rate is None or count <= 0:
            return True
        count = min(count, rate)
        while True:
            now = self._clock()
            window = int(now)
            self.requests += 1
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": f"rate#{channel}"}, "sk": {"S": str(window)}},
                    UpdateExpression="ADD #used :n SET #expiration = :expiration",
                    ConditionExpression="attribute_not_exists(#used) OR #used <= :room",
                    ExpressionAttributeNames={"#used": "used", "#expiration": "expiration"},
                    ExpressionAttributeValues={
                        ":n": {"N": str(count)},
                        ":room": {"N": str(rate - count)},
                        ":expiration": {"N": str(window + 3600)},
                    },
                )
                return True
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
            self.waits += 1
            pause = window + 1 - now + random.uniform(0, 0.05)  # noqa: S311 - jitter
            if left_s() - pause < margin_s:
                return False
            self._sleep(pause)
