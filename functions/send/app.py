"""SendFunction: API Gateway → the routes by use case (send, preview, status) → the domain.

Around the resolver, for every route: the raw-body guards, `Idempotency-Key` (POST /send only), and
the correlation id answered in `X-Correlation-Id`."""

from __future__ import annotations

import gc
import os
from http import HTTPStatus
from typing import Any

# Cold start: what the imports and the configuration build lives as long as the container, so the
# collector's passes over it (5-10 % of the init's CPU) wait: at the end of this module it is frozen
# out of every later collection, and the usual thresholds come back.
_THRESHOLDS = gc.get_threshold()
gc.set_threshold(1_000_000)

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from messaging.api import browsable, cancel_routes, errors, preview_routes, send_routes, status_routes, wiring
from messaging.body import accept_json, body_text, check_json
from messaging.errors import MessagingError
from messaging.idempotency import HEADER, caller_scope, idempotency_key
from messaging.observability import CORRELATION_HEADER, correlation_id_from, logger, metrics, trace_calls, tracer

trace_calls("botocore", "pymongo", "httplib")  # httplib: the File Service, via urllib3

# Cold start: an invalid configuration stops the function here, naming the field.
parts = wiring.send_parts(wiring.read_settings(os.environ))
idempotency = wiring.idempotency(parts.settings)

app = APIGatewayRestResolver(enable_validation=True)
errors.register(app)
for routes in (send_routes, status_routes, cancel_routes, preview_routes):
    app.include_router(routes.router(parts))
browsable.enable(app, parts.settings.swagger_ui == "enabled")
gc.freeze()
gc.set_threshold(*_THRESHOLDS)


def _sends_messages(event: dict[str, Any]) -> bool:
    """Only POST /send is kept under an Idempotency-Key: the other routes send nothing."""
    route = str(event.get("resource") or event.get("path") or "")
    return str(event.get("httpMethod", "POST")).upper() == "POST" and route.rstrip("/").endswith("/send")


def _respond(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        # Refused before the resolver parses: not JSON, too large (in bytes), too deep, NaN/Infinity.
        event = dict(accept_json(event))
        check_json(body_text(event))
    except MessagingError as exc:
        return errors.proxy_error(exc.status, exc.message)
    key = idempotency_key(event)
    if key is None or not _sends_messages(event):
        # A preview or a status read sends nothing: no idempotency record is written (or replayed) for it.
        return dict(app.resolve(event, context))
    if idempotency is None:
        return errors.proxy_error(
            HTTPStatus.BAD_REQUEST, f"{HEADER}: idempotency is not configured (IDEMPOTENCY_TABLE)"
        )
    try:
        return idempotency.respond(key, caller_scope(event), event, context, lambda: dict(app.resolve(event, context)))
    except MessagingError as exc:
        return errors.proxy_error(exc.status, exc.message)


@logger.inject_lambda_context(clear_state=True)
# Answers and errors carry user ids and provider reasons: never copied into traces.
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    correlation_id = correlation_id_from(event)
    logger.set_correlation_id(correlation_id)
    response = _respond(event, context)
    response.setdefault("multiValueHeaders", {})[CORRELATION_HEADER] = [correlation_id]
    # One line per request with what the caller got (make start prints it: local/request_log.py).
    logger.info("answered", extra={"statusCode": response.get("statusCode"), "sendId": _send_id_of(response)})
    return response


def _send_id_of(response: dict[str, Any]) -> str | None:
    """The send the answer names: X-Send-Id (200), or the Location of a 202."""
    headers = {str(name).lower(): value for name, value in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        if values:
            headers[str(name).lower()] = values[-1]
    location = str(headers.get("location") or "")
    send_id = headers.get("x-send-id") or (location.removeprefix("/sends/") if location.startswith("/sends/") else None)
    return str(send_id) if send_id else None
