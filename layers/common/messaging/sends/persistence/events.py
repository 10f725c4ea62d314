"""Delivery events (FeedbackFunction): `evt#<channel>#<outcome>#<message id>` markers.

A provider's event is recorded in one transaction with its counter `ADD`ed to the `send` item and,
for a bounce, complaint or carrier failure, its failure (`fail#{event#...`, after every dispatch
failure in the pages): an event delivered again finds its marker and changes nothing; a bounce takes
the same message's delivery back (TAKES_BACK). Every event proves its message left: it resolves the
user's `unknown: ...` entry to sent in the same transaction, and leaves a `left#` marker for a
failure list committed after it (messaging.sends.persistence.unknowns).
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from messaging.models.common import Channel
from messaging.models.response import Failure
from messaging.sends.keys import SEND, event_failures, event_marker, left_marker
from messaging.sends.persistence.dynamodb import Item, Table, cancellation_reasons, is_conditional_failure
from messaging.sends.persistence.failures import failure_items
from messaging.sends.persistence.unknowns import Resolution, Unknowns, resolved_counts
from messaging.sends.states import DETAILS, EventVerdict

# A later outcome of the same message that takes an earlier one back: SES can report a bounce after
# the delivery (the receiving server accepted, then bounced). The message is counted bounced, not
# both, in either order of arrival.
TAKES_BACK = {"bounced": "delivered"}


# An event meeting another that resolves the same user (or a commit of the list) reads again.
RESOLVE_ATTEMPTS = 3


class _ResolvedMeanwhile(Exception):  # noqa: N818 - a retry signal, not an error
    """The user's `unknown: ...` entry changed between its read and the transaction."""


class DeliveryEvents:
    def __init__(self, table: Table) -> None:
        self.table = table
        self.unknowns = Unknowns(table)

    def record_event(
        self,
        send_id: str,
        channel: Channel,
        outcome: str,
        message_id: str,
        counter: str | None,
        failure: Failure | None,
        user_id: str | None = None,
    ) -> EventVerdict:
        """One provider event of one message, once.

        One transaction: the send item's counter `ADD`ed (or only checked), the marker put if absent,
        the failure kept. The marker is per message and outcome, so that two event types meaning
        the same (End User Messaging's TEXT_SUCCESSFUL and TEXT_DELIVERED) count once. An event
        proves the user's message left: the user's `unknown: ...` entry, if any, is resolved to
        sent in the same transaction (messaging.sends.persistence.unknowns)."""
        if counter is not None and counter not in DETAILS:
            raise ValueError(f"not a delivery counter: {counter}")
        for _ in range(RESOLVE_ATTEMPTS):
            found = self.unknowns.find(send_id, channel, user_id) if user_id is not None else None
            try:
                return self._record(send_id, channel, outcome, message_id, counter, failure, user_id, found)
            except _ResolvedMeanwhile:
                continue  # another event (or the list's commit) resolved it, or the item moved: read again
        return self._record(send_id, channel, outcome, message_id, counter, failure, user_id, None)

    def _record(
        self,
        send_id: str,
        channel: Channel,
        outcome: str,
        message_id: str,
        counter: str | None,
        failure: Failure | None,
        user_id: str | None,
        found: Resolution | None,
    ) -> EventVerdict:
        items = [
            self._send_item(send_id, channel, counter, resolved=found is not None),
            self._marker(send_id, event_marker(channel, outcome, message_id)),
        ]
        # Not counted if a later outcome that takes it back is recorded already (third item).
        items += [
            {
                "ConditionCheck": {
                    "TableName": self.table.name,
                    "Key": self.table.key(send_id, event_marker(channel, later, message_id)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for later, earlier in TAKES_BACK.items()
            if earlier == outcome
        ]
        if failure is not None:
            group = event_failures(channel, outcome, message_id)
            items += [
                {"Put": {"TableName": self.table.name, "Item": item}}
                for item in failure_items(self.table, send_id, group, [failure])
            ]
        if user_id is not None:
            items.append({"Put": {"TableName": self.table.name, "Item": self._left(send_id, channel, user_id)}})
        own = len(items)
        if found is not None:
            items += found.items(self.table, send_id)
        verdict = EventVerdict.RECORDED
        try:
            self.table.transact(items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = cancellation_reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return EventVerdict.UNKNOWN
            if "ConditionalCheckFailed" not in reasons[1:own]:
                if "ConditionalCheckFailed" in reasons[own:]:
                    raise _ResolvedMeanwhile(user_id) from exc
                raise
            verdict = EventVerdict.DUPLICATE  # recorded before, or taken back by a later outcome already
        if outcome in TAKES_BACK:
            # Also after a duplicate: a retry finishes what a crash between the two writes left.
            self._take_back(send_id, channel, TAKES_BACK[outcome], message_id)
        return verdict

    def _left(self, send_id: str, channel: Channel, user_id: str) -> Item:
        """The proof that the user's message left, for a failure list committed after this event."""
        return {**self.table.key(send_id, left_marker(channel, user_id)), "expiration": self.table.expiration()}

    def _send_item(self, send_id: str, channel: Channel, counter: str | None, *, resolved: bool = False) -> Item:
        """The send item's counter `ADD`ed, or only checked: there, and not expired (`resolved`: an
        `unknown: ...` user moved from failed to sent too)."""
        names = {"#expiration": "expiration"}
        values: dict[str, dict[str, str]] = {":now": {"N": str(int(time.time()))}}
        check: dict[str, Any] = {
            "TableName": self.table.name,
            "Key": self.table.key(send_id, SEND),
            "ConditionExpression": "attribute_exists(pk) AND (attribute_not_exists(#expiration) OR #expiration > :now)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        adds = {f"{counter}_{channel}": 1} if counter is not None else {}
        if resolved:
            adds |= resolved_counts(channel)
        if not adds:
            return {"ConditionCheck": check}
        for index, (name, value) in enumerate(adds.items()):
            names[f"#c{index}"] = name
            values[f":c{index}"] = {"N": str(value)}
        update = "ADD " + ", ".join(f"#c{index} :c{index}" for index in range(len(adds)))
        return {"Update": {**check, "UpdateExpression": update}}

    def _marker(self, send_id: str, marker: str) -> Item:
        return {
            "Put": {
                "TableName": self.table.name,
                "Item": {**self.table.key(send_id, marker), "expiration": self.table.expiration()},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _take_back(self, send_id: str, channel: Channel, earlier: str, message_id: str) -> None:
        """The earlier outcome's marker deleted and its counter lowered, once (only if the marker is there)."""
        items: list[Item] = [
            {
                "Delete": {
                    "TableName": self.table.name,
                    "Key": self.table.key(send_id, event_marker(channel, earlier, message_id)),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self.table.name,
                    "Key": self.table.key(send_id, SEND),
                    "UpdateExpression": "ADD #counter :minus",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeNames": {"#counter": f"{earlier}_{channel}"},
                    "ExpressionAttributeValues": {":minus": {"N": "-1"}},
                }
            },
        ]
        try:
            self.table.transact(items)
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
