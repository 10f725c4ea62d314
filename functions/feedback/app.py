"""FeedbackFunction: the providers' delivery events (SES and End User Messaging, through SNS) →
the sends' counts and failures, and the users' opt-outs (messaging.feedback.record)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from messaging import aws
from messaging.bootstrap import connect_preferences
from messaging.errors import ConfigurationError
from messaging.feedback.record import handle
from messaging.models.function_settings import FeedbackSettings
from messaging.observability import logger, trace_calls, tracer
from messaging.sends.persistence.dynamodb import Table
from messaging.sends.persistence.events import DeliveryEvents

trace_calls("botocore", "pymongo")

settings = FeedbackSettings.from_environ(os.environ)
# Only the sends table is used: events touch no S3 object.
sends = DeliveryEvents(Table(aws.client("dynamodb"), settings.sends_table))
_preferences = connect_preferences(settings, settings.service.userFields)
if _preferences is None:  # FeedbackSettings refuses a configuration without a database: never here
    raise ConfigurationError("MONGODB_URI or MONGODB_URI_SECRET_ID is required")
preferences = _preferences


@logger.inject_lambda_context(clear_state=True)
# Events carry addresses and phone numbers: never copied into traces.
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary = handle(event, sends, preferences)
    return {
        "recorded": summary.recorded,
        "duplicates": summary.duplicates,
        "ignored": summary.ignored,
        "optedOut": summary.opted_out,
    }
