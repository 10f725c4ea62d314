"""The pace item as DynamoDB answers and holds it (messaging.pacing): the one item per channel in the
sends table and its two requests, which errors mean the table is busy (waited out, never a failed
batch), numbers written and read, and the condition that an attribute holds none (a hand edit)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from messaging.rate_control import STALE_AHEAD_MS

# What a throttled or unreachable table answers (after botocore's own retries): waited out.
BUSY_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
BUSY_BACKOFF_S = 0.05
BUSY_MAX_S = 2.0


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def table_busy(exc: Exception) -> bool:
    return not isinstance(exc, ClientError) or error_code(exc) in BUSY_CODES


# A condition's test that an attribute holds no number (a manual edit, say).
NOT_A_NUMBER = "NOT attribute_type({}, :number)"
TYPE_VALUES = {":number": {"S": "N"}}
Num = float | str  # a number to write, or one as DynamoDB holds it


def numbers(values: Mapping[str, Num]) -> dict[str, dict[str, str]]:
    return {key: {"N": str(value)} for key, value in values.items()}


def number(item: Mapping[str, Any], name: str) -> float | None:
    value = item.get(name, {}).get("N")
    return float(value) if value is not None else None


class PaceTable:
    """Each channel's pace item in the sends table (`rate#<channel>`, `pace`), read and written whole:
    every answer, a refused write's included, says where the pace is."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table
        self.requests = 0

    def restart(self, channel: str, tat_ms: float, now_ms: int, stale_ms: float, expiration_s: int) -> dict[str, Any]:
        """Reservations start afresh, reaching `tat_ms`, if the pace was idle or its reservation time
        is nobody's (not a number, more than `stale_ms` ahead); refused, it raises as `_update` does."""
        return self._update(
            channel,
            "SET #tat = :tat, #expiration = :expiration",
            f"attribute_not_exists(#tat) OR {NOT_A_NUMBER.format('#tat')} OR #tat < :now OR #tat > :stale",
            {":tat": tat_ms, ":now": now_ms, ":stale": now_ms + stale_ms, ":expiration": expiration_s},
            {"#tat": "tat", "#expiration": "expiration"},
        )

    def extend(self, channel: str, slot_ms: float, now_ms: int, ahead_ms: float, expiration_s: int) -> dict[str, Any]:
        """One more slot of `slot_ms` reserved, if the reservations reach from now to at most
        `ahead_ms` ahead; refused, it raises as `_update` does."""
        return self._update(
            channel,
            "ADD #tat :slot SET #expiration = :expiration",
            "#tat BETWEEN :now AND :ahead",
            {":slot": slot_ms, ":now": now_ms, ":ahead": now_ms + ahead_ms, ":expiration": expiration_s},
            {"#tat": "tat", "#expiration": "expiration"},
        )

    def set_rate(self, channel: str, rate: float, expected: Num | None, quiet_s: float, now_ms: int) -> dict[str, Any]:
        """Writes the shared `rate` unless the item's rate is no longer `expected` (None: none stored,
        or not a number, which this one replaces) or it changed within `quiet_s`; refused, it raises
        as `_update` does."""
        values: dict[str, Num] = {
            ":rate": round(rate, 3),
            ":now": now_ms,
            ":since": now_ms - int(quiet_s * 1000),
            ":stale": now_ms + STALE_AHEAD_MS,
        }
        if expected is None:
            unchanged = f"(attribute_not_exists(#rate) OR {NOT_A_NUMBER.format('#rate')})"
        else:
            unchanged, values[":expected"] = "#rate = :expected", expected
        # or a change that is nobody's (not a number, dated far ahead): it must not freeze the rate
        condition = (
            f"{unchanged} AND (attribute_not_exists(#changed) OR {NOT_A_NUMBER.format('#changed')}"
            " OR #changed <= :since OR #changed > :stale)"
        )
        update, names = "SET #rate = :rate, #changed = :now", {"#changed": "changed", "#rate": "rate"}
        return self._update(channel, update, condition, values, names)

    def get(self, channel: str) -> dict[str, Any]:
        self.requests += 1
        item: dict[str, Any] = self._db.get_item(TableName=self._table, Key=self.key(channel), ConsistentRead=True).get(
            "Item", {}
        )
        return item

    def _update(
        self, channel: str, update: str, condition: str, values: dict[str, Num], names: dict[str, str]
    ) -> dict[str, Any]:
        """The item after the update; a refused condition raises botocore's ClientError, whose
        response carries the item as it was (`Item`)."""
        self.requests += 1
        typed = numbers(values) | (TYPE_VALUES if ":number" in condition else {})
        item: dict[str, Any] = self._db.update_item(
            TableName=self._table,
            Key=self.key(channel),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=typed,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        ).get("Attributes", {})
        return item

    @staticmethod
    def key(channel: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"rate#{channel}"}, "sk": {"S": "pace"}}
