"""DispatchFunction: an accepted send's planning and segments (asynchronous `Event` invokes), and
its on-failure destination's records (Lambda gave up on an event: the send ends `failed`)."""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from messaging import aws
from messaging.bootstrap import connect_store, make_renderer, user_preferences
from messaging.channels import registry
from messaging.dispatch import LambdaInvoker
from messaging.models.common import Channel
from messaging.models.function_settings import SendSettings
from messaging.observability import logger, trace_calls, tracer
from messaging.pacing import Pacer
from messaging.sends.accept import EventLauncher
from messaging.sends.announcer import Announcer
from messaging.sends.dispatcher import Dispatcher
from messaging.sends.persistence.store import SendStore

trace_calls("botocore", "pymongo")

settings = SendSettings.from_environ(os.environ)
store = connect_store(settings)
# The only writer of user documents: a provider's opt-outs, on the store's own client.
preferences = user_preferences(store, settings.service.userFields)
renderer = make_renderer(settings)
invoker = LambdaInvoker.connect(read_timeout=settings.invoke_timeout_s)
launcher = EventLauncher.connect()
dynamodb = aws.client("dynamodb")
sends = SendStore(
    dynamodb,
    str(settings.sends_table),
    aws.client("s3"),
    str(settings.attachments_bucket),
    settings.sends_ttl_days,
    Announcer.from_environ(),
)


def _email_rate() -> float:
    """EMAIL_MAX_RATE, else SES's own SendQuota.MaxSendRate; unpaced if neither is known."""
    configured = settings.max_rates.get("email")
    if configured is not None or "email" not in settings.service.activeChannels:
        return configured or 0
    try:
        quota = aws.client("sesv2").get_account().get("SendQuota", {})
        return float(quota.get("MaxSendRate") or 0)
    except Exception as exc:  # noqa: BLE001 - an unknown quota must not stop the function
        logger.warning("SES send quota unknown: e-mail is not paced", extra={"reason": str(exc)[:200]})
        return 0


# Each registered channel's <CHANNEL>_MAX_RATE (0: unpaced); e-mail's from SES when unset.
rates: dict[Channel, float] = {
    **{spec.name: settings.max_rates.get(spec.name, 0.0) for spec in registry.specs()},
    "email": _email_rate(),
}
dispatcher = Dispatcher(
    settings=settings,
    store=store,
    renderer=renderer,
    invoker=invoker,
    launcher=launcher,
    sends=sends,
    pacer=Pacer(dynamodb, str(settings.sends_table), rates),
    self_name=settings.dispatch_function_name or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
    preferences=preferences,
)


def _gave_up(record: dict[str, Any]) -> None:
    """An on-failure destination record: the event Lambda gave up on, and why."""
    message = json.loads(record.get("body") or "{}")
    event = message.get("requestPayload") or {}
    context = message.get("requestContext") or {}
    answer = message.get("responsePayload") or {}
    reason = str(context.get("condition") or "RetriesExhausted")
    if isinstance(answer, dict) and answer.get("errorType"):
        reason += f" ({answer['errorType']})"
    if isinstance(event, dict) and event.get("sendId"):
        segment = event.get("segment")
        # Every try of the event ran under this request id, the segment's owner: all of them are over.
        dead_owner = str(context["requestId"]) if context.get("requestId") else None
        dispatcher.give_up(str(event["sendId"]), int(segment) if segment is not None else None, reason, dead_owner)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:
        for record in event["Records"]:
            _gave_up(record)
        return {"gaveUp": len(event["Records"])}
    send_id = str(event["sendId"])
    correlation_id = event.get("correlationId")
    logger.set_correlation_id(correlation_id)
    logger.append_keys(sendId=send_id)

    def remaining_s() -> float:
        return context.get_remaining_time_in_millis() / 1000

    if event.get("segment") is None:
        dispatcher.plan(send_id, correlation_id)
    else:
        dispatcher.run_segment(
            send_id,
            int(event["segment"]),
            context.aws_request_id,
            remaining_s,
            correlation_id,
            continuation=bool(event.get("continuation")),
        )
    return {"sendId": send_id}
