"""SendFunction's composition root: every collaborator built once, at cold start, from settings
read and validated once (an invalid configuration stops the function there, naming the field)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from messaging import aws
from messaging.attachments import FileService, stage_attachments
from messaging.bootstrap import connect_store, make_renderer, user_preferences
from messaging.idempotency import AnswerStore, Idempotency
from messaging.invoker import LambdaInvoker
from messaging.models.function_settings import SendSettings
from messaging.sender_identity import SenderIdentities
from messaging.sends.accept import EventLauncher
from messaging.sends.announcer import Announcer
from messaging.sends.keys import SCHEDULED_ATTACHMENTS
from messaging.sends.persistence.store import SendStore
from messaging.sends.scheduler import Scheduler, ScheduleTarget
from messaging.service import Stager, no_file_service
from messaging.submission import SendParts


def read_settings(environ: Mapping[str, str]) -> SendSettings:
    return SendSettings.from_environ(environ)


def _stager(settings: SendSettings, root: str = "attachments") -> Stager:
    if not settings.file_service_url:
        return no_file_service
    return partial(
        stage_attachments,
        file_service=FileService(settings.file_service_url, settings.file_service_timeout_s),
        s3=aws.client("s3"),
        bucket=str(settings.attachments_bucket),
        root=root,
    )


def _scheduler(settings: SendSettings) -> Scheduler | None:
    """Scheduled sends' EventBridge Scheduler: None without SCHEDULE_GROUP (`sendAt` is then a 503)."""
    if not (settings.schedule_group and settings.schedule_target_arn and settings.schedule_role_arn):
        return None
    target = ScheduleTarget(
        settings.schedule_group, settings.schedule_target_arn, settings.schedule_role_arn, settings.schedule_dlq_arn
    )
    return Scheduler(aws.client("scheduler"), target)


def _send_store(settings: SendSettings) -> SendStore | None:
    """Asynchronous sends' records (and synchronous sends' since): None without SENDS_TABLE."""
    if not settings.sends_table:
        return None
    return SendStore(
        aws.client("dynamodb"),
        settings.sends_table,
        aws.client("s3"),
        str(settings.attachments_bucket),
        settings.sends_ttl_days,
        Announcer.from_environ(),
    )


def send_parts(settings: SendSettings) -> SendParts:
    store = connect_store(settings)
    return SendParts(
        settings=settings,
        store=store,
        renderer=make_renderer(settings),
        # Never retried by botocore (a repeated invoke could send a batch twice): dispatch retries throttling.
        invoker=LambdaInvoker.connect(read_timeout=settings.invoke_timeout_s),
        stage=_stager(settings),
        # The only writer of user documents: a provider's opt-outs, on the store's own client.
        preferences=user_preferences(store, settings.service.userFields),
        sends=_send_store(settings),
        # DispatchFunction's Event invoke, for `Prefer: respond-async`.
        launcher=EventLauncher.connect(),
        scheduler=_scheduler(settings),
        stage_scheduled=_stager(settings, SCHEDULED_ATTACHMENTS),
        # An unverified e-mail sender is refused at acceptance (SES GetEmailIdentity, cached).
        identities=SenderIdentities.connect() if "email" in settings.service.activeChannels else None,
    )


def idempotency(settings: SendSettings) -> Idempotency | None:
    """POST /send under an Idempotency-Key: None without IDEMPOTENCY_TABLE (such a request is refused)."""
    if not settings.idempotency_table:
        return None
    answers = AnswerStore(aws.client("s3"), settings.attachments_bucket) if settings.attachments_bucket else None
    return Idempotency(settings.idempotency_table, answers)
