"""POST /send: the request read (body, caller, `Prefer`), the send submitted, its answer written."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from messaging.idempotency import caller_scope, idempotency_key
from messaging.models import openapi_answers
from messaging.models.openapi_answers import SEND_ID_HEADER
from messaging.models.request import SendRequest
from messaging.models.response import SendAccepted, SendResponse, SendScheduled
from messaging.observability import logger
from messaging.prefer import prefers_async
from messaging.sends.persistence.dynamodb import utc_iso
from messaging.submission import Accepted, Caller, SendParts, submit


def router(parts: SendParts) -> APIGatewayRouter:
    routes = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

    @routes.post(
        "/send",
        operation_id="send",
        summary="Send one message to many users by e-mail, SMS, push and voice",
        description="Everything that can refuse the request runs before the first message leaves: "
        "a 4xx/5xx means nothing was sent.",
        responses=openapi_answers.SEND,
    )
    def post_send(
        request: Annotated[SendRequest, Body()],
    ) -> Response[SendResponse | SendAccepted | SendScheduled]:
        event, context = routes.current_event, routes.lambda_context
        caller = Caller(
            scope=caller_scope(event.raw_event),
            correlation_id=logger.get_correlation_id(),
            remaining_s=lambda: context.get_remaining_time_in_millis() / 1000,
            keyed=None if (key := idempotency_key(event.raw_event)) is None else (key, event.body or ""),
        )
        respond_async = prefers_async(event.headers, event.multi_value_headers)
        result = submit(request, parts, caller, respond_async=respond_async)
        if isinstance(result, Accepted) and result.send_at is not None:
            return Response(
                status_code=202,
                content_type="application/json",
                body=SendScheduled(sendId=result.send_id, sendAt=utc_iso(result.send_at)),
                headers={"Location": f"/sends/{result.send_id}"},
            )
        if isinstance(result, Accepted):
            return Response(
                status_code=202,
                content_type="application/json",
                body=SendAccepted(sendId=result.send_id),
                headers={"Location": f"/sends/{result.send_id}", "Preference-Applied": "respond-async"},
            )
        return Response(
            status_code=200,
            content_type="application/json",
            body=result.response,
            headers={SEND_ID_HEADER: result.send_id},
        )

    return routes
