"""The sends table's plumbing, shared by its stores: calls (counted), expiry, conditional-failure
detection, transaction-conflict retries, paginated queries, and the zlib JSON of bulky values.

Every item expires (`expiration`, TTL) `SENDS_TTL_DAYS` after it was written; a send's items are
pushed forward while it runs and when it ends (messaging.sends.persistence.expiry).
"""

from __future__ import annotations

import json
import random
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

# Delivery events of one send arrive together (thousands a minute for a large send), each a
# transaction on the send item: DynamoDB cancels one that meets another in flight, and botocore does
# not retry that. Retried here, with jitter, so that a busy send's events are not errors (each a
# Lambda retry minutes later, the third one dropped).
CONFLICT_ATTEMPTS = 6
CONFLICT_BACKOFF_S = 0.02

Item = dict[str, Any]
DAY_S = 24 * 3600


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def pack(value: Any) -> bytes:
    return zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 6)


def unpack(value: Any) -> Any:
    return json.loads(zlib.decompress(value))


def number(item: Item, name: str) -> int:
    return int(item.get(name, {}).get("N", "0"))


def is_conflict(exc: ClientError) -> bool:
    """Another transaction on the same item was in flight: nothing was written, try again."""
    code = exc.response.get("Error", {}).get("Code")
    if code == "TransactionConflictException":
        return True
    if code == "TransactionCanceledException":
        reasons = cancellation_reasons(exc)
        return "TransactionConflict" in reasons and "ConditionalCheckFailed" not in reasons
    return False


def is_conditional_failure(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    return code == "TransactionCanceledException" and "ConditionalCheckFailed" in cancellation_reasons(exc)


def cancellation_reasons(exc: ClientError) -> list[str | None]:
    """One code per item of a cancelled transaction, in order ("None" for the items that passed)."""
    return [reason.get("Code") for reason in exc.response.get("CancellationReasons") or []]


def retry_conflicts(call: Callable[[], Any], sleep: Callable[[float], None] = time.sleep) -> Any:
    for attempt in range(CONFLICT_ATTEMPTS):
        try:
            return call()
        except ClientError as exc:
            if not is_conflict(exc) or attempt == CONFLICT_ATTEMPTS - 1:
                raise
            sleep(random.uniform(0, CONFLICT_BACKOFF_S * 2**attempt))  # noqa: S311 - jitter
    raise AssertionError("unreachable")


class Table:
    """The sends table: one client, its name and the items' lifetime."""

    def __init__(self, dynamodb: Any, name: str, ttl_days: int = 7, requests: dict[str, int] | None = None) -> None:
        self.client = dynamodb
        self.name = name
        self._ttl_s = ttl_days * 24 * 3600
        self.requests = requests if requests is not None else {"dynamodb": 0}  # counted for the benchmark

    @staticmethod
    def key(send_id: str, sk: str) -> Item:
        return {"pk": {"S": send_id}, "sk": {"S": sk}}

    def expiration(self, start: float | None = None) -> dict[str, str]:
        """`SENDS_TTL_DAYS` after `start` (epoch seconds; now by default: a scheduled send's record
        counts from its `sendAt`, so that nothing it needs expires before it has run)."""
        return {"N": str(int(max(time.time(), start or 0)) + self._ttl_s)}

    def expires_soon(self, expiration: int) -> bool:
        """An expiry this close is pushed forward (messaging.sends.persistence.expiry): at most a
        day (half the lifetime, if it is one day) earlier than one written now."""
        return expiration < int(time.time()) + self._ttl_s - min(DAY_S, self._ttl_s // 2)

    def call(self, operation: str, **kwargs: Any) -> Any:
        self.requests["dynamodb"] += 1
        return getattr(self.client, operation)(TableName=self.name, **kwargs)

    def get(self, send_id: str, sk: str) -> Item:
        """The item, read consistently; {} if there is none."""
        found: Item = self.call("get_item", Key=self.key(send_id, sk), ConsistentRead=True).get("Item", {})
        return found

    def conditional(self, operation: str, **kwargs: Any) -> bool:
        """A conditional write: False if its condition failed."""
        try:
            self.call(operation, **kwargs)
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def transact(self, items: list[Item]) -> None:
        """One transaction, retried while it meets another in flight. botocore fills
        ClientRequestToken once per call: a retry after a lost answer is the same transaction
        (DynamoDB answers it again), never a "duplicate"; a conflict wrote nothing, and its retry is
        a new call."""

        def write() -> None:
            self.requests["dynamodb"] += 1
            self.client.transact_write_items(TransactItems=items)

        retry_conflicts(write)

    def query(self, **query: Any) -> Iterator[Item]:
        """Every item a query finds, page after page, read consistently."""
        exclusive: Item | None = None
        while True:
            page = {**query, "ConsistentRead": True}
            if exclusive:
                page["ExclusiveStartKey"] = exclusive
            answer = self.call("query", **page)
            yield from answer.get("Items", [])
            exclusive = answer.get("LastEvaluatedKey")
            if not exclusive:
                return
