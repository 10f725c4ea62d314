"""Cancelling a send (DELETE /sends/{sendId}), decided from its record along the states table.

`scheduled` -> `cancelled` at once, its schedule, job and staged attachments deleted (a schedule
that fires meanwhile finds the send cancelled and sends nothing: planning is conditional on
`scheduled`). `accepted`/`running` ->
`cancelling`: no batch starts once the dispatchers read it, those in flight finish and count, and
the rest counts `cancelled`; the send is `cancelled` once its last segment is accounted for.
`cancelled`/`cancelling`: answered again. `completed`/`failed`, or a synchronous send: a conflict.
Every move is a conditional write: a move that loses a race reads the record again and decides anew.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from messaging.errors import Conflict, NotFound
from messaging.observability import count, logger
from messaging.sends.give_up import finish_if_done
from messaging.sends.persistence.store import SendStore
from messaging.sends.scheduler import Scheduler
from messaging.sends.states import SendRecord, SendState

ATTEMPTS = 5  # each lost race means the send moved: it cannot move more often than its states allow


def cancel(sends: SendStore, scheduler: Scheduler | None, record: SendRecord) -> SendState:
    """The send's status once the cancel is recorded; Conflict if it cannot be cancelled."""
    send_id = record.send_id
    for _ in range(ATTEMPTS):
        status = record.status
        if record.synchronous:
            raise Conflict(f"sendId: a synchronous send cannot be cancelled (it is {status})")
        if status in (SendState.COMPLETED, SendState.FAILED):
            raise Conflict(f"sendId: the send is already {status}")
        if status in (SendState.CANCELLED, SendState.CANCELLING):
            return status
        target = SendState.CANCELLED if status == SendState.SCHEDULED else SendState.CANCELLING
        if sends.cancels.move(send_id, status, target):
            count("SendsCancelled", 1)
            logger.info("send cancelled", extra={"sendId": send_id, "was": status, "now": target})
            if target == SendState.CANCELLED:
                sends.announce(send_id, target)
            if status == SendState.SCHEDULED:
                if scheduler is not None:
                    scheduler.delete(send_id)
                _discard(sends, send_id)
            if target == SendState.CANCELLING:
                finish_if_done(sends, send_id)  # its dispatchers may have finished meanwhile
            return target
        found = sends.records.get(send_id)
        if found is None:
            raise NotFound(f"sendId: no send {send_id}")
        record = found
    raise Conflict(f"sendId: the send keeps changing ({record.status}); try again")


def _discard(sends: SendStore, send_id: str) -> None:
    """Its job and staged files deleted now; on failure, the bucket's lifecycle removes them later."""
    try:
        if refused := sends.objects.discard_scheduled(send_id):
            logger.warning(
                "a cancelled send's objects were left to expire", extra={"sendId": send_id, "objects": refused}
            )
    except (ClientError, BotoCoreError):
        logger.warning("a cancelled send's objects were left to expire", extra={"sendId": send_id}, exc_info=True)
