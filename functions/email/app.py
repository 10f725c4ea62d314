"""EmailFunction: a batch of rendered e-mails → SES v2 → the users that did not get theirs."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from messaging import aws
from messaging.channels import email
from messaging.models.batch import BatchResult, EmailBatch
from messaging.models.config import EmailSettings
from messaging.observability import logger

settings = EmailSettings.from_environ(os.environ)
ses = aws.client("sesv2", read_timeout=settings.provider_timeout_s)
s3 = aws.client("s3", read_timeout=settings.provider_timeout_s)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = EmailBatch.model_validate(event)
    failures = email.send_batch(batch, ses, settings.concurrency, s3, settings.attachments_bucket or "")
    logger.info("email batch sent", extra={"messages": len(batch.messages), "failed": len(failures)})
    return BatchResult(failures=failures).model_dump()
