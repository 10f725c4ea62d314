"""What every channel function does around its provider adapter: join the request's correlation
id, annotate the trace, publish provider metrics, answer the failures."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from messaging.channels.common import DeliveryReport
from messaging.models.batch import BatchResult
from messaging.observability import annotate, count, isolated_metrics, logger, reason_class

MAX_LATENCY_SAMPLES = 100  # the most values one EMF metric may carry


class Batch(Protocol):
    @property
    def channel(self) -> str: ...

    @property
    def correlationId(self) -> str | None: ...  # noqa: N802 - the payload's field name

    @property
    def messages(self) -> Any: ...


_cold_start = True


def handle_batch(batch: Batch, send: Callable[[], DeliveryReport]) -> dict[str, Any]:
    global _cold_start
    logger.set_correlation_id(batch.correlationId)
    size = len(batch.messages)
    annotate("channel", batch.channel)
    annotate("batch_size", size)
    if _cold_start:
        _cold_start = False
        count("ColdStart", 1, function_name=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", batch.channel))

    report = send()

    emf = isolated_metrics()
    emf.add_dimension(name="channel", value=batch.channel)
    step = max(1, -(-len(report.latencies_ms) // MAX_LATENCY_SAMPLES))
    for latency in report.latencies_ms[::step]:
        emf.add_metric(name="ProviderLatency", unit=MetricUnit.Milliseconds, value=round(latency, 1))
    emf.add_metric(name="ProviderAccepted", unit=MetricUnit.Count, value=size - len(report.failures))
    emf.add_metric(name="ProviderRejected", unit=MetricUnit.Count, value=len(report.failures))
    emf.flush_metrics()
    reasons = sorted({reason_class(failure.error) for failure in report.failures})
    logger.info(
        f"{batch.channel} batch sent", extra={"messages": size, "failed": len(report.failures), "reasons": reasons}
    )
    return BatchResult(failures=report.failures).model_dump()
