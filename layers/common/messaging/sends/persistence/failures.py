"""A send's failures (`fail#...` items, zlib JSON): written before the counts they explain move (the
same items again on a repeat), read in sort-key order by GET /sends/{sendId}/failures."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

from messaging.errors import BadRequest
from messaging.models.response import Failure
from messaging.sends.keys import FAIL, failures_key
from messaging.sends.persistence.dynamodb import Item, Table, pack, unpack

# A failures item stays far below DynamoDB's 400 KB: a batch is at most 100 users by default.
FAILURES_PER_ITEM = 1_000
PAGE_ITEMS = 25


def failure_items(table: Table, send_id: str, group: str, failures: Sequence[Failure]) -> list[Item]:
    rows = [[f.userId, f.channel, f.error] for f in failures]
    return [
        {
            **table.key(send_id, failures_key(group, start // FAILURES_PER_ITEM)),
            "failures": {"B": pack(rows[start : start + FAILURES_PER_ITEM])},
            "expiration": table.expiration(),
        }
        for start in range(0, len(rows), FAILURES_PER_ITEM)
    ]


class Failures:
    def __init__(self, table: Table) -> None:
        self._table = table

    def put(self, send_id: str, group: str, failures: Sequence[Failure]) -> None:
        """Plain puts (the same items on a repeat): for failures known before the counts move."""
        for item in failure_items(self._table, send_id, group, failures):
            self._table.call("put_item", Item=item)

    def page(self, send_id: str, limit: int, token: str | None) -> tuple[list[Failure], str | None]:
        """Up to `limit` failures from where `token` (a previous page's) left off, and the next token."""
        start_sk, skip = FAIL, 0
        if token:
            start_sk, skip = read_token(token)
        page: list[Failure] = []
        items = self._table.query(
            KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
            ExpressionAttributeValues={":pk": {"S": send_id}, ":from": {"S": start_sk}, ":to": {"S": FAIL + "~"}},
            Limit=PAGE_ITEMS,
        )
        for item in items:
            sk = item["sk"]["S"]
            rows = unpack(item["failures"]["B"])
            offset = skip if sk == start_sk else 0
            for index in range(offset, len(rows)):
                if len(page) == limit:
                    return page, make_token(sk, index)
                user_id, channel, error = rows[index]
                page.append(Failure(userId=user_id, channel=channel, error=error))
        return page, None


def make_token(sk: str, index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([sk, index]).encode()).decode()


def read_token(token: str) -> tuple[str, int]:
    try:
        sk, index = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not (isinstance(sk, str) and sk.startswith(FAIL) and isinstance(index, int) and index >= 0):
            raise ValueError(token)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadRequest("nextToken: not a token this API gave") from exc
    return sk, index
