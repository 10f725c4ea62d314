"""Segments (`seg#<k>`) and their batches' checkpoints (`batch#<k>#<channel>#<n>`).

A segment is leased (`owner`, `leaseUntil`) to one dispatcher at a time. Its counters
(`sent_<channel>`, `failed_<channel>`, `skipped_<channel>` and the skips' reasons) move by one
conditional `ADD` per finished batch that also adds the batch's name to the segment's `applied` set
(`NOT contains(applied, batch)`), in one transaction with the batch's failures: a batch is counted
and listed once, however often its finish is repeated. A batch is `started` (its user ids
checkpointed) before its invoke, and done once its name is in `applied`. The segment is `done`
when its last users are accounted for.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from messaging.models.common import Channel
from messaging.models.response import Failure
from messaging.sends.keys import (
    applied_name,
    batch_failures,
    batch_key,
    batch_prefix,
    parse_batch_key,
    segment_key,
    unsent_failures,
)
from messaging.sends.persistence.dynamodb import Table, now_iso, pack, unpack
from messaging.sends.persistence.failures import Failures
from messaging.sends.states import BATCH_STARTED, CANCELLED, DETAILS, SEGMENT_DONE, BatchState, SegmentClaim


class Segments:
    def __init__(self, table: Table, failures: Failures) -> None:
        self._table = table
        self._failures = failures
        self._writes = threading.Lock()

    # The lease.

    def claim(
        self, send_id: str, segment: int, owner: str, lease_s: float, *, dead_owner: str | None = None
    ) -> SegmentClaim:
        """`dead_owner`: a holder known dead (Lambda gave up on its invocation): its lease is void."""
        now = time.time()
        claimed = self._table.conditional(
            "update_item",
            Key=self._table.key(send_id, segment_key(segment)),
            UpdateExpression="SET #owner = :me, #lease = :until, #expiration = :expiration",
            ConditionExpression=(
                "attribute_not_exists(#status) AND "
                "(attribute_not_exists(#owner) OR #owner IN (:me, :none, :dead) OR #lease < :now)"
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
                ":dead": {"S": dead_owner or owner},
                ":until": {"N": f"{now + lease_s:.3f}"},
                ":now": {"N": f"{now:.3f}"},
                ":expiration": self._table.expiration(),
            },
        )
        if claimed:
            return SegmentClaim.CLAIMED
        if "status" in self._table.get(send_id, segment_key(segment)):
            return SegmentClaim.DONE
        return SegmentClaim.BUSY

    def lease_left_s(self, send_id: str, segment: int) -> float:
        item = self._table.get(send_id, segment_key(segment))
        return float(item.get("leaseUntil", {}).get("N", "0")) - time.time()

    def release(self, send_id: str, segment: int, owner: str) -> None:
        self._table.conditional(
            "update_item",
            Key=self._table.key(send_id, segment_key(segment)),
            UpdateExpression="SET #owner = :none, #lease = :zero",
            ConditionExpression="#owner = :me",
            ExpressionAttributeNames={"#owner": "owner", "#lease": "leaseUntil"},
            ExpressionAttributeValues={":me": {"S": owner}, ":none": {"S": ""}, ":zero": {"N": "0"}},
        )

    # Batches.

    def batches(self, send_id: str, segment: int) -> list[BatchState]:
        """The segment's checkpointed batches; done are those its `applied` set names."""
        applied = set(self._table.get(send_id, segment_key(segment)).get("applied", {}).get("SS", []))
        states: list[BatchState] = []
        items = self._table.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": send_id}, ":prefix": {"S": batch_prefix(segment)}},
        )
        for item in items:
            channel, number = parse_batch_key(item["sk"]["S"])
            done = applied_name(channel, number) in applied
            users = unpack(item["users"]["B"])
            states.append(BatchState(channel, number, done, users, legacy_id="ids" not in item))
        return states

    def start_batch(self, send_id: str, segment: int, channel: Channel, number: int, user_ids: list[str]) -> bool:
        """The checkpoint before the invoke; False if another attempt started the batch."""
        key = self._table.key(send_id, batch_key(segment, channel, number))
        # Tells our own write, repeated by botocore after a lost answer, from another attempt's.
        token = uuid.uuid4().hex
        item = {
            **key,
            "status": {"S": BATCH_STARTED},
            "users": {"B": pack(user_ids)},
            "token": {"S": token},
            "ids": {"S": "channel"},  # its batchId names the whole channel (keys.batch_id)
            "expiration": self._table.expiration(),
        }
        if self._table.conditional("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)"):
            return True
        return bool(self._table.get(send_id, batch_key(segment, channel, number)).get("token", {}).get("S") == token)

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
        adds = {f"sent_{channel}": users - len(failures) - opted_out, f"failed_{channel}": len(failures)}
        if opted_out:
            adds |= {f"skipped_{channel}": opted_out, f"optedOut_{channel}": opted_out}
        listed = (batch_failures(segment, channel, number), failures)
        return self._add(send_id, segment, adds, applied=applied_name(channel, number), listed=listed)

    def finish(
        self,
        send_id: str,
        segment: int,
        skipped: Mapping[Channel, int],
        unsent: Sequence[Failure],
        *,
        reasons: Mapping[tuple[Channel, str], int] | None = None,
        cancelled: Mapping[Channel, int] | None = None,
    ) -> bool:
        """The segment's users skipped (no address, opted out, stale token: `reasons` says which,
        by (channel, reason)) and not sent (gone since planning, not rendered), and the segment
        done: once."""
        adds: dict[str, int] = {}
        for channel, count in skipped.items():
            adds[f"skipped_{channel}"] = count
        for (channel, reason), count in (reasons or {}).items():
            if reason in DETAILS and count:
                adds[f"{reason}_{channel}"] = count
        for failure in unsent:
            adds[f"failed_{failure.channel}"] = adds.get(f"failed_{failure.channel}", 0) + 1
        for channel, count in (cancelled or {}).items():
            if count:  # users a cancel kept from being attempted
                adds[f"{CANCELLED}_{channel}"] = count
        return self._add(send_id, segment, adds, done=True, listed=(unsent_failures(segment), unsent))

    def _add(
        self,
        send_id: str,
        segment: int,
        adds: Mapping[str, int],
        *,
        applied: str | None = None,
        done: bool = False,
        listed: tuple[str, Sequence[Failure]] = ("", ()),
    ) -> bool:
        """The counts added once, with the failures they count (`listed`: group, failures) in the
        same transaction: a repeat lists nothing more, whatever failures it brings."""
        names = {"#updatedAt": "updatedAt", "#status": "status"}
        values: dict[str, dict[str, Any]] = {":now": {"S": now_iso()}}
        sets = ["#updatedAt = :now"]
        counters: list[str] = []
        for index, (name, value) in enumerate(adds.items()):
            names[f"#c{index}"] = name
            values[f":c{index}"] = {"N": str(value)}
            counters.append(f"#c{index} :c{index}")
        condition = "attribute_not_exists(#status)"
        if applied is not None:
            names["#applied"] = "applied"
            values[":batch"] = {"SS": [applied]}
            values[":name"] = {"S": applied}
            counters.append("#applied :batch")
            condition = "NOT contains(#applied, :name) AND " + condition
        if done:
            sets.append("#status = :done")
            values[":done"] = {"S": SEGMENT_DONE}
        update = "SET " + ", ".join(sets) + (" ADD " + ", ".join(counters) if counters else "")
        # One segment item, updated by its dispatcher's threads one at a time: DynamoDB serialises
        # writes to an item anyway, and moto (the offline stand-in) loses concurrent updates of one.
        with self._writes:
            return self._failures.commit(
                send_id,
                *listed,
                {
                    "Key": self._table.key(send_id, segment_key(segment)),
                    "UpdateExpression": update,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                },
            )
