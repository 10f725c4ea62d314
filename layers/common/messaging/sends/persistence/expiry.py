"""A send's items kept while it runs: DynamoDB deletes an item once its `expiration` passes, and a
paced send can run longer than `SENDS_TTL_DAYS`.

Each dispatcher invocation, and the send's end, checks the `send` item's expiry: once it is a day
(half the lifetime, if that is one day) older than a new one would be, every item of the send is
pushed to expire `SENDS_TTL_DAYS` from now, the `send` item last (an interrupted refresh is done
again by the next invocation). Every item written since has a later expiry than the `send` item,
so that one read tells whether a refresh is due, and a full refresh runs at most once a day. The
markers of delivery events (`evt#`) are left out: one per message, they only tell a provider's
event delivered again (within hours) from a new one, and expire from their own event.
"""

from __future__ import annotations

from messaging.sends.keys import EVENT, SEND
from messaging.sends.persistence.dynamodb import Table, number


class Expiry:
    def __init__(self, table: Table) -> None:
        self._table = table

    def keep(self, send_id: str) -> bool:
        """Every item of the send to expire `SENDS_TTL_DAYS` from now, if due; True if it was."""
        send = self._table.get(send_id, SEND)
        if not send or not self._table.expires_soon(number(send, "expiration")):
            return False
        keys = [
            item["sk"]["S"]
            for item in self._table.query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": send_id}},
                ProjectionExpression="sk",
            )
        ]
        expiration = self._table.expiration()
        for sk in [key for key in keys if not key.startswith(EVENT) and key != SEND] + [SEND]:
            self._table.conditional(
                "update_item",
                Key=self._table.key(send_id, sk),
                UpdateExpression="SET #expiration = :expiration",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#expiration": "expiration"},
                ExpressionAttributeValues={":expiration": expiration},
            )
        return True
