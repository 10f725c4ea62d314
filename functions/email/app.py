"""EmailFunction: a batch of rendered e-mails → SES v2 → the users that did not get theirs."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from messaging import aws, plaintext  # noqa: F401 - plaintext: e-mails without a text part, loaded at start
from messaging.channels import email
from messaging.channels.email import EmailBatch
from messaging.channels.handler import handle_batch
from messaging.channels.once import BatchGuard
from messaging.models.channel_settings import EmailSettings
from messaging.observability import logger, trace_calls, tracer
from messaging.validation import parse_payload

trace_calls("botocore")

settings = EmailSettings.from_environ(os.environ)
# Each batchId is sent once (see messaging.channels.once); off without a table (local unit runs).
guard = BatchGuard(aws.client("dynamodb"), settings.idempotency_table) if settings.idempotency_table else None
ses = aws.client("sesv2", read_timeout=settings.provider_timeout_s)
s3 = aws.client("s3", read_timeout=settings.provider_timeout_s)
bucket = settings.attachments_bucket or ""


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = parse_payload(EmailBatch, event)
    return handle_batch(
        batch,
        lambda: email.send_batch(
            batch,
            ses,
            settings.concurrency,
            s3,
            bucket,
            memory_budget=settings.memory_budget_bytes,
            list_management=settings.list_management,
            configuration_set=settings.configuration_set,
            category_topics=settings.category_topics,
        ),
        guard,
    )
