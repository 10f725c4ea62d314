"""SendFunction: API Gateway `POST /send` → validated SendRequest → messaging.service.send."""

from __future__ import annotations

import os
from functools import partial
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from messaging import aws
from messaging.asynchronous import EventLauncher, accept, parse_prefer
from messaging.attachments import FileService, stage_attachments
from messaging.body import body_text, check_json
from messaging.dispatch import LambdaInvoker
from messaging.errors import BadRequest, MessagingError, NotFound
from messaging.idempotency import HEADER, AnswerStore, Idempotency, caller_scope, idempotency_key
from messaging.models.config import SendSettings
from messaging.models.request import SendRequest
from messaging.models.response import (
    ChannelCounts,
    ErrorResponse,
    FailuresPage,
    SendAccepted,
    SendResponse,
    SendStatus,
)
from messaging.observability import (
    CORRELATION_HEADER,
    correlation_id_from,
    logger,
    metrics,
    record_send,
    trace_calls,
    tracer,
)
from messaging.sends import SendStore
from messaging.service import no_file_service, send
from messaging.store import MongoStore
from messaging.templating import Renderer
from messaging.validation import describe_errors

trace_calls("botocore", "pymongo", "httplib")  # httplib: the File Service, via urllib3

# Cold start: an invalid configuration stops the function here, naming the field.
settings = SendSettings.from_environ(os.environ)
# Deployed, the URI is a secret; local runs give it directly.
mongodb_uri = settings.mongodb_uri or str(parameters.get_secret(str(settings.mongodb_uri_secret_id)))
store = MongoStore.connect(
    mongodb_uri,
    settings.mongodb_database,
    settings.users_collection,
    settings.templates_collection,
    settings.mongodb_timeout_ms,
)
renderer = Renderer(
    default_locale=settings.default_locale,
    max_message_bytes=settings.max_message_bytes,
    cache_bytes=settings.template_cache_bytes,
)
stage = (
    partial(
        stage_attachments,
        file_service=FileService(settings.file_service_url, settings.file_service_timeout_s),
        s3=aws.client("s3"),
        bucket=str(settings.attachments_bucket),
    )
    if settings.file_service_url
    else no_file_service
)
# Never retried by botocore (a repeated invoke could send a batch twice): dispatch retries throttling.
invoker = LambdaInvoker.connect(read_timeout=settings.invoke_timeout_s)

idempotency = (
    Idempotency(
        settings.idempotency_table,
        AnswerStore(aws.client("s3"), settings.attachments_bucket) if settings.attachments_bucket else None,
    )
    if settings.idempotency_table
    else None
)

# Asynchronous sends (`Prefer: respond-async`): their records, and DispatchFunction's Event invoke.
sends = (
    SendStore(
        aws.client("dynamodb"),
        settings.sends_table,
        aws.client("s3"),
        str(settings.attachments_bucket),
        settings.sends_ttl_days,
    )
    if settings.sends_table
    else None
)
launcher = EventLauncher.connect()

app = APIGatewayRestResolver(enable_validation=True)


def _refusal(status: int, phrase: str, message: str) -> str:
    """Counts a refused request and writes its body in the seed's shape."""
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    return ErrorResponse(statusCode=str(status), error=phrase, message=message).model_dump_json()


def _error(status: int, phrase: str, message: str) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=_refusal(status, phrase, message))


@app.exception_handler(RequestValidationError)
def _invalid_request(exc: RequestValidationError) -> Response[str]:
    return _error(400, "Bad Request", describe_errors(exc.errors(), drop_prefix="body"))


@app.exception_handler(MessagingError)
def _refused(exc: MessagingError) -> Response[str]:
    logger.warning("request refused", extra={"status": int(exc.status), "reason": exc.message[:300]})
    return _error(exc.status.value, exc.status.phrase, exc.message)


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response[str]:
    # Whatever happened, the caller gets the seed's shape and a way to find the logs.
    logger.exception("unexpected error")
    return _error(500, "Internal Server Error", f"unexpected error (correlation id {logger.get_correlation_id()})")


def _prefers_async() -> bool:
    event = app.current_event
    values = [value for name, value in (event.headers or {}).items() if name.lower() == "prefer"]
    for name, many in (event.multi_value_headers or {}).items():
        if name.lower() == "prefer":
            values += many
    return "respond-async" in parse_prefer(values)


