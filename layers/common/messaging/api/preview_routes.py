"""POST /send/preview: how a /send body renders for real users, sending nothing."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from messaging.idempotency import caller_scope
from messaging.models import openapi_answers
from messaging.models.request import SendRequestPreview
from messaging.models.response import PreviewResponse
from messaging.preview import preview
from messaging.submission import SendParts, check_transactional


def router(parts: SendParts) -> APIGatewayRouter:
    routes = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

    @routes.post(
        "/send/preview",
        operation_id="preview",
        summary="Render a /send body for the first users it resolves to, sending nothing",
        responses=openapi_answers.PREVIEW,
    )
    def post_preview(request: Annotated[SendRequestPreview, Body()]) -> PreviewResponse:
        """For template authors: how a /send body renders for real users; nothing is sent, staged or
        recorded (no idempotency record, no sending metric)."""
        context = routes.lambda_context
        # What a transactional send would reach (past every opt-out) is the listed callers' to see.
        check_transactional(request, parts.settings, caller_scope(routes.current_event.raw_event))
        return preview(
            request,
            parts.settings,
            parts.store,
            parts.renderer,
            remaining_s=lambda: context.get_remaining_time_in_millis() / 1000,
        )

    return routes
