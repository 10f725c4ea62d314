"""The state of asynchronous sends: DynamoDB for the records and counts, S3 for the bulky inputs.

One table (`SENDS_TABLE`), partition key `pk` = the send id, sort key `sk`:

- `send`: status, times, audience, notFound, the segment count, and per channel the counters
  `sent_<channel>`, `failed_<channel>`, `skipped_<channel>` (atomic `ADD`s as batches finish);
  pending is what the audience leaves over, so the counts add up at every moment.
- `seg#<k>`: a segment's lease (owner, leaseUntil) and its status.
- `batch#<k>#<channel>#<n>`: a batch's checkpoint: `started` (with its user ids) before its invoke,
  `done` in the same transaction that adds its counts and keeps its failures: counted once.
- `fail#...`: the failures of one batch (zlib JSON), read in order by the failures pages.

Every item expires (`expiration`, TTL) `SENDS_TTL_DAYS` after the send was accepted. The request
and each segment's user ids are JSON in S3 under `sends/<id>/` (the attachments bucket, one day).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from messaging.errors import BadRequest
from messaging.models.common import Channel
from messaging.models.response import Failure

SEND = "send"
FAIL = "fail#"
SENDS_PREFIX = "sends/"
# A failures item stays far below DynamoDB's 400 KB: a batch is at most 100 users by default.
FAILURES_PER_ITEM = 1_000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def segment_key(segment: int) -> str:
    return f"seg#{segment:06d}"


def batch_key(segment: int, channel: Channel, number: int) -> str:
    return f"batch#{segment:06d}#{channel}#{number:06d}"


def _pack(value: Any) -> bytes:
    return zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 6)


def _unpack(value: Any) -> Any:
    return json.loads(zlib.decompress(value))


def _is_conditional_failure(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = exc.response.get("CancellationReasons") or []
        return any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons)
    return False


@dataclass(frozen=True)
class SendRecord:
    send_id: str
    status: str
    scope: str
    channels: list[Channel]
    created_at: str
    updated_at: str
    completed_at: str | None
    audience: int
    not_found: int
    segments: int
    segments_done: int
    counts: dict[Channel, dict[str, int]]
    reason: str | None = None

    def channel_counts(self, channel: Channel) -> dict[str, int]:
        counts = self.counts.get(channel, {})
        sent, failed, skipped = (counts.get(name, 0) for name in ("sent", "failed", "skipped"))
        pending = max(0, self.audience + self.not_found - sent - failed - skipped)
        return {"sent": sent, "failed": failed, "skipped": skipped, "pending": pending}


@dataclass
class BatchState:
    channel: Channel
    number: int
    done: bool
    user_ids: list[str] = field(default_factory=list)


class SendStore:
    def __init__(self, dynamodb: Any, table: str, s3: Any, bucket: str, ttl_days: int = 7) -> None:
        self._db = dynamodb
        self._table = table
        self._s3 = s3
        self._bucket = bucket
        self._ttl_s = ttl_days * 24 * 3600
        self.requests = {"dynamodb": 0, "s3": 0}  # counted for the benchmark

    def _key(self, send_id: str, sk: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": send_id}, "sk": {"S": sk}}

    def _expiration(self) -> dict[str, str]:
        return {"N": str(int(time.time()) + self._ttl_s)}

    def _call(self, operation: str, **kwargs: Any) -> Any:
        self.requests["dynamodb"] += 1
        return getattr(self._db, operation)(TableName=self._table, **kwargs)

    # S3: the request and the segments' user ids.

    def put_json(self, send_id: str, name: str, value: Any) -> None:
        self.requests["s3"] += 1
        self._s3.put_object(
            Bucket=self._bucket,
            Key=f"{SENDS_PREFIX}{send_id}/{name}",
            Body=_pack(value),
            ContentType="application/zlib",
        )

    def get_json(self, send_id: str, name: str) -> Any:
        self.requests["s3"] += 1
        body = self._s3.get_object(Bucket=self._bucket, Key=f"{SENDS_PREFIX}{send_id}/{name}")["Body"].read()
        return _unpack(body)

    # The send record.

    def create(self, send_id: str, scope: str, channels: Sequence[Channel]) -> None:
        stamp = now_iso()
        self._call(
            "put_item",
            Item={
                **self._key(send_id, SEND),
                "status": {"S": "accepted"},
                "scope": {"S": scope},
                "channels": {"S": ",".join(channels)},
                "createdAt": {"S": stamp},
                "updatedAt": {"S": stamp},
                "audience": {"N": "0"},
                "notFound": {"N": "0"},
                "segments": {"N": "0"},
                "segmentsDone": {"N": "0"},
                "expiration": self._expiration(),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, send_id: str) -> SendRecord | None:
        item = self._call("get_item", Key=self._key(send_id, SEND), ConsistentRead=True).get("Item")
        if item is None:
            return None
        channels: list[Channel] = [c for c in item["channels"]["S"].split(",") if c]
        counts: dict[Channel, dict[str, int]] = {
            channel: {
                name: int(item.get(f"{name}_{channel}", {}).get("N", "0")) for name in ("sent", "failed", "skipped")
            }
            for channel in channels
        }
        return SendRecord(
            send_id=send_id,
            status=item["status"]["S"],
            scope=item.get("scope", {}).get("S", ""),
            channels=channels,
            created_at=item["createdAt"]["S"],
            updated_at=item["updatedAt"]["S"],
            completed_at=item.get("completedAt", {}).get("S"),
            audience=int(item["audience"]["N"]),
            not_found=int(item["notFound"]["N"]),
            segments=int(item["segments"]["N"]),
            segments_done=int(item["segmentsDone"]["N"]),
            counts=counts,
            reason=item.get("reason", {}).get("S"),
        )

    def planned(self, send_id: str, audience: int, not_found: int, segments: int, channels: Sequence[Channel]) -> bool:
        """accepted -> running, with the audience counted and the users not found failed on every
        channel. False if another attempt planned it first."""
        adds = ", ".join(f"failed_{channel} :missing" for channel in channels)
        try:
            self._call(
                "update_item",
                Key=self._key(send_id, SEND),
                UpdateExpression=(
                    "SET #status = :running, #audience = :audience, #notFound = :missing, #segments = :segments, "
                    f"#updatedAt = :now ADD {adds}"
                ),
                ConditionExpression="#status = :accepted",
                ExpressionAttributeNames={
                    "#status": "status",
                    "#audience": "audience",
                    "#notFound": "notFound",
                    "#segments": "segments",
                    "#updatedAt": "updatedAt",
                },
                ExpressionAttributeValues={
                    ":running": {"S": "running"},
                    ":accepted": {"S": "accepted"},
                    ":audience": {"N": str(audience)},
                    ":missing": {"N": str(not_found)},
                    ":segments": {"N": str(segments)},
                    ":now": {"S": now_iso()},
                },
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def finish(self, send_id: str, status: str, reason: str | None = None) -> bool:
        """running/accepted -> completed or failed, once."""
        values: dict[str, dict[str, str]] = {
            ":status": {"S": status},
            ":now": {"S": now_iso()},
            ":completed": {"S": "completed"},
            ":failed": {"S": "failed"},
        }
        update = "SET #status = :status, #updatedAt = :now, #completedAt = :now"
        if reason is not None:
            update += ", #reason = :reason"
            values[":reason"] = {"S": reason[:1000]}
        try:
            self._call(
                "update_item",
                Key=self._key(send_id, SEND),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk) AND #status <> :completed AND #status <> :failed",
                ExpressionAttributeNames={
                    "#status": "status",
                    "#updatedAt": "updatedAt",
                    "#completedAt": "completedAt",
                    **({"#reason": "reason"} if reason is not None else {}),
                },
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def note_gave_up(self, send_id: str, reason: str) -> None:
        """The send ends `failed` (not `completed`) once its last segment is accounted for."""
        self._call(
            "update_item",
            Key=self._key(send_id, SEND),
            UpdateExpression="SET #reason = :reason, #updatedAt = :now",
            ExpressionAttributeNames={"#reason": "reason", "#updatedAt": "updatedAt"},
            ExpressionAttributeValues={":reason": {"S": reason[:1000]}, ":now": {"S": now_iso()}},
        )

    # Failures.

    def _failure_items(self, send_id: str, sk: str, failures: Sequence[Failure]) -> list[dict[str, Any]]:
        rows = [[f.userId, f.channel, f.error] for f in failures]
        return [
            {
                **self._key(send_id, f"{FAIL}{sk}#{start // FAILURES_PER_ITEM:04d}"),
                "failures": {"B": _pack(rows[start : start + FAILURES_PER_ITEM])},
                "expiration": self._expiration(),
            }
            for start in range(0, len(rows), FAILURES_PER_ITEM)
        ]

    def put_failures(self, send_id: str, sk: str, failures: Sequence[Failure]) -> None:
        """Plain puts (the same items on a repeat): for failures known before the counts move."""
        for item in self._failure_items(send_id, sk, failures):
            self._call("put_item", Item=item)

    def failures_page(self, send_id: str, limit: int, token: str | None) -> tuple[list[Failure], str | None]:
        start_sk, skip = FAIL, 0
        if token:
            start_sk, skip = _read_token(token)
        page: list[Failure] = []
        exclusive: dict[str, Any] | None = None
        while True:
            query: dict[str, Any] = {
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
                "ExpressionAttributeValues": {
                    ":pk": {"S": send_id},
                    ":from": {"S": start_sk},
                    ":to": {"S": FAIL + "~"},
                },
                "Limit": 25,
                "ConsistentRead": True,
            }
            if exclusive:
                query["ExclusiveStartKey"] = exclusive
            answer = self._call("query", **query)
            for item in answer.get("Items", []):
                sk = item["sk"]["S"]
                rows = _unpack(item["failures"]["B"])
                offset = skip if sk == start_sk else 0
                for index in range(offset, len(rows)):
                    if len(page) == limit:
                        return page, _make_token(sk, index)
                    user_id, channel, error = rows[index]
                    page.append(Failure(userId=user_id, channel=channel, error=error))
            exclusive = answer.get("LastEvaluatedKey")
            if not exclusive:
                return page, None

    # Segments and batches.

    def claim_segment(self, send_id: str, segment: int, owner: str, lease_s: float) -> str:
        """'claimed', 'done', or 'busy' (another live dispatcher holds it: the seconds it still may)."""
        now = time.time()
        try:
            self._call(
                "update_item",
                Key=self._key(send_id, segment_key(segment)),
                UpdateExpression="SET #owner = :me, #lease = :until, #expiration = :expiration",
                ConditionExpression=(
                    "attribute_not_exists(#status) AND "
                    "(attribute_not_exists(#owner) OR #owner = :me OR #owner = :none OR #lease < :now)"
                ),
                ExpressionAttributeNames={
                    "#owner": "owner",
                    "#status": "status",
                    "#lease": "leaseUntil",
                    "#expiration": "expiration",
                },
                ExpressionAttributeValues={
                    ":me": {"S": owner},
                    ":none": {"S": ""},
                    ":until": {"N": f"{now + lease_s:.3f}"},
                    ":now": {"N": f"{now:.3f}"},
                    ":expiration": self._expiration(),
                },
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            item = self._call("get_item", Key=self._key(send_id, segment_key(segment)), ConsistentRead=True).get(
                "Item", {}
            )
            if "status" in item:
                return "done"
            return "busy"
        return "claimed"

    def lease_left_s(self, send_id: str, segment: int) -> float:
        item = self._call("get_item", Key=self._key(send_id, segment_key(segment)), ConsistentRead=True).get("Item", {})
        return float(item.get("leaseUntil", {}).get("N", "0")) - time.time()

    def release_segment(self, send_id: str, segment: int, owner: str) -> None:
        try:
            self._call(
                "update_item",
                Key=self._key(send_id, segment_key(segment)),
                UpdateExpression="SET #owner = :none, #lease = :zero",
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner", "#lease": "leaseUntil"},
                ExpressionAttributeValues={":me": {"S": owner}, ":none": {"S": ""}, ":zero": {"N": "0"}},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    def batches(self, send_id: str, segment: int) -> list[BatchState]:
        prefix = f"batch#{segment:06d}#"
        states: list[BatchState] = []
        exclusive: dict[str, Any] | None = None
        while True:
            query: dict[str, Any] = {
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": {":pk": {"S": send_id}, ":prefix": {"S": prefix}},
                "ConsistentRead": True,
            }
            if exclusive:
                query["ExclusiveStartKey"] = exclusive
            answer = self._call("query", **query)
            for item in answer.get("Items", []):
                _, _, channel, number = item["sk"]["S"].split("#")
                states.append(
                    BatchState(
                        channel=channel,
                        number=int(number),
                        done=item["status"]["S"] == "done",
                        user_ids=_unpack(item["users"]["B"]),
                    )
                )
            exclusive = answer.get("LastEvaluatedKey")
            if not exclusive:
                return states

    def start_batch(self, send_id: str, segment: int, channel: Channel, number: int, user_ids: list[str]) -> bool:
        """The checkpoint before the invoke; False if the batch was already started."""
        try:
            self._call(
                "put_item",
                Item={
                    **self._key(send_id, batch_key(segment, channel, number)),
                    "status": {"S": "started"},
                    "users": {"B": _pack(user_ids)},
                    "expiration": self._expiration(),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def finish_batch(
        self, send_id: str, segment: int, channel: Channel, number: int, users: int, failures: Sequence[Failure]
    ) -> bool:
        """started -> done, its counts added and its failures kept, in one transaction: False if it
        was done already (nothing added twice)."""
        sk = batch_key(segment, channel, number)
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._key(send_id, sk),
                    "UpdateExpression": "SET #status = :done",
                    "ConditionExpression": "#status = :started",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":done": {"S": "done"}, ":started": {"S": "started"}},
                }
            },
            self._add_counts(send_id, {f"sent_{channel}": users - len(failures), f"failed_{channel}": len(failures)}),
        ]
        items += [
            {"Put": {"TableName": self._table, "Item": item}} for item in self._failure_items(send_id, sk[6:], failures)
        ]
        return self._transact(items)

    def finish_segment(
        self, send_id: str, segment: int, skipped: Mapping[Channel, int], missing: Sequence[Failure]
    ) -> bool:
        """The segment's users without an address (skipped) and gone since planning (failed), and
        the segment counted done: once."""
        adds: dict[str, int] = {"segmentsDone": 1}
        for channel, count in skipped.items():
            adds[f"skipped_{channel}"] = count
        for failure in missing:
            adds[f"failed_{failure.channel}"] = adds.get(f"failed_{failure.channel}", 0) + 1
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._key(send_id, segment_key(segment)),
                    "UpdateExpression": "SET #status = :done",
                    "ConditionExpression": "attribute_not_exists(#status)",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":done": {"S": "done"}},
                }
            },
            self._add_counts(send_id, adds),
        ]
        items += [
            {"Put": {"TableName": self._table, "Item": item}}
            for item in self._failure_items(send_id, f"{segment:06d}#missing", missing)
        ]
        return self._transact(items)

    def _add_counts(self, send_id: str, adds: Mapping[str, int]) -> dict[str, Any]:
        names = {f"#c{index}": name for index, name in enumerate(adds)}
        values = {f":c{index}": {"N": str(value)} for index, value in enumerate(adds.values())}
        return {
            "Update": {
                "TableName": self._table,
                "Key": self._key(send_id, SEND),
                "UpdateExpression": "SET #updatedAt = :now ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(adds))),
                "ExpressionAttributeNames": {**names, "#updatedAt": "updatedAt"},
                "ExpressionAttributeValues": {**values, ":now": {"S": now_iso()}},
            }
        }

    def _transact(self, items: list[dict[str, Any]]) -> bool:
        try:
            self._call_transact(items)
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def _call_transact(self, items: list[dict[str, Any]]) -> None:
        self.requests["dynamodb"] += 1
        self._db.transact_write_items(TransactItems=items)


def _make_token(sk: str, index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([sk, index]).encode()).decode()


def _read_token(token: str) -> tuple[str, int]:
    try:
        sk, index = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not (isinstance(sk, str) and sk.startswith(FAIL) and isinstance(index, int) and index >= 0):
            raise ValueError(token)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadRequest("nextToken: not a token this API gave") from exc
    return sk, index


def counted(failures: Iterable[Failure]) -> dict[Channel, int]:
    counts: dict[Channel, int] = {}
    for failure in failures:
        counts[failure.channel] = counts.get(failure.channel, 0) + 1
    return counts
