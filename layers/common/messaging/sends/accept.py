"""Accepting an asynchronous send (SendFunction, `Prefer: respond-async`): everything that can
refuse runs, then the job is kept, the send recorded `accepted`, and DispatchFunction invoked
(`Event`). Not invoked: the send ends `failed` and nothing was sent (503)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from messaging.audience import Audience
from messaging.errors import MessagingError, ServiceUnavailable
from messaging.models.function_settings import SendSettings
from messaging.models.request import SendRequest
from messaging.observability import logger
from messaging.sends.persistence.objects import Job
from messaging.sends.persistence.store import SendStore
from messaging.sends.states import SendRecord, SendState
from messaging.service import Stager, new_send_id, no_file_service, prepare
from messaging.store import IN_CHUNK, Store
from messaging.templates.compose import texts_json
from messaging.templates.renderer import Renderer

# (function name, event) -> None: an asynchronous (`Event`) invoke.
Launcher = Callable[[str, dict[str, Any]], None]


class EventLauncher:
    """`lambda.invoke(InvocationType="Event")`. Retried by botocore: a repeated event is harmless
    (planning is conditional, segments are leased, batches checkpointed)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def connect(cls) -> EventLauncher:
        config = Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
        return cls(boto3.client("lambda", config=config))

    def __call__(self, function_name: str, event: dict[str, Any]) -> None:
        answer = self._client.invoke(
            FunctionName=function_name, InvocationType="Event", Payload=json.dumps(event).encode()
        )
        if answer.get("StatusCode") != 202:
            raise ServiceUnavailable(f"DispatchFunction was not invoked (status {answer.get('StatusCode')})")


def checked_job(
    request: SendRequest,
    settings: SendSettings,
    store: Store,
    renderer: Renderer,
    stage: Stager,
    correlation_id: str | None,
    send_id: str,
) -> Job:
    """Everything that can refuse the request, run: the job DispatchFunction will send."""
    prepared = prepare(request, settings, store, renderer, stage, correlation_id, send_id)
    # The database answers before the 202, and the first listed recipient found renders. Not a
    # cluster's first member: some servers (SecantusDB) gather a whole cluster before the first
    # reply, and that is the dispatcher's work, not the API's.
    if request.recipients:
        first = next(iter(Audience(store, settings.service, request.recipients[:IN_CHUNK], None)), None)
        if first is not None:
            list(prepared.composer.messages(first))
    else:
        store.ping()
    return Job(
        request=request,
        texts=texts_json(prepared.texts),
        envelopes=prepared.envelopes,
        correlationId=correlation_id,
    )


def accept(
    request: SendRequest,
    settings: SendSettings,
    store: Store,
    renderer: Renderer,
    sends: SendStore,
    launcher: Launcher,
    stage: Stager = no_file_service,
    correlation_id: str | None = None,
    scope: str = "",
    send_id: str | None = None,
) -> str:
    """Everything that can refuse, then the record, then DispatchFunction: the new send's id.
    `send_id` (derived from an idempotency key) already recorded: a rerun of a request that stopped
    after recording it; DispatchFunction is invoked again if it may never have been, and nothing else."""
    if not settings.dispatch_function_name:
        raise ServiceUnavailable("asynchronous sends are not configured (DISPATCH_FUNCTION_NAME)")
    send_id, before = made_before(sends, send_id)
    if before is not None:
        # `scheduled`: a rerun within sendAt's past grace, a send for now; its schedule may never have
        # been made. A synchronous send has no job. Planning twice is harmless.
        if before.status in (SendState.ACCEPTED, SendState.SCHEDULED) and not before.synchronous:
            _launch(settings, sends, launcher, send_id, correlation_id)
        return send_id
    job = checked_job(request, settings, store, renderer, stage, correlation_id, send_id)
    try:
        sends.objects.put_job(send_id, job)
        sends.records.create(
            send_id, scope, request.channels, reference=request.reference, correlation_id=correlation_id
        )
    except (ClientError, BotoCoreError) as exc:
        raise ServiceUnavailable(f"the send could not be recorded ({type(exc).__name__}); nothing was sent") from exc
    sends.announce(send_id, SendState.ACCEPTED)
    _launch(settings, sends, launcher, send_id, correlation_id)
    logger.info("send accepted", extra={"sendId": send_id, "channels": request.channels})
    return send_id


def made_before(sends: SendStore, keyed_id: str | None) -> tuple[str, SendRecord | None]:
    """The id to make the send under, and its record if a run of the same keyed request made it
    already. One that sent nothing (SendRecord.sent_nothing) leaves the retry a send of its own."""
    if keyed_id is None:
        return new_send_id(), None
    try:
        before = sends.records.get(keyed_id)
    except (ClientError, BotoCoreError) as exc:
        raise ServiceUnavailable(f"the sends table is unreachable ({type(exc).__name__}); nothing was sent") from exc
    if before is not None and before.sent_nothing:
        return new_send_id(), None
    return keyed_id, before


def _launch(
    settings: SendSettings, sends: SendStore, launcher: Launcher, send_id: str, correlation: str | None
) -> None:
    try:
        launcher(str(settings.dispatch_function_name), {"sendId": send_id, "correlationId": correlation})
    except (ClientError, BotoCoreError, MessagingError) as exc:
        if ended := sends.records.fail(send_id, f"DispatchFunction was not invoked: {type(exc).__name__}"):
            sends.announce(send_id, ended)
        raise ServiceUnavailable(f"DispatchFunction was not invoked ({type(exc).__name__}); nothing was sent") from exc
