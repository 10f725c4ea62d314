"""Every error SendFunction answers, shaped in one place: the domain's refusals (MessagingError and
its status), a body the resolver refused, an unreachable AWS dependency, a crash; inside the
resolver (its exception handlers) and around it (the raw-body guards, idempotency)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from messaging.errors import MessagingError
from messaging.models.response import ErrorResponse
from messaging.observability import logger, metrics
from messaging.validation import describe_errors


def refusal(status: int, phrase: str, message: str) -> str:
    """Counts a refused request and writes its body in the seed's shape."""
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    return ErrorResponse(statusCode=str(status), error=phrase, message=message).model_dump_json()


def error_response(status: int, phrase: str, message: str) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=refusal(status, phrase, message))


def proxy_error(status: HTTPStatus, message: str) -> dict[str, Any]:
    """An error answered outside the resolver (before or around it), in the seed's shape."""
    # Python's own phrase for 413 differs between versions: name it as API Gateway does.
    phrase = "Payload Too Large" if status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE else status.phrase
    return {
        "statusCode": status.value,
        "headers": {"Content-Type": "application/json"},
        "body": refusal(status.value, phrase, message),
        "isBase64Encoded": False,
    }


def _invalid_request(exc: RequestValidationError) -> Response[str]:
    return error_response(400, "Bad Request", describe_errors(exc.errors(), drop_prefix="body"))


def _refused(exc: MessagingError) -> Response[str]:
    logger.warning("request refused", extra={"status": int(exc.status), "reason": exc.message[:300]})
    return error_response(exc.status.value, exc.status.phrase, exc.message)


def _aws_unreachable(exc: Exception) -> Response[str]:
    # The sends table (a status read) or another AWS dependency did not answer: an outage, not a bug.
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
    logger.warning("AWS dependency failed", extra={"reason": f"{type(exc).__name__} {code}".strip()})
    return error_response(
        503, "Service Unavailable", f"an AWS dependency is unreachable ({type(exc).__name__}); try again"
    )


def _no_route(_: NotFoundError) -> Response[str]:
    # A path no route's pattern matches (`/sends/\u2603`: API Gateway's {sendId} takes any segment).
    return error_response(404, "Not Found", "no such resource")


def _unexpected(exc: Exception) -> Response[str]:
    # Whatever happened, the caller gets the seed's shape and a way to find the logs.
    logger.exception("unexpected error")
    return error_response(
        500, "Internal Server Error", f"unexpected error (correlation id {logger.get_correlation_id()})"
    )


@dataclass(frozen=True)
class Answer:
    """What a handler answers on any route, as local/openapi.py documents it on each."""

    status: int
    description: str
    example: str


@dataclass(frozen=True)
class Handler:
    catches: tuple[type[Exception], ...]
    answer: Callable[[Any], Response[str]]
    # None: the exception carries its status, and each route documents its own (openapi_answers).
    documented: Answer | None
    # Only a route with parameters or a body has input to refuse.
    needs_input: bool = False


# Read by register() and by the OpenAPI document: a handler added here is documented on every route.
HANDLERS: tuple[Handler, ...] = (
    Handler(
        (RequestValidationError,),
        _invalid_request,
        Answer(
            400,
            "A parameter or the body breaks a rule; the message names it.",
            "limit: Input should be less than or equal to 1000",
        ),
        needs_input=True,
    ),
    Handler((MessagingError,), _refused, None),
    Handler(
        (ClientError, BotoCoreError),
        _aws_unreachable,
        Answer(
            503,
            "An AWS dependency (the sends table, S3, Lambda, ...) did not answer: an outage; try again.",
            "an AWS dependency is unreachable (EndpointConnectionError); try again",
        ),
    ),
    Handler(
        (NotFoundError,),
        _no_route,
        Answer(404, "The path matches no route (a sendId no route takes).", "no such resource"),
    ),
    Handler(
        (Exception,),
        _unexpected,
        Answer(
            500,
            "An unexpected error; the message carries the correlation id to find it in the logs.",
            "unexpected error (correlation id 3f1c7c1e-7b61-11e6-9a41-93e8deadbeef)",
        ),
    ),
)


def register(app: APIGatewayRestResolver) -> None:
    """The resolver's exception handlers: the most specific class that matches answers."""
    for handler in HANDLERS:
        app.exception_handler(list(handler.catches))(handler.answer)
