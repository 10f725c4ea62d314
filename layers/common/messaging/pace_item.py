"""The pace item as DynamoDB answers and holds it (messaging.pacing): which errors mean the table is
busy (waited out, never a failed batch), numbers written and read, and the condition that an
attribute holds none (a hand edit)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

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
