"""Each batch is sent at most once, however often its invoke is repeated.

SendFunction gives every batch a unique `batchId`. Before sending, the channel function records it
with a conditional write (`attribute_not_exists`) in the idempotency table; once sent, the record
keeps the batch's failures. A repeated invoke of a completed batch answers those failures again
without sending; one whose first attempt is still running, or died before recording its result,
answers every user `unknown: ...` without sending: a message is never sent twice.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from messaging.channels.common import aws_reason
from messaging.models.batch import BatchResult
from messaging.models.response import ChannelFailure
from messaging.observability import logger

TTL_S = 24 * 60 * 60
# A DynamoDB item holds 400 KB: a larger result is not kept, and a repeat answers `unknown`.
MAX_RESULT_BYTES = 300_000


class BatchRefusedError(Exception):
    """Raised before any message of the batch left: SendFunction reports its users failed, not unknown."""


def duplicate_reason(batch_id: str) -> str:
    return f"unknown: duplicate invoke of batch {batch_id} (first attempt in progress or lost)"


@dataclass(frozen=True)
class Earlier:
    """What the first invoke of a batch left: its failures, or None while running or if it died."""

    failures: list[ChannelFailure] | None


class BatchGuard:
    def __init__(self, dynamodb: Any, table: str, ttl_s: int = TTL_S) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._ttl_s = ttl_s

    @staticmethod
    def _key(batch_id: str) -> dict[str, dict[str, str]]:
        return {"id": {"S": f"batch#{batch_id}"}}

    def claim(self, batch_id: str) -> Earlier | None:
        """None: this invoke is the first and may send. Raises BatchRefusedError if the table is unusable."""
        # Tells our own write, retried by botocore after a lost answer, from another invoke's.
        owner = str(uuid.uuid4())
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    **self._key(batch_id),
                    "status": {"S": "IN_PROGRESS"},
                    "owner": {"S": owner},
                    "expiration": {"N": str(int(time.time()) + self._ttl_s)},
                },
                ConditionExpression="attribute_not_exists(id)",
            )
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise BatchRefusedError(f"batch record not written: {aws_reason(exc)}") from exc
        except BotoCoreError as exc:
            raise BatchRefusedError(f"batch record not written: {aws_reason(exc)}") from exc
        try:
            item = self._dynamodb.get_item(TableName=self._table, Key=self._key(batch_id), ConsistentRead=True)
        except (ClientError, BotoCoreError):
            return Earlier(None)
        record = item.get("Item", {})
        if record.get("owner", {}).get("S") == owner:
            return None
        result = record.get("result", {}).get("S")
        if result is None:
            return Earlier(None)
        return Earlier(BatchResult.model_validate_json(result).failures)

    def complete(self, batch_id: str, failures: list[ChannelFailure]) -> None:
        """Keeps the failures (user ids and masked reasons only); a failure to keep them is only logged."""
        result = BatchResult(failures=failures).model_dump_json()
        names = {"#status": "status"}
        values: dict[str, dict[str, Any]] = {":done": {"S": "COMPLETE"}}
        update = "SET #status = :done"
        if len(result.encode()) <= MAX_RESULT_BYTES:
            names["#result"] = "result"
            values[":result"] = {"S": result}
            update += ", #result = :result"
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=self._key(batch_id),
                UpdateExpression=update,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning("batch result not recorded", extra={"batchId": batch_id, "reason": aws_reason(exc)[:200]})
