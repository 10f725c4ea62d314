"""VoiceFunction: a batch of rendered voice texts → End User Messaging SMS and Voice v2
SendVoiceMessage → the users that did not get their call."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from messaging import aws
from messaging.channels import voice
from messaging.channels.handler import handle_batch
from messaging.channels.once import BatchGuard
from messaging.channels.voice import VoiceBatch, VoiceSettings
from messaging.observability import logger, trace_calls, tracer
from messaging.validation import parse_payload

trace_calls("botocore")

settings = VoiceSettings.from_environ(os.environ)
# Each batchId is sent once (see messaging.channels.once); off without a table (local unit runs).
guard = BatchGuard(aws.client("dynamodb"), settings.idempotency_table) if settings.idempotency_table else None
client = aws.client("pinpoint-sms-voice-v2", read_timeout=settings.provider_timeout_s)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = parse_payload(VoiceBatch, event)
    return handle_batch(batch, lambda: voice.send_batch(batch, client, settings), guard)
