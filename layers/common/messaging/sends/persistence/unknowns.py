"""Users listed `unknown: ...` whom a delivery event proves sent (issue: counts that tell the truth).

A dispatcher that died after its channel function sent lists the batch's users `unknown: ...`
(failed). The provider's events for their messages prove they left, in either order of arrival:
an event finds the user's `unk#` marker and resolves them in its own transaction; a failure list
committed after the event finds the user's `left#` marker and resolves them then. Resolving is one
transaction: the entry blanked in its failures item (that item unchanged since read), the marker
deleted (there), and the send item's `sent_<channel>` +1, `failed_<channel>` -1: once, whoever
tries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from messaging.models.common import Channel
from messaging.sends.keys import SEND, left_marker, unknown_marker
from messaging.sends.persistence.dynamodb import Item, Table, is_conditional_failure, pack, unpack

UNKNOWN_PREFIX = "unknown:"


@dataclass(frozen=True)
class Resolution:
    """Where one user's `unknown: ...` entry is, as read."""

    channel: Channel
    user_id: str
    at: str  # the failures item's sort key
    packed: Any  # its `failures` as read (the condition of the rewrite)
    rows: list[Any]
    index: int

    def items(self, table: Table, send_id: str) -> list[Item]:
        """The entry blanked and the marker deleted (the send item's counts are the caller's)."""
        rows = list(self.rows)
        rows[self.index] = None
        return [
            {
                "Update": {
                    "TableName": table.name,
                    "Key": table.key(send_id, self.at),
                    "UpdateExpression": "SET #failures = :new",
                    "ConditionExpression": "#failures = :old",
                    "ExpressionAttributeNames": {"#failures": "failures"},
                    "ExpressionAttributeValues": {":new": {"B": pack(rows)}, ":old": {"B": self.packed}},
                }
            },
            {
                "Delete": {
                    "TableName": table.name,
                    "Key": table.key(send_id, unknown_marker(self.channel, self.user_id)),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ]


def resolved_counts(channel: Channel) -> dict[str, int]:
    """What resolving moves on the send item."""
    return {f"sent_{channel}": 1, f"failed_{channel}": -1}


class Unknowns:
    def __init__(self, table: Table) -> None:
        self._table = table

    def find(self, send_id: str, channel: Channel, user_id: str) -> Resolution | None:
        """The user's committed `unknown: ...` entry on the channel; None if there is none."""
        marker = self._table.get(send_id, unknown_marker(channel, user_id))
        if not marker:
            return None
        at = marker["at"]["S"]
        item = self._table.get(send_id, at)
        if "failures" not in item:
            return None  # its group was never committed (or expired)
        rows = unpack(item["failures"]["B"])
        for index, row in enumerate(rows):
            if row and row[0] == user_id and row[1] == channel and str(row[2]).startswith(UNKNOWN_PREFIX):
                return Resolution(channel, user_id, at, item["failures"]["B"], rows, index)
        return None

    def resolve(self, send_id: str, resolution: Resolution) -> bool:
        """One resolution on its own (the event came first); False if it was resolved already."""
        adds = resolved_counts(resolution.channel)
        send = {
            "Update": {
                "TableName": self._table.name,
                "Key": self._table.key(send_id, SEND),
                "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(adds))),
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": {f"#c{i}": name for i, name in enumerate(adds)},
                "ExpressionAttributeValues": {f":c{i}": {"N": str(value)} for i, value in enumerate(adds.values())},
            }
        }
        try:
            self._table.transact([send, *resolution.items(self._table, send_id)])
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def resolve_left(self, send_id: str, listed: Iterable[tuple[Channel, str]]) -> int:
        """The users just listed unknown whose messages an event already proved left: resolved."""
        pairs = list(dict.fromkeys(listed))
        resolved = 0
        for start in range(0, len(pairs), 100):
            keys = [self._table.key(send_id, left_marker(c, u)) for c, u in pairs[start : start + 100]]
            found: list[Item] = []
            while keys:
                self._table.requests["dynamodb"] += 1
                answer = self._table.client.batch_get_item(
                    RequestItems={self._table.name: {"Keys": keys, "ConsistentRead": True}}
                )
                found += answer.get("Responses", {}).get(self._table.name, [])
                keys = answer.get("UnprocessedKeys", {}).get(self._table.name, {}).get("Keys", [])
            for item in found:
                _, channel, user_id = item["sk"]["S"].split("#", 2)
                resolution = self.find(send_id, channel, user_id)
                if resolution is not None and self.resolve(send_id, resolution):
                    resolved += 1
        return resolved
