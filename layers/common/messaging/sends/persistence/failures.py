"""A send's failures (`fail#...` items, zlib JSON), read in sort-key order by
GET /sends/{sendId}/failures.

A group's failures (a batch's, a segment's unsent, the plan's users not found, a synchronous send's)
are written in the one transaction that moves the counts they explain (`commit`): a repeat whose
condition fails writes nothing, so the failures listed are exactly the ones counted, whatever
retries happened. A group too large for one transaction has its pages written first under a new
generation (`fpage#...`, never read until committed) and commits one item naming them.

An entry is never moved: a delivery event that resolves a user's `unknown: ...` to sent blanks it
(null) in place, so that page tokens stay valid.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from messaging.errors import BadRequest
from messaging.models.response import Failure
from messaging.sends.keys import FAIL, failures_key, failures_page_key, unknown_marker
from messaging.sends.persistence.dynamodb import (
    Item,
    Table,
    cancellation_reasons,
    is_conditional_failure,
    pack,
    retry_conflicts,
    unpack,
)
from messaging.sends.persistence.unknowns import UNKNOWN_PREFIX, Unknowns

FAILURES_PER_ITEM = 1_000
ITEM_BYTES = 300_000  # a failures item far below DynamoDB's 400 KB
# One transaction: at most 100 items and 4 MB; beyond these, the group's pages are staged.
INLINE_ITEMS = 20
INLINE_BYTES = 2_000_000
PAGE_ITEMS = 25


def _chunks(rows: list[list[Any]]) -> list[tuple[list[list[Any]], bytes]]:
    """The rows cut into items of at most FAILURES_PER_ITEM rows and ITEM_BYTES packed."""
    chunks: list[tuple[list[list[Any]], bytes]] = []
    pending = [rows[start : start + FAILURES_PER_ITEM] for start in range(0, len(rows), FAILURES_PER_ITEM)]
    while pending:
        part = pending.pop(0)
        packed = pack(part)
        if len(packed) > ITEM_BYTES and len(part) > 1:
            half = len(part) // 2
            pending[:0] = [part[:half], part[half:]]
            continue
        chunks.append((part, packed))
    return chunks


def failure_items(table: Table, send_id: str, group: str, failures: Sequence[Failure]) -> list[Item]:
    """A small group's items, inline (a delivery event's one failure)."""
    rows = [[f.userId, f.channel, f.error] for f in failures]
    return [
        {
            **table.key(send_id, failures_key(group, part)),
            "failures": {"B": packed},
            "expiration": table.expiration(),
        }
        for part, (_, packed) in enumerate(_chunks(rows))
    ]


class Failures:
    def __init__(self, table: Table) -> None:
        self._table = table

    def commit(self, send_id: str, group: str, failures: Sequence[Failure], update: Item) -> bool:
        """`update` (update_item's arguments but TableName: a conditional counted update) and the
        group's failures, together or not at all: False if the update's condition failed."""
        if not failures:
            return bool(retry_conflicts(lambda: self._table.conditional("update_item", **update)))
        rows = [[f.userId, f.channel, f.error] for f in failures]
        chunks = _chunks(rows)
        expiration = self._table.expiration()
        located: list[tuple[str, list[list[Any]]]] = []
        if len(chunks) <= INLINE_ITEMS and sum(len(packed) for _, packed in chunks) <= INLINE_BYTES:
            puts = []
            for part, (chunk, packed) in enumerate(chunks):
                sk = failures_key(group, part)
                located.append((sk, chunk))
                puts.append({**self._table.key(send_id, sk), "failures": {"B": packed}, "expiration": expiration})
        else:
            generation = uuid.uuid4().hex[:12]
            for part, (chunk, packed) in enumerate(chunks):
                sk = failures_page_key(group, generation, part)
                located.append((sk, chunk))
                page = {**self._table.key(send_id, sk), "failures": {"B": packed}, "expiration": expiration}
                self._table.call("put_item", Item=page)
            sizes = {"L": [{"N": str(len(chunk))} for chunk, _ in chunks]}
            head = {"generation": {"S": generation}, "sizes": sizes, "expiration": expiration}
            puts = [{**self._table.key(send_id, failures_key(group, 0)), **head}]
        unknown = [
            (sk, channel, user_id)
            for sk, chunk in located
            for user_id, channel, error in chunk
            if str(error).startswith(UNKNOWN_PREFIX)
        ]
        self._mark_unknown(send_id, unknown)
        items = [{"Update": {"TableName": self._table.name, **update}}]
        items += [{"Put": {"TableName": self._table.name, "Item": item}} for item in puts]
        try:
            self._table.transact(items)
        except ClientError as exc:
            if is_conditional_failure(exc) and cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        if unknown:
            # Their providers' events may have come first (a dispatcher dies, is retried, gives up).
            Unknowns(self._table).resolve_left(send_id, [(channel, user_id) for _, channel, user_id in unknown])
        return True

    def _mark_unknown(self, send_id: str, unknown: list[tuple[str, str, str]]) -> None:
        """Where each `unknown: ...` entry will be, before it is committed (a marker of a group never
        committed points at an item without the entry: whoever reads it checks)."""
        markers = [
            {
                "PutRequest": {
                    "Item": {
                        **self._table.key(send_id, unknown_marker(channel, user_id)),  # type: ignore[arg-type]
                        "at": {"S": sk},
                        "expiration": self._table.expiration(),
                    }
                }
            }
            for sk, channel, user_id in unknown
        ]
        for start in range(0, len(markers), 25):
            pending: list[Item] = markers[start : start + 25]
            while pending:
                self._table.requests["dynamodb"] += 1
                answer = self._table.client.batch_write_item(RequestItems={self._table.name: pending})
                pending = answer.get("UnprocessedItems", {}).get(self._table.name, [])

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
            offset = skip if sk == start_sk else 0
            for index, row in self._rows(send_id, item, offset):
                if len(page) == limit:
                    return page, make_token(sk, index)
                if row is not None:  # blanked: a delivery event resolved it to sent
                    user_id, channel, error = row
                    page.append(Failure(userId=user_id, channel=channel, error=error))
        return page, None

    def _rows(self, send_id: str, item: Item, offset: int) -> Iterator[tuple[int, Any]]:
        """An item's rows from `offset` on, with their indexes: inline, or in its committed pages."""
        if "failures" in item:
            rows = unpack(item["failures"]["B"])
            yield from ((index, rows[index]) for index in range(offset, len(rows)))
            return
        group = item["sk"]["S"][len(FAIL) :].rsplit("#", 1)[0]
        generation = item["generation"]["S"]
        first = 0
        for part, size in enumerate(int(each["N"]) for each in item["sizes"]["L"]):
            if offset < first + size:
                page = self._table.get(send_id, failures_page_key(group, generation, part))
                rows = unpack(page["failures"]["B"]) if page else [None] * size
                for index in range(max(offset, first), first + size):
                    yield index, rows[index - first]
            first += size


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
