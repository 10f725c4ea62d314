"""GET /sends/{sendId} and its failures: a send's record, for the caller who made it only."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from messaging.errors import NotFound
from messaging.intake import caller_scopes
from messaging.models import openapi_answers
from messaging.models.openapi_answers import SEND_ID_DESCRIPTION, SEND_ID_EXAMPLE
from messaging.models.response import ChannelCounts, FailuresPage, SendStatus
from messaging.sends.persistence.store import SendStore
from messaging.sends.states import SendRecord
from messaging.sends.sync_record import as_read
from messaging.submission import SendParts


def send_status(record: SendRecord) -> SendStatus:
    return SendStatus(
        sendId=record.send_id,
        status=record.status,
        createdAt=record.created_at,
        updatedAt=record.updated_at,
        completedAt=record.completed_at,
        sendAt=record.send_at,
        audience=record.audience,
        notFound=record.not_found,
        channels={channel: ChannelCounts(**record.channel_counts(channel)) for channel in record.channels},
        reference=record.reference,
    )


def callers_record(sends: SendStore, raw_event: dict[str, Any], send_id: str) -> SendRecord:
    """The send's record, if the caller made it: another caller's send is as unknown as a missing one."""
    record = sends.records.get(send_id) if len(send_id) <= 64 else None
    if record is None or record.scope not in caller_scopes(raw_event):
        raise NotFound(f"sendId: no send {send_id[:64]}")
    return record


def router(parts: SendParts) -> APIGatewayRouter:
    routes = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated

    def sends() -> SendStore:
        if parts.sends is None:
            raise NotFound("no asynchronous sends are configured (SENDS_TABLE)")
        return parts.sends

    def caller_record(send_id: str) -> SendRecord:
        record = callers_record(sends(), routes.current_event.raw_event, send_id)
        return as_read(record, parts.settings.send_timeout_s)

    @routes.get(
        "/sends/<sendId>",
        operation_id="getSend",
        summary="The status of a send (asynchronous, or synchronous by its X-Send-Id), with its counts per channel",
        responses=openapi_answers.SEND_STATUS,
    )
    def get_send(
        sendId: Annotated[str, Path(description=SEND_ID_DESCRIPTION, examples=[SEND_ID_EXAMPLE])],  # noqa: N803 - the API's name
    ) -> SendStatus:
        return send_status(caller_record(sendId))

    @routes.get(
        "/sends/<sendId>/failures",
        operation_id="getSendFailures",
        summary="The failures of a send, a page at a time (delivery events' bounces and carrier failures included)",
        responses=openapi_answers.SEND_FAILURES,
    )
    def get_send_failures(
        sendId: Annotated[str, Path(description=SEND_ID_DESCRIPTION, examples=[SEND_ID_EXAMPLE])],  # noqa: N803 - the API's name
        limit: Annotated[int, Query(ge=1, le=1000, description="entries per page", examples=[100])] = 100,
        nextToken: Annotated[  # noqa: N803 - the API's parameter name
            str | None, Query(max_length=2048, description="the previous page's nextToken", examples=["eyJzIjoxMDB9"])
        ] = None,
    ) -> FailuresPage:
        caller_record(sendId)
        failures, token = sends().failures.page(sendId, limit, nextToken)
        return FailuresPage(failures=failures, nextToken=token)

    return routes
