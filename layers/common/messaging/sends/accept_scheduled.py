"""Accepting a scheduled send (`sendAt` ahead): everything that can refuse runs as for any
asynchronous send, the job (texts fixed as accepted) kept where it outlives its `sendAt`, the send
recorded `scheduled`, and its one-time schedule made. The schedule not made: the send ends `failed`
and nothing will be sent (503)."""

from __future__ import annotations

from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from messaging.errors import ServiceUnavailable
from messaging.models.function_settings import SendSettings
from messaging.models.request import SendRequest
from messaging.observability import count, logger
from messaging.sends.accept import checked_job, made_before
from messaging.sends.persistence.store import SendStore
from messaging.sends.scheduler import Scheduler
from messaging.sends.states import SendState
from messaging.service import Stager, no_file_service
from messaging.store import Store
from messaging.templates.renderer import Renderer


def accept_scheduled(
    request: SendRequest,
    send_at: datetime,
    settings: SendSettings,
    store: Store,
    renderer: Renderer,
    sends: SendStore,
    scheduler: Scheduler | None,
    stage: Stager = no_file_service,
    correlation_id: str | None = None,
    scope: str = "",
    send_id: str | None = None,
) -> str:
    """The scheduled send's id, once its record and schedule are made (`send_id` already recorded:
    a rerun of the same keyed request; its schedule is made if it may not have been)."""
    if scheduler is None:
        raise ServiceUnavailable("sendAt: scheduled sends are not configured (SCHEDULE_GROUP)")
    send_id, before = made_before(sends, send_id)
    if before is not None:
        if before.status == SendState.SCHEDULED:
            try:
                scheduler.create(send_id, send_at, correlation_id)  # one already there is kept
            except (ClientError, BotoCoreError) as exc:
                raise ServiceUnavailable(f"the schedule was not made ({type(exc).__name__}); try again") from exc
        return send_id
    job = checked_job(request, settings, store, renderer, stage, correlation_id, send_id)
    try:
        sends.objects.put_scheduled_job(send_id, job)
        sends.records.create(
            send_id, scope, request.channels, send_at, reference=request.reference, correlation_id=correlation_id
        )
    except (ClientError, BotoCoreError) as exc:
        raise ServiceUnavailable(f"the send could not be recorded ({type(exc).__name__}); nothing was sent") from exc
    try:
        scheduler.create(send_id, send_at, correlation_id)
    except (ClientError, BotoCoreError) as exc:
        if ended := sends.records.fail(send_id, f"the schedule was not made: {type(exc).__name__}"):
            sends.announce(send_id, ended)
        raise ServiceUnavailable(f"the schedule was not made ({type(exc).__name__}); nothing will be sent") from exc
    sends.announce(send_id, SendState.SCHEDULED)
    count("SendsScheduled", 1)
    logger.info("send scheduled", extra={"sendId": send_id, "channels": request.channels, "sendAt": str(send_at)})
    return send_id
