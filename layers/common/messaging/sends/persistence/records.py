"""The `send` item: a send's record, its status moved by conditional writes only along
messaging.sends.states.TRANSITIONS, and its counts summed with its segments' when read.

The `send` item holds the status, times, audience, notFound, the segment count, the planning
attempt whose segments are the send's (`plan`), the users not found (counted `failed_<channel>`
when the audience is planned) and the delivery events' counters. Segments hold the rest of the
counts: the status sums them (one Query); pending is what the audience leaves over, so the counts
add up at every moment.

Synchronous sends are recorded too (`record_sync`, after their dispatch): a `completed` send item
with its counts and failures, so that their delivery events and GET /sends/{sendId} work alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from messaging.models.common import CHANNELS, Channel
from messaging.models.response import Failure
from messaging.sends.keys import PLAN_MISSING, SEGMENT, SEND, SYNC_FAILURES
from messaging.sends.persistence.dynamodb import (
    Item,
    Table,
    now_iso,
    number,
    utc_iso,
)
from messaging.sends.persistence.failures import Failures
from messaging.sends.states import CANCELLED, COUNTERS, DETAILS, SEGMENT_DONE, SendRecord, SendState, sources

_ALL_COUNTS = (*COUNTERS, CANCELLED, *DETAILS)


class SendRecords:
    def __init__(self, table: Table, failures: Failures) -> None:
        self._table = table
        self._failures = failures

    def create(
        self,
        send_id: str,
        scope: str,
        channels: Sequence[Channel],
        send_at: datetime | None = None,
        *,
        synchronous: bool = False,
        reference: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        """A new send, `accepted`, or `scheduled` at `send_at` (kept until it has run, and its TTL after)."""
        stamp = now_iso()
        item = {
            **self._table.key(send_id, SEND),
            "status": {"S": SendState.SCHEDULED if send_at else SendState.ACCEPTED},
            "scope": {"S": scope},
            "channels": {"S": ",".join(channels)},
            "createdAt": {"S": stamp},
            "updatedAt": {"S": stamp},
            "audience": {"N": "0"},
            "notFound": {"N": "0"},
            "segments": {"N": "0"},
            "expiration": self._table.expiration(send_at.timestamp() if send_at else None),
        }
        if send_at:
            item["sendAt"] = {"S": utc_iso(send_at)}
        if synchronous:
            item["sync"] = {"BOOL": True}  # answered by its request: it cannot be cancelled
        item |= {
            name: {"S": value} for name, value in (("reference", reference), ("correlationId", correlation_id)) if value
        }
        # The id is new, or derived from a key whose record was looked for first (sends.accept.made_before):
        # only our own write, repeated by botocore after a lost answer, can be there.
        self._table.conditional("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")

    def get(self, send_id: str) -> SendRecord | None:
        item = self._table.get(send_id, SEND)
        if not item:
            return None
        channels: list[Channel] = [c for c in item["channels"]["S"].split(",") if c]
        counts = {channel: {name: number(item, f"{name}_{channel}") for name in _ALL_COUNTS} for channel in channels}
        segments_done = 0
        updated_at = item["updatedAt"]["S"]
        for segment in self._segments(send_id):
            segments_done += segment.get("status", {}).get("S") == SEGMENT_DONE
            updated_at = max(updated_at, segment.get("updatedAt", {}).get("S", ""))
            for channel in channels:
                for name in _ALL_COUNTS:
                    counts[channel][name] += number(segment, f"{name}_{channel}")
        return SendRecord(
            send_id=send_id,
            status=SendState(item["status"]["S"]),
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
            send_at=item.get("sendAt", {}).get("S"),
            synchronous=bool(item.get("sync", {}).get("BOOL")),
            reference=item.get("reference", {}).get("S"),
            correlation_id=item.get("correlationId", {}).get("S"),
        )

    def _segments(self, send_id: str) -> Iterator[Item]:
        """The segment items' status and counters (not their `applied` sets)."""
        names = {"#status": "status", "#updatedAt": "updatedAt", "#sk": "sk"}
        names |= {f"#{name}_{channel}": f"{name}_{channel}" for name in _ALL_COUNTS for channel in CHANNELS}
        return self._table.query(
            KeyConditionExpression="pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": send_id}, ":prefix": {"S": SEGMENT}},
            ExpressionAttributeNames=names,
            ProjectionExpression=", ".join(names),
        )

    def planned(
        self,
        send_id: str,
        plan: str,
        audience: int,
        missing: Sequence[Failure],
        segments: int,
        channels: Sequence[Channel],
    ) -> bool:
        """accepted (or scheduled) -> running, with the planning attempt whose segments are read from
        now on, the audience counted and the users not found (`missing`: one failure per user and
        channel) failed and listed, in one transaction. False if another attempt planned it first (then
        this one lists nothing), or a cancel came first."""
        accepted, scheduled = sorted(sources(SendState.RUNNING))
        adds = ", ".join(f"failed_{channel} :missing" for channel in channels)
        not_found = len(missing) // max(1, len(channels))
        update = dict(
            Key=self._table.key(send_id, SEND),
            UpdateExpression=(
                "SET #status = :running, #plan = :plan, #audience = :audience, #notFound = :missing, "
                f"#segments = :segments, #updatedAt = :now ADD {adds}"
            ),
            ConditionExpression="#status IN (:accepted, :scheduled)",
            ExpressionAttributeNames={
                "#status": "status",
                "#plan": "plan",
                "#audience": "audience",
                "#notFound": "notFound",
                "#segments": "segments",
                "#updatedAt": "updatedAt",
            },
            ExpressionAttributeValues={
                ":running": {"S": SendState.RUNNING},
                ":accepted": {"S": accepted},
                ":scheduled": {"S": scheduled},
                ":plan": {"S": plan},
                ":audience": {"N": str(audience)},
                ":missing": {"N": str(not_found)},
                ":segments": {"N": str(segments)},
                ":now": {"S": now_iso()},
            },
        )
        return self._failures.commit(send_id, PLAN_MISSING, missing, update)

    def finish(self, send_id: str, status: SendState, reason: str | None = None) -> bool:
        """-> completed, failed or cancelled, once, and only from a state the transitions table lets
        reach it (False: it was over already, or a cancel moved it meanwhile: decide again)."""
        allowed = sorted(sources(status))
        values: dict[str, dict[str, str]] = {":status": {"S": status}, ":now": {"S": now_iso()}}
        names = [f":from{i}" for i in range(len(allowed))]
        values |= {name: {"S": state} for name, state in zip(names, allowed, strict=True)}
        update = "SET #status = :status, #updatedAt = :now, #completedAt = :now"
        if reason is not None:
            update += ", #reason = :reason"
            values[":reason"] = {"S": reason[:1000]}
        return self._table.conditional(
            "update_item",
            Key=self._table.key(send_id, SEND),
            UpdateExpression=update,
            ConditionExpression=f"attribute_exists(pk) AND #status IN ({', '.join(names)})",
            ExpressionAttributeNames={
                "#status": "status",
                "#updatedAt": "updatedAt",
                "#completedAt": "completedAt",
                **({"#reason": "reason"} if reason is not None else {}),
            },
            ExpressionAttributeValues=values,
        )

    def fail(self, send_id: str, reason: str) -> SendState | None:
        """A send that broke before any batch could start ends `failed`, or `cancelled` if a cancel
        was recorded first (nothing was attempted either way); None if it was over already."""
        for status in (SendState.FAILED, SendState.CANCELLED):
            if self.finish(send_id, status, reason if status == SendState.FAILED else None):
                return status
        return None

    def note_gave_up(self, send_id: str, reason: str) -> None:
        """The send ends `failed` (not `completed`) once its last segment is accounted for."""
        self._table.call(
            "update_item",
            Key=self._table.key(send_id, SEND),
            UpdateExpression="SET #reason = :reason, #updatedAt = :now",
            ExpressionAttributeNames={"#reason": "reason", "#updatedAt": "updatedAt"},
            ExpressionAttributeValues={":reason": {"S": reason[:1000]}, ":now": {"S": now_iso()}},
        )

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
        names, values, adds = _sync_counts(counts)
        names |= {"#status": "status", "#scope": "scope", "#channels": "channels", "#createdAt": "createdAt"}
        names |= {"#updatedAt": "updatedAt", "#completedAt": "completedAt", "#audience": "audience"}
        names |= {"#notFound": "notFound", "#segments": "segments", "#expiration": "expiration", "#sync": "sync"}
        values |= {
            ":completed": {"S": SendState.COMPLETED},
            ":scope": {"S": scope},
            ":channels": {"S": ",".join(channels)},
            ":now": {"S": now_iso()},
            ":audience": {"N": str(audience)},
            ":missing": {"N": str(not_found)},
            ":zero": {"N": "0"},
            ":expiration": self._table.expiration(),
            ":true": {"BOOL": True},
        }
        update = (
            "SET #status = :completed, #scope = :scope, #channels = :channels, "
            "#createdAt = if_not_exists(#createdAt, :now), #updatedAt = :now, #completedAt = :now, "
            "#audience = :audience, #notFound = :missing, #segments = if_not_exists(#segments, :zero), "
            "#expiration = if_not_exists(#expiration, :expiration), #sync = :true"
        ) + (" ADD " + ", ".join(adds) if adds else "")
        # Conflicts with a delivery event's transaction on the item (the send was opened before
        # dispatch) are retried; the failures are kept with the counts, once.
        return self._failures.commit(
            send_id,
            SYNC_FAILURES,
            failures,
            {
                "Key": self._table.key(send_id, SEND),
                "UpdateExpression": update,
                "ConditionExpression": "attribute_not_exists(#completedAt)",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            },
        )


def _sync_counts(
    counts: Mapping[Channel, Mapping[str, int]],
) -> tuple[dict[str, str], dict[str, dict[str, Any]], list[str]]:
    """The names, values and `ADD` clauses of a synchronous send's non-zero counters."""
    names: dict[str, str] = {}
    values: dict[str, dict[str, Any]] = {}
    adds: list[str] = []
    for channel, by_name in counts.items():
        for name, value in by_name.items():
            if name not in _ALL_COUNTS or channel not in CHANNELS:
                raise ValueError(f"not a send counter: {name}_{channel}")
            if value:
                names[f"#{name}_{channel}"] = f"{name}_{channel}"
                values[f":{name}_{channel}"] = {"N": str(int(value))}
                adds.append(f"#{name}_{channel} :{name}_{channel}")
    return names, values, adds
