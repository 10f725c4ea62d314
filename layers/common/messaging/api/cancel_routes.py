"""DELETE /sends/{sendId}: a scheduled or running send cancelled, for the caller who made it only."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from messaging.api.status_routes import callers_record, send_status
from messaging.errors import NotFound
from messaging.models import openapi_answers
from messaging.models.openapi_answers import SEND_ID_DESCRIPTION, SEND_ID_EXAMPLE
from messaging.models.response import SendStatus
from messaging.sends.cancel import cancel
from messaging.submission import SendParts


def router(parts: SendParts) -> APIGatewayRouter:
    routes = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

    @routes.delete(
        "/sends/<sendId>",
        operation_id="cancelSend",
        summary="Cancel a scheduled or running send: what was not attempted yet is never sent",
        responses=openapi_answers.CANCEL_SEND,
    )
    def delete_send(
        sendId: Annotated[str, Path(description=SEND_ID_DESCRIPTION, examples=[SEND_ID_EXAMPLE])],  # noqa: N803 - the API's name
    ) -> SendStatus:
        sends = parts.sends
        if sends is None:
            raise NotFound(f"sendId: no send {sendId[:64]}")
        record = callers_record(sends, routes.current_event.raw_event, sendId)
        cancel(sends, parts.scheduler, record)
        return send_status(sends.records.get(sendId) or record)

    return routes
