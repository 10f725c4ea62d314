"""The one Logger, Metrics and Tracer of every function, and what they record.

Log lines and metrics carry user ids, counts and reason codes only: never addresses, numbers,
tokens or message texts. Reasons are counted by the failures' codes, never by parsing their text;
this module imports no other module of the pipeline (no import circles).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from messaging.models.common import Channel
from messaging.models.response import Failure, FailureCode, SendResponse

NAMESPACE = "Messaging"
CORRELATION_HEADER = "X-Correlation-Id"
# What a caller may choose as correlation id: anything else could forge log content.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)
# Each function patches only the libraries it calls (trace_calls): patching all that X-Ray supports
# imports them all, 70 ms of SendFunction's cold start.
tracer = Tracer(auto_patch=False)


def trace_calls(*libraries: str) -> None:
    """Subsegments for every call through these libraries (`botocore`, `pymongo`, `httplib`...)."""
    tracer.patch(libraries)
    if "httplib" in libraries and "botocore" in libraries and not tracer.disabled:
        # botocore's connections are http.client's too: traced once, by the botocore patch.
        from aws_xray_sdk.ext.httplib import add_ignored  # type: ignore[import-untyped]

        for connection in ("AWSHTTPConnection", "AWSHTTPSConnection"):
            add_ignored(subclass=f"botocore.awsrequest.{connection}")


def annotate(key: str, value: str | int) -> None:
    """A trace annotation; numbers stay numbers so traces can be filtered by them."""
    tracer.put_annotation(key=key, value=value)  # type: ignore[arg-type]  # typed as numbers.Number


def safe_id(given: object) -> str | None:
    """`given` when it is a sane token (at most 128 characters, no spaces or control characters)."""
    return given if isinstance(given, str) and _SAFE_ID.fullmatch(given) else None


def correlation_id_from(event: Mapping[str, Any]) -> str:
    """The caller's X-Correlation-Id when it is a sane token, else API Gateway's request id, else a
    new one. API Gateway's request id is used only when the event is API Gateway's own: it always
    carries an `extendedRequestId`; `sam local start-api` sends none, and one `requestId` for every
    request of a run (its default argument is drawn once), which would join every local request."""
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    given = headers.get(CORRELATION_HEADER.lower())
    if isinstance(given, str) and _SAFE_ID.fullmatch(given):  # `$` alone lets a trailing newline in
        return given
    context = event.get("requestContext") or {}
    request_id, extended = context.get("requestId"), context.get("extendedRequestId")
    return str(request_id) if request_id and extended else str(uuid.uuid4())


class SendOutcome(Protocol):
    """What record_send reads of messaging.service.SendOutcome."""

    @property
    def response(self) -> SendResponse: ...
    @property
    def audience(self) -> int: ...
    @property
    def missing(self) -> int: ...
    @property
    def messages(self) -> Mapping[Channel, int]: ...  # handed to the channel functions
    @property
    def skipped(self) -> Mapping[Channel, int]: ...  # users who got nothing on the channel, not failing
    @property
    def skipped_by(self) -> Mapping[tuple[Channel, str], int]: ...  # (channel, SkipReason) -> users
    @property
    def batches(self) -> Mapping[Channel, int]: ...


def isolated_metrics() -> AmazonCloudWatchEMFProvider:
    """Metrics kept apart from the shared `metrics` store, with the service dimension; the caller
    flushes them."""
    return AmazonCloudWatchEMFProvider(namespace=NAMESPACE, default_dimensions=metrics.default_dimensions)


def count(name: str, value: float, *, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    """One metric with its own dimensions (per channel, per reason), flushed as one EMF blob."""
    emf = isolated_metrics()
    for key, dimension in dimensions.items():
        emf.add_dimension(name=key, value=dimension)
    emf.add_metric(name=name, unit=unit, value=value)
    emf.flush_metrics()


def record_failures(failures: Iterable[Failure], channels: Iterable[str]) -> None:
    """Per channel (what the failure-rate alarms watch) and per channel and reason (to diagnose)."""
    by_reason: dict[tuple[str, str], int] = {}
    for failure in failures:
        key = (failure.channel, failure.code)
        by_reason[key] = by_reason.get(key, 0) + 1
    for channel in sorted(channels):
        count("MessagesFailed", sum(v for (c, _), v in by_reason.items() if c == channel), channel=channel)
    for (channel, reason), value in sorted(by_reason.items()):
        count("MessagesFailedByReason", value, channel=channel, reason=reason)


def record_plan(users: int, channels: Sequence[Channel], not_found: Sequence[Failure]) -> None:
    """An asynchronous send planned (once): what the dispatchers now owe, and the users not found."""
    count("AsyncMessagesPlanned", users * len(channels))
    if not_found:
        record_failures(not_found, channels)
    count("AsyncMessagesHandled", len(not_found))


def record_batch(channel: Channel, users: int, failures: Sequence[Failure], opted_out: int = 0) -> None:
    """An asynchronous batch, counted once: what the synchronous answer's metrics say per channel
    (the provider's opt-outs are skipped there too)."""
    count("MessagesSent", users - len(failures) - opted_out, channel=channel)
    if opted_out:
        count("MessagesSkipped", opted_out, channel=channel)
    record_failures(failures, [channel])
    count("AsyncMessagesHandled", users)


def record_segment(skipped: Mapping[Channel, int], unsent: Sequence[Failure], channels: Iterable[Channel]) -> None:
    """An asynchronous segment's users skipped, and failed without a batch (not found, not rendered)."""
    for channel in channels:
        count("MessagesSkipped", skipped.get(channel, 0), channel=channel)
    if unsent:
        record_failures(unsent, channels)
    count("AsyncMessagesHandled", sum(skipped.values()) + len(unsent))


def record_skips(skipped_by: Mapping[tuple[Channel, str], int]) -> None:
    """Why users got nothing, per channel and reason (noAddress, optedOut, staleToken)."""
    for (channel, reason), value in sorted(skipped_by.items()):
        if value:
            count("MessagesSkippedByReason", value, channel=channel, reason=reason)


def record_send(outcome: SendOutcome) -> None:
    """One request's numbers: who was asked for, what went to each channel, what failed and why."""
    failures = outcome.response.failures
    annotate("audience", outcome.audience)
    metrics.add_metric(name="Audience", unit=MetricUnit.Count, value=outcome.audience)
    metrics.add_metric(name="UsersNotFound", unit=MetricUnit.Count, value=outcome.missing)
    channels = set(outcome.messages) | set(outcome.skipped)
    for channel in sorted(channels):
        not_delivered = sum(1 for f in failures if f.channel == channel and f.code != FailureCode.USER_NOT_FOUND)
        count("MessagesSent", outcome.messages.get(channel, 0) - not_delivered, channel=channel)
        count("MessagesSkipped", outcome.skipped.get(channel, 0), channel=channel)
        count("Batches", outcome.batches.get(channel, 0), channel=channel)
    record_failures(failures, channels)
    record_skips(outcome.skipped_by)
    logger.info(
        "send finished",
        extra={
            "audience": outcome.audience,
            "missing": outcome.missing,
            "messages": dict(outcome.messages),
            "skipped": dict(outcome.skipped),
            "skippedBy": {f"{channel}.{reason}": n for (channel, reason), n in sorted(outcome.skipped_by.items())},
            "failures": len(failures),
        },
    )
