"""What every channel function does around its provider adapter: join the request's correlation
id, annotate the trace, send each batchId once, publish provider metrics, answer the failures."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from messaging import throttles
from messaging.channels.common import DeliveryReport
from messaging.channels.once import BatchGuard, duplicate_reason
from messaging.models.batch import LATE_ERROR, BatchResult
from messaging.models.common import Channel
from messaging.models.response import ChannelFailure, FailureCode
from messaging.observability import annotate, count, isolated_metrics, logger
from messaging.rate_control import LEAD_MAX_MS

MAX_LATENCY_SAMPLES = 100  # the most values one EMF metric may carry


class Batch(Protocol):
    @property
    def channel(self) -> Channel: ...

    @property
    def correlationId(self) -> str | None: ...  # noqa: N802 - the payload's field name

    @property
    def batchId(self) -> str | None: ...  # noqa: N802 - the payload's field name

    @property
    def messages(self) -> Any: ...

    @property
    def paced(self) -> bool: ...

    @property
    def sendAt(self) -> float | None: ...  # noqa: N802 - the payload's field name

    @property
    def sendBy(self) -> float | None: ...  # noqa: N802 - the payload's field name


_cold_start = True
# The longest a batch waits for its slot: the dispatcher invokes at most LEAD_MAX_MS ahead, so more
# means the two clocks disagree, and the messages go rather than wait on a clock that is wrong.
MAX_SLOT_WAIT_S = (LEAD_MAX_MS + 100) / 1000


def wait_for_slot(
    send_at: float | None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> float | None:
    """Waits for a paced batch's slot to start: how long after its start the batch arrived, in ms
    (negative: before; None: the batch has no slot)."""
    if send_at is None:
        return None
    lag_s = clock() - send_at
    if lag_s < 0:
        sleep(min(-lag_s, MAX_SLOT_WAIT_S))
    return lag_s * 1000


def too_late(send_at: float | None, send_by: float | None, lag_ms: float | None) -> bool:
    return send_at is not None and send_by is not None and lag_ms is not None and send_at + lag_ms / 1000 > send_by


def handle_batch(batch: Batch, send: Callable[[], DeliveryReport], guard: BatchGuard | None = None) -> dict[str, Any]:
    global _cold_start
    logger.set_correlation_id(batch.correlationId)
    size = len(batch.messages)
    annotate("channel", batch.channel)
    annotate("batch_size", size)
    if _cold_start:
        _cold_start = False
        count("ColdStart", 1, function_name=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", batch.channel))

    batch_id = batch.batchId
    if guard is not None and batch_id:
        earlier = guard.claim(batch_id)
        if earlier is not None:
            # A repeated invoke: answer what the first one did, and send nothing.
            failures = earlier.failures
            if failures is None:
                reason = duplicate_reason(batch_id)
                failures = [
                    ChannelFailure(userId=m.userId, channel=batch.channel, error=reason, code=FailureCode.UNKNOWN)
                    for m in batch.messages
                ]
            logger.warning(
                f"{batch.channel} batch already handled",
                extra={"batchId": batch_id, "messages": size, "completed": earlier.failures is not None},
            )
            count("DuplicateBatches", 1, channel=batch.channel)
            return _answer(failures)  # as first answered

    lag_ms = wait_for_slot(batch.sendAt)
    if too_late(batch.sendAt, batch.sendBy, lag_ms):
        # At most 8 digits either way (a hostile slot far ahead): a longer run would read as a phone number.
        shown = max(-99_999_999, min(lag_ms or 0, 99_999_999))
        failures = [
            ChannelFailure(
                userId=m.userId,
                channel=batch.channel,
                error=f"{LATE_ERROR}: arrived {shown:.0f} ms after its slot, not sent; paced again",
                code=FailureCode.LATE,
            )
            for m in batch.messages
        ]
        if batch_id and guard is not None:
            guard.complete(batch_id, failures)
        logger.info(f"{batch.channel} batch handed back to the pace", extra={"messages": size, "lagMs": round(shown)})
        count("LateBatches", 1, channel=batch.channel)
        return _answer(failures, lag_ms=lag_ms)

    throttles.take()  # what an earlier batch of this process left uncounted is not this one's
    throttles.set_paced(batch.paced)
    try:
        report = send()
    finally:
        throttles.set_paced(False)
    throttled = throttles.take()
    if batch_id and guard is not None:
        guard.complete(batch_id, report.failures)

    emf = isolated_metrics()
    emf.add_dimension(name="channel", value=batch.channel)
    step = max(1, -(-len(report.latencies_ms) // MAX_LATENCY_SAMPLES))
    for latency in report.latencies_ms[::step]:
        emf.add_metric(name="ProviderLatency", unit=MetricUnit.Milliseconds, value=round(latency, 1))
    emf.add_metric(name="ProviderAccepted", unit=MetricUnit.Count, value=size - len(report.failures))
    emf.add_metric(name="ProviderRejected", unit=MetricUnit.Count, value=len(report.failures))
    emf.flush_metrics()
    reasons = sorted({failure.code for failure in report.failures})
    logger.info(
        f"{batch.channel} batch sent", extra={"messages": size, "failed": len(report.failures), "reasons": reasons}
    )
    return _answer(report.failures, throttled, lag_ms)


def _answer(failures: list[ChannelFailure], throttled: int = 0, lag_ms: float | None = None) -> dict[str, Any]:
    """The batch's answer, its advice to the pace only when there is some (an older dispatcher reads
    `failures` alone)."""
    unsaid = ({"throttled"} if not throttled else set()) | ({"slotLagMs"} if lag_ms is None else set())
    return BatchResult(failures=failures, throttled=throttled, slotLagMs=lag_ms).model_dump(exclude=unsaid)
