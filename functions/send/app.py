"""SendFunction: API Gateway `POST /send` → validated SendRequest → messaging.service.send."""

from __future__ import annotations

import os
from functools import partial
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from messaging import aws
from messaging.attachments import FileService, stage_attachments
from messaging.body import accept_json, body_text, check_json
from messaging.bootstrap import connect_store, make_renderer, user_preferences
from messaging.dispatch import LambdaInvoker
from messaging.errors import BadRequest, MessagingError, NotFound
from messaging.idempotency import HEADER, AnswerStore, Idempotency, caller_scope, idempotency_key
from messaging.models.function_settings import SendSettings
from messaging.models.request import SendRequest, SendRequestPreview
from messaging.models.response import (
    ChannelCounts,
    ErrorResponse,
    FailuresPage,
    PreviewResponse,
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
from messaging.prefer import parse_prefer
from messaging.sends.accept import EventLauncher, accept
from messaging.sends.persistence.store import SendStore
from messaging.sends.sync_record import SyncSendRecord
from messaging.service import new_send_id, no_file_service, preview, send
from messaging.validation import describe_errors

SEND_ID_HEADER = "X-Send-Id"

trace_calls("botocore", "pymongo", "httplib")  # httplib: the File Service, via urllib3

# Cold start: an invalid configuration stops the function here, naming the field.
settings = SendSettings.from_environ(os.environ)
store = connect_store(settings)
# The only writer of user documents: a provider's opt-outs, on the store's own client.
preferences = user_preferences(store, settings.service.userFields)
renderer = make_renderer(settings)
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


@app.exception_handler([ClientError, BotoCoreError])
def _aws_unreachable(exc: Exception) -> Response[str]:
    # The sends table (a status read) or another AWS dependency did not answer: an outage, not a bug.
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
    logger.warning("AWS dependency failed", extra={"reason": f"{type(exc).__name__} {code}".strip()})
    return _error(503, "Service Unavailable", f"an AWS dependency is unreachable ({type(exc).__name__}); try again")


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response[str]:
    # Whatever happened, the caller gets the seed's shape and a way to find the logs.
    logger.exception("unexpected error")
    return _error(500, "Internal Server Error", f"unexpected error (correlation id {logger.get_correlation_id()})")


def _error_examples(status: int, examples: dict[str, str]) -> dict[str, Any]:
    """An OpenAPI response body in the error shape, with its examples' messages by name."""
    phrase = HTTPStatus(status).phrase
    return {
        "application/json": {
            "model": ErrorResponse,
            "examples": {
                name: {"value": {"statusCode": str(status), "error": phrase, "message": message}}
                for name, message in examples.items()
            },
        }
    }


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


_SEND_ID = "4f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b"


@app.post(
    "/send",
    operation_id="send",
    summary="Send one message to many users by e-mail, SMS, push and voice",
    description="Everything that can refuse the request runs before the first message leaves: "
    "a 4xx/5xx means nothing was sent.",
    responses={
        200: {
            "description": "Sending ran; every user who did not get the message on a channel is listed.",
            "headers": {
                SEND_ID_HEADER: {
                    "description": "The send's id: its status and delivery events at GET /sends/{sendId}.",
                    "schema": {"type": "string"},
                    "examples": {"send id": {"value": "4f1c2b3a5d6e4f708a9b0c1d2e3f4a5b"}},
                }
            },
            "content": {
                "application/json": {
                    "model": SendResponse,
                    "examples": {
                        "all sent": {"value": {"failures": []}},
                        "some failed": {
                            "value": {"failures": [{"userId": "nobody", "channel": "sms", "error": "user not found"}]}
                        },
                    },
                }
            },
        },
        202: {
            "description": "With `Prefer: respond-async`: accepted, nothing refused it; follow it at `Location` "
            "(GET /sends/{sendId}).",
            "content": {
                "application/json": {
                    "model": SendAccepted,
                    "examples": {"accepted": {"value": {"sendId": _SEND_ID, "status": "accepted"}}},
                }
            },
        },
        400: {
            "description": "The body breaks a rule (the message names the field), or a stored template cannot be "
            "rendered.",
            "content": _error_examples(
                400,
                {
                    "no audience": "recipients or clusters is required (non-empty)",
                    "unknown channel": "channels[0]: Input should be 'email', 'sms', 'push' or 'voice'",
                    "inactive channel": "channels: sms not in activeChannels (email, push)",
                },
            ),
        },
        404: {
            "description": "templateId names no stored template.",
            "content": _error_examples(
                404, {"unknown template": "templateId: template 65f100000000000000000009 not found"}
            ),
        },
        503: {
            "description": "The database or the File Service is unreachable, or rendering ran past the deadline.",
            "content": _error_examples(503, {"database down": "database unreachable: ServerSelectionTimeoutError"}),
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
    record = SyncSendRecord(sends, caller_scope(app.current_event.raw_event), new_send_id())
    try:
        outcome = send(
            request,
            settings,
            store,
            renderer,
            invoker,
            stage,
            logger.get_correlation_id(),
            remaining_s=lambda: context.get_remaining_time_in_millis() / 1000,
            preferences=preferences,
            send_id=record.send_id,
            before_dispatch=lambda _: record.open(request.channels),
        )
        record_send(outcome)
    except Exception as exc:
        record.fail(exc)
        raise
    record.complete(outcome)
    return Response(
        status_code=200,
        content_type="application/json",
        body=outcome.response,
        headers={SEND_ID_HEADER: outcome.send_id},
    )


def _record(send_id: str) -> Any:
    record = _sends().records.get(send_id) if len(send_id) <= 64 else None
    # Another caller's send is as unknown as a missing one.
    if record is None or record.scope != caller_scope(app.current_event.raw_event):
        raise NotFound(f"sendId: no send {send_id[:64]}")
    return record


_NO_SUCH_SEND: OpenAPIResponse = {
    "description": "No send with this id for this caller (or its record expired).",
    "content": _error_examples(404, {"unknown send": f"sendId: no send {_SEND_ID}"}),
}


@app.get(
    "/sends/<sendId>",
    operation_id="getSend",
    summary="The status of a send (asynchronous, or synchronous by its X-Send-Id), with its counts per channel",
    responses={
        200: {
            "description": "Per channel, sent + failed + skipped + pending = audience + notFound.",
            "content": {
                "application/json": {
                    "model": SendStatus,
                    "examples": {
                        "running": {
                            "value": {
                                "sendId": _SEND_ID,
                                "status": "running",
                                "createdAt": "2026-11-28T09:00:00Z",
                                "updatedAt": "2026-11-28T09:00:40Z",
                                "completedAt": None,
                                "audience": 25000,
                                "notFound": 0,
                                "channels": {"email": {"sent": 6300, "failed": 0, "skipped": 12, "pending": 18688}},
                            }
                        }
                    },
                }
            },
        },
        404: _NO_SUCH_SEND,
    },
)
def get_send(
    sendId: Annotated[str, Path(description="the sendId of the 202, or the X-Send-Id of the 200", examples=[_SEND_ID])],  # noqa: N803 - the API's name
) -> SendStatus:
    record = _record(sendId)
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
    "/sends/<sendId>/failures",
    operation_id="getSendFailures",
    summary="The failures of a send, a page at a time (delivery events' bounces and carrier failures included)",
    responses={
        200: {
            "description": "Entries exactly as a synchronous answer has them; the dispatch's are complete once the "
            "send is over, and delivery events (bounces, complaints, carrier failures) add entries after them later.",
            "content": {
                "application/json": {
                    "model": FailuresPage,
                    "examples": {
                        "last page": {
                            "value": {
                                "failures": [{"userId": "nobody", "channel": "email", "error": "user not found"}],
                                "nextToken": None,
                            }
                        }
                    },
                }
            },
        },
        404: _NO_SUCH_SEND,
    },
)
def get_send_failures(
    sendId: Annotated[str, Path(description="the sendId of the 202, or the X-Send-Id of the 200", examples=[_SEND_ID])],  # noqa: N803 - the API's name
    limit: Annotated[int, Query(ge=1, le=1000, description="entries per page", examples=[100])] = 100,
    nextToken: Annotated[  # noqa: N803 - the API's parameter name
        str | None, Query(max_length=2048, description="the previous page's nextToken", examples=["eyJzIjoxMDB9"])
    ] = None,
) -> FailuresPage:
    _record(sendId)
    failures, token = _sends().failures.page(sendId, limit, nextToken)
    return FailuresPage(failures=failures, nextToken=token)


@app.post(
    "/send/preview",
    operation_id="preview",
    summary="Render a /send body for the first users it resolves to, sending nothing",
    responses={
        200: {
            "description": "The messages of the first `limit` users as rendered, who of them would be skipped "
            "and why, and whose message cannot be made; nothing was sent.",
            "content": {
                "application/json": {
                    "model": PreviewResponse,
                    "examples": {
                        "one user": {
                            "value": {
                                "audience": 42,
                                "audienceComplete": True,
                                "messages": [
                                    {
                                        "userId": "u1",
                                        "channel": "sms",
                                        "message": {"userId": "u1", "phoneNumber": "+393330000001", "text": "Hi Ann"},
                                    }
                                ],
                                "skipped": [{"userId": "u1", "channel": "email", "reason": "optedOut"}],
                                "failures": [],
                                "truncated": False,
                            }
                        }
                    },
                }
            },
        },
    },
)
def post_preview(request: Annotated[SendRequestPreview, Body()]) -> PreviewResponse:
    """For template authors: how a /send body renders for real users; nothing is sent, staged or
    recorded (no idempotency record, no sending metric)."""
    context = app.lambda_context
    return preview(
        request, settings, store, renderer, remaining_s=lambda: context.get_remaining_time_in_millis() / 1000
    )


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
        return _proxy_error(exc.status, exc.message)
    key = idempotency_key(event)
    if key is None or not _sends_messages(event):
        # A preview or a status read sends nothing: no idempotency record is written (or replayed) for it.
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
