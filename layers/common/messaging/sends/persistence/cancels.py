"""A send's cancel, as conditional writes on its `send` item along messaging.sends.states.TRANSITIONS:
`scheduled -> cancelled` at once, `accepted/running -> cancelling` (the dispatchers read it before
each batch), `cancelling -> cancelled` once its last segment is accounted for."""

from __future__ import annotations

from messaging.sends.keys import SEND
from messaging.sends.persistence.dynamodb import Table, now_iso
from messaging.sends.states import SendState, sources


class Cancels:
    def __init__(self, table: Table) -> None:
        self._table = table

    def move(self, send_id: str, current: SendState, target: SendState) -> bool:
        """current -> target, if the send is still `current` (False: something moved it first)."""
        if current not in sources(target):
            raise ValueError(f"a send does not move from {current} to {target}")
        update = "SET #status = :target, #updatedAt = :now"
        if target == SendState.CANCELLED:
            update += ", #completedAt = :now"
        return self._table.conditional(
            "update_item",
            Key=self._table.key(send_id, SEND),
            UpdateExpression=update + ", #cancelledAt = if_not_exists(#cancelledAt, :now)",
            ConditionExpression="#status = :current",
            ExpressionAttributeNames={
                "#status": "status",
                "#updatedAt": "updatedAt",
                "#cancelledAt": "cancelledAt",
                **({"#completedAt": "completedAt"} if target == SendState.CANCELLED else {}),
            },
            ExpressionAttributeValues={
                ":target": {"S": target},
                ":current": {"S": current},
                ":now": {"S": now_iso()},
            },
        )

    def finish(self, send_id: str) -> bool:
        """cancelling -> cancelled, once."""
        return self.move(send_id, SendState.CANCELLING, SendState.CANCELLED)

    def requested(self, send_id: str) -> bool:
        """Whether a cancel is recorded: read before each batch starts (one consistent read)."""
        item = self._table.call(
            "get_item",
            Key=self._table.key(send_id, SEND),
            ConsistentRead=True,
            ProjectionExpression="#status",
            ExpressionAttributeNames={"#status": "status"},
        ).get("Item", {})
        return item.get("status", {}).get("S") in (SendState.CANCELLING, SendState.CANCELLED)
