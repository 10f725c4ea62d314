"""Delivery events (FeedbackFunction): `evt#<channel>#<outcome>#<message id>` markers.

A provider's event is recorded in one transaction with its counter `ADD`ed to the `send` item and,
for a bounce, complaint or carrier failure, its failure (`fail#{event#...`, after every dispatch
failure in the pages): an event delivered again finds its marker and changes nothing; a bounce takes
the same message's delivery back (TAKES_BACK).
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from messaging.models.common import Channel
from messaging.models.response import Failure
from messaging.sends.keys import SEND, event_failures, event_marker
from messaging.sends.persistence.dynamodb import Item, Table, cancellation_reasons, is_conditional_failure
from messaging.sends.persistence.failures import failure_items
from messaging.sends.states import DETAILS, EventVerdict

# A later outcome of the same message that takes an earlier one back: SES can report a bounce after
# the delivery (the receiving server accepted, then bounced). The message is counted bounced, not
# both, in either order of arrival.
TAKES_BACK = {"bounced": "delivered"}


class DeliveryEvents:
    def __init__(self, table: Table) -> None:
        self.table = table

    def record_event(
        self,
        send_id: str,
        channel: Channel,
        outcome: str,
        message_id: str,
        counter: str | None,
        failure: Failure | None,
    ) -> EventVerdict:
        """One provider event of one message, once.

        One transaction: the send item's counter `ADD`ed (or only checked), the marker put if absent,
        the failure kept. The marker is per message and outcome, so that two event types meaning
        the same (End User Messaging's TEXT_SUCCESSFUL and TEXT_DELIVERED) count once."""
        if counter is not None and counter not in DETAILS:
            raise ValueError(f"not a delivery counter: {counter}")
        items = [
            self._send_item(send_id, channel, counter),
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
        verdict = EventVerdict.RECORDED
        try:
            self.table.transact(items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = cancellation_reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return EventVerdict.UNKNOWN
            if "ConditionalCheckFailed" not in reasons[1:]:
                raise
            verdict = EventVerdict.DUPLICATE  # recorded before, or taken back by a later outcome already
        if outcome in TAKES_BACK:
            # Also after a duplicate: a retry finishes what a crash between the two writes left.
            self._take_back(send_id, channel, TAKES_BACK[outcome], message_id)
        return verdict

    def _send_item(self, send_id: str, channel: Channel, counter: str | None) -> Item:
        """The send item's counter `ADD`ed, or only checked: there, and not expired."""
        names = {"#expiration": "expiration"}
        values: dict[str, dict[str, str]] = {":now": {"N": str(int(time.time()))}}
        check: dict[str, Any] = {
            "TableName": self.table.name,
            "Key": self.table.key(send_id, SEND),
            "ConditionExpression": "attribute_exists(pk) AND (attribute_not_exists(#expiration) OR #expiration > :now)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if counter is None:
            return {"ConditionCheck": check}
        names["#counter"] = f"{counter}_{channel}"
        values[":one"] = {"N": "1"}
        return {"Update": {**check, "UpdateExpression": "ADD #counter :one"}}

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
