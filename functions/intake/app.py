"""IntakeFunction: the intake queue's messages (SQS, `ReportBatchItemFailures`) as asynchronous
sends. Each record is adapted into a QueuedRequest and taken by messaging.intake; a record that
meets an outage raises, and Powertools' batch processor reports it as a batch item failure (only
it is delivered again)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from messaging.api import wiring
from messaging.intake import Intake, QueuedRequest, Taken, just_once
from messaging.intake_once import IntakeOnce
from messaging.observability import logger, metrics, safe_id, trace_calls, tracer
from messaging.sends.announcer import Announcer

trace_calls("botocore", "pymongo", "httplib")

parts = wiring.send_parts(wiring.read_settings(os.environ))
once = IntakeOnce(parts.settings.idempotency_table) if parts.settings.idempotency_table else None
intake = Intake(parts, once or just_once, Announcer.from_environ())
# A batch whose every record met an outage is answered so (each reported), not raised.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _attribute(record: SQSRecord, name: str) -> str | None:
    value = (record.raw_event.get("messageAttributes") or {}).get(name) or {}
    text = value.get("stringValue") or value.get("StringValue")
    return str(text) if text else None


def _idempotency_key(record: SQSRecord) -> str | None:
    # A Binary key counts as its bytes, in the base64 SQS carries them: never the message id in its
    # place, which would make two messages with one key two sends.
    value = (record.raw_event.get("messageAttributes") or {}).get("IdempotencyKey") or {}
    binary = value.get("binaryValue") or value.get("BinaryValue")
    return _attribute(record, "IdempotencyKey") or (f"base64:{binary}" if binary else None)


def _sent_at(record: SQSRecord) -> datetime | None:
    sent = str((record.raw_event.get("attributes") or {}).get("SentTimestamp") or "")
    return datetime.fromtimestamp(int(sent) / 1000, UTC) if sent.isdigit() else None


def queued(record: SQSRecord) -> QueuedRequest:
    return QueuedRequest(
        message_id=record.message_id,
        body=record.body or "",
        sender_id=str((record.raw_event.get("attributes") or {}).get("SenderId") or ""),
        idempotency_key=_idempotency_key(record),
        # As X-Correlation-Id over HTTP: a value that is no sane token (10 KB, control characters) is
        # replaced, never carried into the send's record, its events and the logs.
        correlation_id=safe_id(_attribute(record, "CorrelationId")) or record.message_id,
        sent_at=_sent_at(record),
    )


def take(record: SQSRecord) -> Taken:
    request = queued(record)
    logger.set_correlation_id(request.correlation_id)
    taken = intake.take(request)
    logger.info(
        "queued request refused" if taken.refused else "queued request accepted",
        extra={"messageId": record.message_id, "sendId": taken.send_id, "status": taken.status_code},
    )
    return taken


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if once is not None:
        once.register(context)
    return dict(process_partial_response(event=event, record_handler=take, processor=processor, context=context))
