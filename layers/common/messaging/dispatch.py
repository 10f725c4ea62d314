"""Parallel invokes of the channel functions, and aggregation of their failures.

A batch whose invoke fails turns into one failure per user in it: no recipient is ever lost. An
invoke is never repeated unless Lambda throttled it before the function ran, and every batch
carries a `batchId` its channel function honours once: no message goes out twice. What cannot be
known (a connection lost after the request left, a function that timed out or crashed while
sending, a batch still running at the deadline) is reported `unknown: ...`, never as failed or sent.
Batching is messaging.batching's, the invoke and its errors messaging.invoker's.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from pydantic import ValidationError

from messaging.batching import Batch, BatchBuilder
from messaging.invoker import (
    BatchOutcomeUnknownError,
    ChannelInvokeError,
    Invoker,
    InvokeThrottledError,
    LambdaInvoker,
    function_error,
)
from messaging.models.batch import BatchResult
from messaging.models.common import Channel
from messaging.models.response import Failure, FailureCode
from messaging.observability import logger

# Imported from here by the channel runtimes' tests, the asynchronous sends and DispatchFunction.
__all__ = [
    "NOT_ATTEMPTED",
    "THROTTLE_ATTEMPTS",
    "THROTTLE_BACKOFF_S",
    "Batch",
    "BatchBuilder",
    "BatchOutcomeUnknownError",
    "ChannelInvokeError",
    "InvokeThrottledError",
    "Invoker",
    "LambdaInvoker",
    "dispatch",
    "function_error",
    "still_running",
]

NOT_ATTEMPTED = "not attempted: deadline"
THROTTLE_ATTEMPTS = 4
THROTTLE_BACKOFF_S = 0.25  # doubled per attempt, with jitter, never past the deadline


def still_running(channel: Channel) -> str:
    return f"unknown: deadline (the {channel} batch was still running)"


def _answered(batch: Batch, result: BatchResult) -> list[Failure]:
    """Only the batch's own channel and users, each once (the first wins): an answer is not trusted."""
    members = set(batch.user_ids)
    kept: list[Failure] = []
    for failure in result.failures:
        if failure.channel == batch.channel and failure.userId in members:
            members.discard(failure.userId)
            kept.append(failure)
    return kept


def _run(
    batch: Batch,
    invoker: Invoker,
    left: Callable[[], float],
    margin_s: float,
    on_answer: Callable[[BatchResult], None] | None = None,
) -> list[Failure]:
    """The batch's failures; `on_answer` also sees the function's whole answer (its throttle count)."""
    attempt = 0
    while True:
        attempt += 1
        try:
            answer = invoker(batch.function_name, batch.payload)
        except InvokeThrottledError as exc:
            pause = THROTTLE_BACKOFF_S * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter
            if attempt < THROTTLE_ATTEMPTS and left() - pause >= margin_s:
                time.sleep(pause)
                continue
            code, reason = FailureCode.FUNCTION_FAILED, f"{batch.channel} function failed: {exc}"
        except ChannelInvokeError as exc:
            code, reason = FailureCode.FUNCTION_FAILED, f"{batch.channel} function failed: {exc}"
        except BatchOutcomeUnknownError as exc:
            code, reason = FailureCode.UNKNOWN, f"unknown: {batch.channel} batch outcome unknown ({exc})"
        except Exception as exc:  # noqa: BLE001 - any failure of the invoke must become failures, not a 500
            code = FailureCode.UNKNOWN
            reason = f"unknown: {batch.channel} batch outcome unknown ({type(exc).__name__}: {exc})"
        else:
            try:
                result = BatchResult.model_validate_json(answer)
                if on_answer is not None:
                    on_answer(result)
                return _answered(batch, result)
            except ValidationError as exc:
                # The function ran to its end, but whom it reached cannot be read.
                detail = str(exc).splitlines()[0]
                code = FailureCode.UNKNOWN
                reason = f"unknown: {batch.channel} batch outcome unknown (unreadable answer: {detail})"
        break
    reason = reason.splitlines()[0]
    logger.warning(
        "batch not confirmed",
        extra={
            "channel": batch.channel,
            "batchId": batch.batch_id,
            "users": len(batch.user_ids),
            "reason": reason[:200],
        },
    )
    return [Failure(userId=user_id, channel=batch.channel, error=reason, code=code) for user_id in batch.user_ids]


