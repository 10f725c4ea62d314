"""SmsFunction: a batch of rendered SMS → SNS Publish (SMS_PROVIDER=sns, the default) or End User
Messaging SendTextMessage (SMS_PROVIDER=end-user-messaging) → the users that did not get theirs."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from messaging import aws
from messaging.channels import sms
from messaging.channels.common import DeliveryReport
from messaging.channels.handler import handle_batch
from messaging.channels.once import BatchGuard
from messaging.channels.sms import SmsBatch, SmsSettings
from messaging.observability import logger, trace_calls, tracer
from messaging.validation import parse_payload

trace_calls("botocore")

settings = SmsSettings.from_environ(os.environ)
# Each batchId is sent once (see messaging.channels.once); off without a table (local unit runs).
guard = BatchGuard(aws.client("dynamodb"), settings.idempotency_table) if settings.idempotency_table else None
if settings.provider == "end-user-messaging":
    eum = aws.client("pinpoint-sms-voice-v2", read_timeout=settings.provider_timeout_s)
else:
    sns = aws.client("sns", read_timeout=settings.provider_timeout_s)


def _send(batch: SmsBatch) -> DeliveryReport:
    if settings.provider == "end-user-messaging":
        return sms.send_batch_eum(batch, eum, settings)
    return sms.send_batch(batch, sns, settings.concurrency)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = parse_payload(SmsBatch, event)
    return handle_batch(batch, lambda: _send(batch), guard)
