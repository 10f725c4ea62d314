"""PushFunction: a batch of rendered notifications → FCM HTTP v1 → the users that did not get theirs."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from messaging import aws
from messaging.bootstrap import connect_preferences
from messaging.channels import push
from messaging.channels.common import DeliveryReport
from messaging.channels.handler import handle_batch
from messaging.channels.once import BatchGuard
from messaging.channels.push import PushBatch
from messaging.channels.stale_tokens import mark_stale_tokens
from messaging.models.channel_settings import PushSettings
from messaging.observability import logger, trace_calls, tracer
from messaging.validation import parse_payload

trace_calls("botocore", "httplib", "pymongo")  # httplib: FCM, via urllib3

settings = PushSettings.from_environ(os.environ)
# Each batchId is sent once (see messaging.channels.once); off without a table (local unit runs).
guard = BatchGuard(aws.client("dynamodb"), settings.idempotency_table) if settings.idempotency_table else None
# The service account is read once per container; the client then caches its OAuth2 token.
service_account: Any = parameters.get_secret(settings.fcm_credentials_secret_id, transform="json")
client = push.FcmClient(
    service_account,
    settings.fcm_project_id,
    settings.fcm_endpoint,
    settings.fcm_token_uri,
    settings.provider_timeout_s,
    settings.concurrency,
)
# Where tokens FCM reports stale are recorded (STALE_TOKENS); the client connects on first use.
# STALE_TOKENS=keep writes nothing: no connection at all.
preferences = connect_preferences(settings, settings.user_fields) if settings.stale_tokens != "keep" else None


def _send(batch: PushBatch) -> DeliveryReport:
    report = push.send_batch(batch, client, settings.concurrency)
    mark_stale_tokens(batch, report.failures, preferences, settings.stale_tokens)
    return report


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = parse_payload(PushBatch, event)
    return handle_batch(batch, lambda: _send(batch), guard)