@dataclass(frozen=True)
class _Deadline:
    """The invocation's time budget: no launch once `margin_s` are left, no waiting once `reserve_s`."""

    at: float  # on `clock`; math.inf without a deadline
    bounded: bool
    margin_s: float
    reserve_s: float
    clock: Callable[[], float]

    def left(self) -> float:
        return self.at - self.clock()

    def waiting_time(self) -> float | None:
        return None if not self.bounded else max(0.0, self.left() - self.reserve_s)

    def launch_closed(self) -> bool:
        return self.left() < self.margin_s


_Results = list[list[Failure] | None]


def _collect(
    done: Iterable[Future[list[Failure]]], pending: dict[Future[list[Failure]], int], results: _Results
) -> None:
    for future in done:
        results[pending.pop(future)] = future.result()


def _invoke_all(
    batches: list[Batch], invoker: Invoker, max_parallel: int, deadline: _Deadline, results: _Results
) -> set[int]:
    """Fills `results` with the confirmed batches' failures; the indexes of those still running."""
    pending: dict[Future[list[Failure]], int] = {}
    # Not a `with`: leaving it would join the threads, waiting on invokes past the deadline.
    pool = ThreadPoolExecutor(max_workers=min(max_parallel, len(batches)))
    try:
        for index, batch in enumerate(batches):
            while len(pending) >= max_parallel:
                done, _ = wait(pending, timeout=deadline.waiting_time(), return_when=FIRST_COMPLETED)
                if not done:
                    break
                _collect(done, pending, results)
            if len(pending) >= max_parallel or deadline.launch_closed():
                break
            pending[pool.submit(_run, batch, invoker, deadline.left, deadline.margin_s)] = index
        if pending:
            done, _ = wait(pending, timeout=deadline.waiting_time())
            _collect(done, pending, results)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return set(pending.values())


def _unconfirmed(batches: list[Batch], results: _Results, running: set[int], deadline: _Deadline) -> None:
    """The batches the deadline cut off: still running (unknown), or never launched (not attempted)."""
    late = [index for index, result in enumerate(results) if result is None]
    for index in late:
        batch = batches[index]
        reason, code = (
            (still_running(batch.channel), FailureCode.UNKNOWN)
            if index in running
            else (NOT_ATTEMPTED, FailureCode.NOT_ATTEMPTED)
        )
        results[index] = [
            Failure(userId=user_id, channel=batch.channel, error=reason, code=code) for user_id in batch.user_ids
        ]
    if late:
        logger.warning(
            "deadline: batches not confirmed",
            extra={
                "still_running": len(running),
                "not_attempted": len(late) - len(running),
                "left_s": round(deadline.left(), 1),
            },
        )


def dispatch(
    batches: Iterable[Batch],
    invoker: Invoker,
    max_parallel: int,
    remaining_s: Callable[[], float] | None = None,
    margin_s: float = 0.0,
    reserve_s: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
) -> list[Failure]:
    """Invokes every batch, at most `max_parallel` at once; failures in batch order.

    With `remaining_s`, the time left when dispatch starts, there is a deadline: no batch is
    launched once less than `margin_s` seconds remain (its users are `not attempted: deadline`),
    and nothing is waited for once less than `reserve_s` remain (the users of a batch still
    running are `unknown: deadline ...`). The answer then still arrives, with every user in it,
    instead of API Gateway's 504 with none.
    """
    batch_list = list(batches)
    if not batch_list:
        return []
    at = math.inf if remaining_s is None else clock() + remaining_s()
    deadline = _Deadline(at, remaining_s is not None, margin_s, reserve_s, clock)
    results: _Results = [None] * len(batch_list)
    running = _invoke_all(batch_list, invoker, max_parallel, deadline, results)
    _unconfirmed(batch_list, results, running, deadline)
    return [failure for failures in results if failures is not None for failure in failures]