def _sends() -> SendStore:
    if sends is None:
        raise NotFound("no asynchronous sends are configured (SENDS_TABLE)")
    return sends


@app.post(
    "/send",
    responses={
        200: {"description": "sending ran; failures listed"},
        202: {
            "description": "`Prefer: respond-async`: accepted; follow it at `Location` (GET /sends/{sendId})",
            "content": {"application/json": {"model": SendAccepted}},
        },
    },
)
def post_send(request: Annotated[SendRequest, Body()]) -> Response[SendResponse | SendAccepted]:
    context = app.lambda_context
    if _prefers_async():
        if sends is None:
            raise BadRequest("Prefer: respond-async: asynchronous sends are not configured (SENDS_TABLE)")
        send_id = accept(
            request,
            settings,
            store,
            renderer,
            sends,
            launcher,
            stage,
            logger.get_correlation_id(),
            caller_scope(app.current_event.raw_event),
        )
        return Response(
            status_code=202,
            content_type="application/json",
            body=SendAccepted(sendId=send_id),
            headers={"Location": f"/sends/{send_id}", "Preference-Applied": "respond-async"},
        )
    outcome = send(
        request,
        settings,
        store,
        renderer,
        invoker,
        stage,
        logger.get_correlation_id(),
        remaining_s=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    record_send(outcome)
    return Response(status_code=200, content_type="application/json", body=outcome.response)


def _record(send_id: str) -> Any:
    record = _sends().get(send_id) if len(send_id) <= 64 else None
    # Another caller's send is as unknown as a missing one.
    if record is None or record.scope != caller_scope(app.current_event.raw_event):
        raise NotFound(f"sendId: no send {send_id[:64]}")
    return record


@app.get(
    "/sends/<send_id>",
    responses={404: {"description": "no such send", "content": {"application/json": {"model": ErrorResponse}}}},
)
def get_send(send_id: Annotated[str, Path()]) -> SendStatus:
    record = _record(send_id)
    return SendStatus(
        sendId=record.send_id,
        status=record.status,
        createdAt=record.created_at,
        updatedAt=record.updated_at,
        completedAt=record.completed_at,
        audience=record.audience,
        notFound=record.not_found,
        channels={channel: ChannelCounts(**record.channel_counts(channel)) for channel in record.channels},
    )


@app.get(
    "/sends/<send_id>/failures",
    responses={404: {"description": "no such send", "content": {"application/json": {"model": ErrorResponse}}}},
)
def get_send_failures(
    send_id: Annotated[str, Path()],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    nextToken: Annotated[str | None, Query(max_length=2048)] = None,  # noqa: N803 - the API's parameter name
) -> FailuresPage:
    _record(send_id)
    failures, token = _sends().failures_page(send_id, limit, nextToken)
    return FailuresPage(failures=failures, nextToken=token)


def _proxy_error(status: HTTPStatus, message: str) -> dict[str, Any]:
    """An error answered outside the resolver (before or around it), in the seed's shape."""
    # Python's own phrase for 413 differs between versions: name it as API Gateway does.
    phrase = "Payload Too Large" if status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE else status.phrase
    body = _refusal(status.value, phrase, message)
    return {
        "statusCode": status.value,
        "headers": {"Content-Type": "application/json"},
        "body": body,
        "isBase64Encoded": False,
    }


def _respond(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        # Refused before the resolver parses: too large (in bytes), too deep, NaN/Infinity.
        check_json(body_text(event))
    except MessagingError as exc:
        return _proxy_error(exc.status, exc.message)
    key = idempotency_key(event)
    if key is None:
        return dict(app.resolve(event, context))
    if idempotency is None:
        return _proxy_error(HTTPStatus.BAD_REQUEST, f"{HEADER}: idempotency is not configured (IDEMPOTENCY_TABLE)")
    try:
        return idempotency.respond(key, caller_scope(event), event, context, lambda: dict(app.resolve(event, context)))
    except MessagingError as exc:
        return _proxy_error(exc.status, exc.message)


@logger.inject_lambda_context(clear_state=True)
# Answers and errors carry user ids and provider reasons: never copied into traces.
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    correlation_id = correlation_id_from(event)
    logger.set_correlation_id(correlation_id)
    response = _respond(event, context)
    response.setdefault("multiValueHeaders", {})[CORRELATION_HEADER] = [correlation_id]
    return response
