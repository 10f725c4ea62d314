"""The state of asynchronous sends: DynamoDB for the records and counts, S3 for the bulky inputs.

One table (`SENDS_TABLE`), partition key `pk` = the send id, sort key `sk`:

- `send`: status, times, audience, notFound, the segment count, the planning attempt whose segments
  are the send's (`plan`), and the users not found (counted `failed_<channel>` when the audience is
  planned).
- `seg#<k>`: a segment's lease (owner, leaseUntil), its status, and its counters `sent_<channel>`,
  `failed_<channel>`, `skipped_<channel>`, moved by one conditional `ADD` per finished batch that
  also adds the batch's name to the segment's `applied` set (`NOT contains(applied, batch)`): a
  batch is counted once, however often its finish is repeated, without a transaction. The status
  sums the segments (one Query); pending is what the audience leaves over, so the counts add up at
  every moment.
- `batch#<k>#<channel>#<n>`: a batch's checkpoint, `started` with its user ids before its invoke;
  it is done once its name is in the segment's `applied`.
- `fail#...`: the failures of one batch (zlib JSON), written before its counts move (the same item
  again on a repeat), read in order by the failures pages. A synchronous send's are `fail#sync#...`.
- `evt#<channel>#<outcome>#<provider message id>`: a provider's delivery event recorded (FeedbackFunction),
  in one transaction with its counter `ADD`ed to the `send` item and, for a bounce, complaint or
  carrier failure, its failure `fail#{event#...` (after every dispatch failure in the pages): an
  event delivered again finds its marker and changes nothing; a bounce takes the same message's
  delivery back (TAKES_BACK).

Synchronous sends are recorded too (`record_sync`, after their dispatch): a `completed` send item
with its counts and failures, so that their delivery events and GET /sends/{sendId} work alike.

Every item expires (`expiration`, TTL) `SENDS_TTL_DAYS` after the send was accepted. The request
and each segment's user ids are JSON in S3 under `sends/<id>/` (the attachments bucket, one day):
each planning attempt writes its segments under `plans/<attempt>/` of its own, and only the attempt
that moved the send to running is read (two attempts streaming a changing audience cut it apart
differently: their segments must not mix).
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from messaging.errors import BadRequest
from messaging.models.common import CHANNELS, Channel
from messaging.models.response import Failure

SEND = "send"
FAIL = "fail#"
SENDS_PREFIX = "sends/"
# A failures item stays far below DynamoDB's 400 KB: a batch is at most 100 users by default.
FAILURES_PER_ITEM = 1_000
COUNTERS = ("sent", "failed", "skipped")
# Parts of `skipped` (why) and of `sent` (what became of it, from the providers' delivery events).
DETAILS = ("optedOut", "staleToken", "delivered", "bounced", "complained", "undelivered")
# '{' sorts after every digit and letter: the events' failures follow the dispatch's, inside fail#..fail#~.
EVENT_FAIL = "{event#"
EVENT = "evt#"
# A later outcome of the same message that takes an earlier one back: SES can report a bounce after
# the delivery (the receiving server accepted, then bounced). The message is counted bounced, not
# both, in either order of arrival.
TAKES_BACK = {"bounced": "delivered"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def plan_object(plan: str, name: str) -> str:
    """`segments/<k>.json` or `missing.json` of one planning attempt."""
    return f"plans/{plan}/{name}" if plan else name


def segment_key(segment: int) -> str:
    return f"seg#{segment:06d}"


def batch_key(segment: int, channel: Channel, number: int) -> str:
    return f"batch#{segment:06d}#{channel}#{number:06d}"


def _pack(value: Any) -> bytes:
    return zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 6)


def _unpack(value: Any) -> Any:
    return json.loads(zlib.decompress(value))


# Delivery events of one send arrive together (thousands a minute for a large send), each a
# transaction on the send item: DynamoDB cancels one that meets another in flight, and botocore does
# not retry that. Retried here, with jitter, so that a busy send's events are not errors (each a
# Lambda retry minutes later, the third one dropped).
CONFLICT_ATTEMPTS = 6
CONFLICT_BACKOFF_S = 0.02


def _is_conflict(exc: ClientError) -> bool:
    """Another transaction on the same item was in flight: nothing was written, try again."""
    code = exc.response.get("Error", {}).get("Code")
    if code == "TransactionConflictException":
        return True
    if code == "TransactionCanceledException":
        reasons = [reason.get("Code") for reason in exc.response.get("CancellationReasons") or []]
        return "TransactionConflict" in reasons and "ConditionalCheckFailed" not in reasons
    return False


def _retry_conflicts(call: Callable[[], Any], sleep: Callable[[float], None] = time.sleep) -> Any:
    for attempt in range(CONFLICT_ATTEMPTS):
        try:
            return call()
        except ClientError as exc:
            if not _is_conflict(exc) or attempt == CONFLICT_ATTEMPTS - 1:
                raise
            sleep(random.uniform(0, CONFLICT_BACKOFF_S * 2**attempt))  # noqa: S311 - jitter
    raise AssertionError("unreachable")


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
    counts: dict[Channel, dict[str, int]]  # the send's own (users not found) plus its segments'
    updated_at_segments: str | None = None
    reason: str | None = None
    plan: str = ""  # the committed planning attempt; "" for a send planned before attempts had prefixes

    def planned_object(self, name: str) -> str:
        """The S3 name (under the send) of one of the committed plan's objects."""
        return plan_object(self.plan, name)

    def channel_counts(self, channel: Channel) -> dict[str, int]:
        counts = self.counts.get(channel, {})
        sent, failed, skipped = (counts.get(name, 0) for name in COUNTERS)
        pending = max(0, self.audience + self.not_found - sent - failed - skipped)
        details = {name: counts.get(name, 0) for name in DETAILS}
        return {"sent": sent, "failed": failed, "skipped": skipped, "pending": pending, **details}


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
        self._segment_writes = threading.Lock()

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
        try:
            self._put_new_send(send_id, scope, channels, stamp)
        except ClientError as exc:
            # The id is new: only our own write, repeated by botocore after a lost answer, can be there.
            if not _is_conditional_failure(exc):
                raise

    def _put_new_send(self, send_id: str, scope: str, channels: Sequence[Channel], stamp: str) -> None:
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
            channel: {name: _number(item, f"{name}_{channel}") for name in COUNTERS + DETAILS} for channel in channels
        }
        segments_done = 0
        updated_at = item["updatedAt"]["S"]
        for segment in self._segments(send_id):
            segments_done += segment.get("status", {}).get("S") == "done"
            updated_at = max(updated_at, segment.get("updatedAt", {}).get("S", ""))
            for channel in channels:
                for name in COUNTERS + DETAILS:
                    counts[channel][name] += _number(segment, f"{name}_{channel}")
        return SendRecord(
            send_id=send_id,
            status=item["status"]["S"],
            scope=item.get("scope", {}).get("S", ""),
            channels=channels,
            created_at=item["createdAt"]["S"],
            updated_at=updated_at,
            completed_at=item.get("completedAt", {}).get("S"),
            audience=int(item["audience"]["N"]),
            not_found=int(item["notFound"]["N"]),
            segments=int(item["segments"]["N"]),
            segments_done=segments_done,
            counts=counts,
            reason=item.get("reason", {}).get("S"),
            plan=item.get("plan", {}).get("S", ""),
        )

    def _segments(self, send_id: str) -> Iterator[dict[str, Any]]:
        """The segment items' status and counters (not their `applied` sets)."""
        names = {"#status": "status", "#updatedAt": "updatedAt", "#sk": "sk"}
        names |= {f"#{name}_{channel}": f"{name}_{channel}" for name in COUNTERS + DETAILS for channel in CHANNELS}
        exclusive: dict[str, Any] | None = None
        while True:
            query: dict[str, Any] = {
                "KeyConditionExpression": "pk = :pk AND begins_with(#sk, :prefix)",
                "ExpressionAttributeValues": {":pk": {"S": send_id}, ":prefix": {"S": "seg#"}},
                "ExpressionAttributeNames": names,
                "ProjectionExpression": ", ".join(names),
                "ConsistentRead": True,
            }
            if exclusive:
                query["ExclusiveStartKey"] = exclusive
            answer = self._call("query", **query)
            yield from answer.get("Items", [])
            exclusive = answer.get("LastEvaluatedKey")
            if not exclusive:
                return

    def planned(
        self, send_id: str, plan: str, audience: int, not_found: int, segments: int, channels: Sequence[Channel]
    ) -> bool:
        """accepted -> running, with the planning attempt whose segments are read from now on, the
        audience counted and the users not found failed on every channel. False if another attempt
        planned it first."""
        adds = ", ".join(f"failed_{channel} :missing" for channel in channels)
        try:
            self._call(
                "update_item",
                Key=self._key(send_id, SEND),
                UpdateExpression=(
                    "SET #status = :running, #plan = :plan, #audience = :audience, #notFound = :missing, "
                    f"#segments = :segments, #updatedAt = :now ADD {adds}"
                ),
                ConditionExpression="#status = :accepted",
                ExpressionAttributeNames={
                    "#status": "status",
                    "#plan": "plan",
                    "#audience": "audience",
                    "#notFound": "notFound",
                    "#segments": "segments",
                    "#updatedAt": "updatedAt",
                },
                ExpressionAttributeValues={
                    ":running": {"S": "running"},
                    ":accepted": {"S": "accepted"},
                    ":plan": {"S": plan},
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

    # Synchronous sends, recorded once their messages left.

    def record_sync(
        self,
        send_id: str,
        scope: str,
        channels: Sequence[Channel],
        audience: int,
        not_found: int,
        counts: Mapping[Channel, Mapping[str, int]],
        failures: Sequence[Failure],
    ) -> bool:
        """A `completed` send with its counts (`<name>_<channel>`, names from COUNTERS and DETAILS)
        and failures. An update, not a put: counters a delivery event added first are kept. False if
        it was recorded already (a repeated call adds nothing)."""
        names = {"#status": "status", "#scope": "scope", "#channels": "channels", "#createdAt": "createdAt"}
        names |= {"#updatedAt": "updatedAt", "#completedAt": "completedAt", "#audience": "audience"}
        names |= {"#notFound": "notFound", "#segments": "segments", "#expiration": "expiration"}
        stamp = now_iso()
        values: dict[str, dict[str, str]] = {
            ":completed": {"S": "completed"},
            ":scope": {"S": scope},
            ":channels": {"S": ",".join(channels)},
            ":now": {"S": stamp},
            ":audience": {"N": str(audience)},
            ":missing": {"N": str(not_found)},
            ":zero": {"N": "0"},
            ":expiration": self._expiration(),
        }
        adds: list[str] = []
        for channel, by_name in counts.items():
            for name, value in by_name.items():
                if name not in COUNTERS + DETAILS or channel not in CHANNELS:
                    raise ValueError(f"not a send counter: {name}_{channel}")
                if value:
                    names[f"#{name}_{channel}"] = f"{name}_{channel}"
                    values[f":{name}_{channel}"] = {"N": str(int(value))}
                    adds.append(f"#{name}_{channel} :{name}_{channel}")
        self.put_failures(send_id, "sync", failures)
        update = (
            "SET #status = :completed, #scope = :scope, #channels = :channels, "
            "#createdAt = if_not_exists(#createdAt, :now), #updatedAt = :now, #completedAt = :now, "
            "#audience = :audience, #notFound = :missing, #segments = if_not_exists(#segments, :zero), "
            "#expiration = if_not_exists(#expiration, :expiration)"
        ) + (" ADD " + ", ".join(adds) if adds else "")
        try:
            # A delivery event's transaction on the item (the send was opened before dispatch) can meet it.
            _retry_conflicts(
                lambda: self._call(
                    "update_item",
                    Key=self._key(send_id, SEND),
                    UpdateExpression=update,
                    ConditionExpression="attribute_not_exists(#completedAt)",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    # Delivery events (FeedbackFunction).

    def record_event(
        self,
        send_id: str,
        channel: Channel,
        outcome: str,
        message_id: str,
        counter: str | None,
        failure: Failure | None,
    ) -> str:
        """One provider event of one message, once: `recorded`, `duplicate` (its marker is there:
        SNS delivered it again), or `unknown` (no such send, or its record expired).

        One transaction: the send item's counter `ADD`ed (or only checked), the marker put if absent,
        the failure kept. The marker is per message and outcome, so that two event types meaning
        the same (End User Messaging's TEXT_SUCCESSFUL and TEXT_DELIVERED) count once."""
        if counter is not None and counter not in DETAILS:
            raise ValueError(f"not a delivery counter: {counter}")
        names = {"#expiration": "expiration"}
        values: dict[str, dict[str, str]] = {":now": {"N": str(int(time.time()))}}
        check: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._key(send_id, SEND),
            "ConditionExpression": "attribute_exists(pk) AND (attribute_not_exists(#expiration) OR #expiration > :now)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        send_item: dict[str, Any] = {"ConditionCheck": check}
        if counter is not None:
            names["#counter"] = f"{counter}_{channel}"
            values[":one"] = {"N": "1"}
            send_item = {"Update": {**check, "UpdateExpression": "ADD #counter :one"}}
        marker = f"{EVENT}{channel}#{outcome}#{message_id}"
        items: list[dict[str, Any]] = [
            send_item,
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {**self._key(send_id, marker), "expiration": self._expiration()},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        taken_back_by = [later for later, earlier in TAKES_BACK.items() if earlier == outcome]
        # Not counted if a later outcome that takes it back is recorded already (third item).
        items += [
            {
                "ConditionCheck": {
                    "TableName": self._table,
                    "Key": self._key(send_id, f"{EVENT}{channel}#{later}#{message_id}"),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for later in taken_back_by
        ]
        if failure is not None:
            sk = f"{EVENT_FAIL}{channel}#{outcome}#{message_id}"
            items += [
                {"Put": {"TableName": self._table, "Item": item}}
                for item in self._failure_items(send_id, sk, [failure])
            ]

        def write() -> None:
            self.requests["dynamodb"] += 1
            # botocore fills ClientRequestToken once per call: a retry after a lost answer is the same
            # transaction (DynamoDB answers it again), never a "duplicate". A conflict wrote nothing:
            # its retry is a new call.
            self._db.transact_write_items(TransactItems=items)

        verdict = "recorded"
        try:
            _retry_conflicts(write)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [reason.get("Code") for reason in exc.response.get("CancellationReasons") or []]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return "unknown"
            if "ConditionalCheckFailed" not in reasons[1:]:
                raise
            verdict = "duplicate"  # recorded before, or taken back by a later outcome already
        if outcome in TAKES_BACK:
            # Also after a duplicate: a retry finishes what a crash between the two writes left.
            self._take_back(send_id, channel, TAKES_BACK[outcome], message_id)
        return verdict

    def _take_back(self, send_id: str, channel: Channel, earlier: str, message_id: str) -> None:
        """The earlier outcome's marker deleted and its counter lowered, once (only if the marker is there)."""
        items: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": self._key(send_id, f"{EVENT}{channel}#{earlier}#{message_id}"),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._key(send_id, SEND),
                    "UpdateExpression": "ADD #counter :minus",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeNames": {"#counter": f"{earlier}_{channel}"},
                    "ExpressionAttributeValues": {":minus": {"N": "-1"}},
                }
            },
        ]

        def write() -> None:
            self.requests["dynamodb"] += 1
            self._db.transact_write_items(TransactItems=items)

        try:
            _retry_conflicts(write)
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

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
        """The segment's checkpointed batches; done are those its `applied` set names."""
        seg = self._call("get_item", Key=self._key(send_id, segment_key(segment)), ConsistentRead=True).get("Item", {})
        applied = set(seg.get("applied", {}).get("SS", []))
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
                        done=f"{channel}#{int(number)}" in applied,
                        user_ids=_unpack(item["users"]["B"]),
                    )
                )
            exclusive = answer.get("LastEvaluatedKey")
            if not exclusive:
                return states

    def start_batch(self, send_id: str, segment: int, channel: Channel, number: int, user_ids: list[str]) -> bool:
        """The checkpoint before the invoke; False if another attempt started the batch."""
        key = self._key(send_id, batch_key(segment, channel, number))
        # Tells our own write, repeated by botocore after a lost answer, from another attempt's.
        token = uuid.uuid4().hex
        try:
            self._call(
                "put_item",
                Item={
                    **key,
                    "status": {"S": "started"},
                    "users": {"B": _pack(user_ids)},
                    "token": {"S": token},
                    "expiration": self._expiration(),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            item = self._call("get_item", Key=key, ConsistentRead=True).get("Item", {})
            return bool(item.get("token", {}).get("S") == token)
        return True

    def finish_batch(
        self,
        send_id: str,
        segment: int,
        channel: Channel,
        number: int,
        users: int,
        failures: Sequence[Failure],
        *,
        opted_out: int = 0,
    ) -> bool:
        """The batch's failures kept, then its counts added to its segment with its name, in one
        conditional update: False if it was counted already (nothing is added twice). `opted_out`:
        users the provider refused as opted out, skipped (not failures) on a non-transactional send."""
        name = f"{channel}#{number}"
        self.put_failures(send_id, batch_key(segment, channel, number)[6:], failures)
        adds = {f"sent_{channel}": users - len(failures) - opted_out, f"failed_{channel}": len(failures)}
        if opted_out:
            adds |= {f"skipped_{channel}": opted_out, f"optedOut_{channel}": opted_out}
        return self._add_to_segment(send_id, segment, adds, applied=name)

    def finish_segment(
        self,
        send_id: str,
        segment: int,
        skipped: Mapping[Channel, int],
        unsent: Sequence[Failure],
        *,
        reasons: Mapping[tuple[Channel, str], int] | None = None,
    ) -> bool:
        """The segment's users skipped (no address, opted out, stale token: `reasons` says which,
        by (channel, reason)) and not sent (gone since planning, not rendered), and the segment
        done: once."""
        adds: dict[str, int] = {}
        for channel, count in skipped.items():
            adds[f"skipped_{channel}"] = count
        for (channel, reason), count in (reasons or {}).items():
            if reason in DETAILS and count:  # noAddress is what the skips leave over
                adds[f"{reason}_{channel}"] = count
        for failure in unsent:
            adds[f"failed_{failure.channel}"] = adds.get(f"failed_{failure.channel}", 0) + 1
        self.put_failures(send_id, f"{segment:06d}#unsent", unsent)
        return self._add_to_segment(send_id, segment, adds, done=True)

    def _add_to_segment(
        self, send_id: str, segment: int, adds: Mapping[str, int], *, applied: str | None = None, done: bool = False
    ) -> bool:
        names = {"#updatedAt": "updatedAt", "#status": "status"}
        values: dict[str, dict[str, Any]] = {":now": {"S": now_iso()}}
        sets = ["#updatedAt = :now"]
        counters: list[str] = []
        for index, (name, value) in enumerate(adds.items()):
            names[f"#c{index}"] = name
            values[f":c{index}"] = {"N": str(value)}
            counters.append(f"#c{index} :c{index}")
        if applied is not None:
            names["#applied"] = "applied"
            values[":batch"] = {"SS": [applied]}
            values[":name"] = {"S": applied}
            counters.append("#applied :batch")
            condition = "NOT contains(#applied, :name) AND attribute_not_exists(#status)"
        else:
            condition = "attribute_not_exists(#status)"
        if done:
            sets.append("#status = :done")
            values[":done"] = {"S": "done"}
        update = "SET " + ", ".join(sets) + (" ADD " + ", ".join(counters) if counters else "")
        try:
            # One segment item, updated by its dispatcher's threads one at a time: DynamoDB serialises
            # writes to an item anyway, and moto (the offline stand-in) loses concurrent updates of one.
            with self._segment_writes:
                self._update_segment(send_id, segment, update, condition, names, values)
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def _update_segment(
        self,
        send_id: str,
        segment: int,
        update: str,
        condition: str,
        names: Mapping[str, str],
        values: Mapping[str, Any],
    ) -> None:
        self._call(
            "update_item",
            Key=self._key(send_id, segment_key(segment)),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )


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


def _number(item: Mapping[str, Any], name: str) -> int:
    return int(item.get(name, {}).get("N", "0"))
