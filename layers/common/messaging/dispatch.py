"""Batching, parallel invokes of the channel functions, and aggregation of their failures.

Batches are bounded by message count and by bytes, so no payload nears Lambda's 6 MB limit, and
a request's rendered messages are bounded in total. A batch whose invoke fails turns into one
failure per user in it: no recipient is ever lost. An invoke is never repeated unless Lambda
throttled it before the function ran, and every batch carries a `batchId` its channel function
honours once: no message goes out twice. What cannot be known (a connection lost after the
request left, a function that timed out or crashed while sending, a batch still running at the
deadline) is reported `unknown: ...`, never as failed or sent.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ProxyConnectionError,
)
from pydantic import BaseModel, ValidationError

from messaging.channels.once import BatchRefusedError
from messaging.errors import BadRequest
from messaging.models.batch import BatchResult
from messaging.models.common import Channel
from messaging.models.response import Failure, FailureCode
from messaging.observability import logger
from messaging.validation import InvalidPayloadError


class ChannelInvokeError(Exception):
    """The channel function did not run, or refused the batch before sending any of it."""


class InvokeThrottledError(ChannelInvokeError):
    """Lambda refused the invoke before running the function (429): it may be tried again."""


class BatchOutcomeUnknownError(Exception):
    """The batch may have been sent, in part or whole: the request left and no answer came back."""


# Raised by a channel function before it sends anything: an invalid payload, no batch record.
_NOTHING_SENT_ERRORS = {InvalidPayloadError.__name__, BatchRefusedError.__name__}


def function_error(error_type: str, message: str) -> Exception:
    """A function error, as the invoker should raise it: only a refusal before sending is a failure."""
    text = f"{error_type}: {message}"
    return ChannelInvokeError(text) if error_type in _NOTHING_SENT_ERRORS else BatchOutcomeUnknownError(text)


# (function name, JSON payload) -> the function's JSON answer, or ChannelInvokeError /
# BatchOutcomeUnknownError.
Invoker = Callable[[str, bytes], bytes]


@dataclass
class Batch:
    """A payload waiting for its invoke. Every batch of a request is built before the first one is
    sent, so they wait compressed: JSON of rendered messages shrinks about tenfold, for a few µs
    per message."""

    channel: Channel
    function_name: str
    compressed: bytes
    user_ids: list[str]
    batch_id: str = ""

    @classmethod
    def of(cls, channel: Channel, function_name: str, payload: bytes, user_ids: list[str], batch_id: str = "") -> Batch:
        return cls(channel, function_name, zlib.compress(payload, 1), user_ids, batch_id)

    @property
    def payload(self) -> bytes:
        return zlib.decompress(self.compressed)


@dataclass
class _OpenBatch:
    parts: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)
    size: int = 0


_BATCH_ID_FIELD = len(',"batchId":""') + 64  # at most 64 characters (a uuid4 by default)


class BatchBuilder:
    """Packs pre-serialised messages into payloads `{<envelope>, "batchId": ..., "messages": [...]}`.

    `max_total_bytes` bounds the request's rendered (uncompressed JSON) messages: past it, the
    request is refused while it is still being rendered, before anything is sent.
    """

    def __init__(
        self,
        envelopes: Mapping[Channel, Mapping[str, Any]],
        function_names: Mapping[Channel, str],
        max_messages: int,
        max_bytes: int,
        max_total_bytes: int | None = None,
        batch_id: Callable[[Channel], str] | None = None,
        channel_max_messages: Mapping[Channel, int] | None = None,
    ) -> None:
        # Asynchronous sends name their batches deterministically, so a resumed one is the same batch.
        self._batch_id = batch_id or (lambda channel: str(uuid.uuid4()))
        self._heads = {
            channel: json.dumps({"channel": channel, **envelope}, ensure_ascii=False)[:-1]
            for channel, envelope in envelopes.items()
        }
        tail = len(',"messages":[') + len("]}")
        self._head_sizes = {
            channel: len(head.encode()) + _BATCH_ID_FIELD + tail for channel, head in self._heads.items()
        }
        self._function_names = function_names
        # A paced channel's batches are no larger than its rate.
        self._max_messages = {
            channel: min(max_messages, (channel_max_messages or {}).get(channel, max_messages))
            for channel in self._heads
        }
        self._max_bytes = max_bytes
        self._max_total_bytes = max_total_bytes
        self.rendered_bytes = 0
        self._open: dict[Channel, _OpenBatch] = {}
        self._ready: list[Batch] = []

    def add(self, channel: Channel, user_id: str, message: BaseModel) -> None:
        part = message.model_dump_json(exclude_none=True)
        part_size = len(part.encode())
        self.rendered_bytes += part_size
        if self._max_total_bytes is not None and self.rendered_bytes > self._max_total_bytes:
            raise BadRequest(
                f"the rendered messages exceed RENDER_BUDGET_BYTES ({self._max_total_bytes} bytes): "
                "send to fewer recipients per request or shorten the content; nothing was sent"
            )
        head_size = self._head_sizes[channel]
        if head_size + part_size > self._max_bytes:
            raise BadRequest(f"a {channel} message of {part_size} bytes exceeds the batch limit of {self._max_bytes}")
        current = self._open.setdefault(channel, _OpenBatch())
        if current.parts and (
            len(current.parts) >= self._max_messages[channel]
            or head_size + current.size + part_size + 1 > self._max_bytes
        ):
            self._close(channel)
            current = self._open.setdefault(channel, _OpenBatch())
        current.parts.append(part)
        current.user_ids.append(user_id)
        current.size += part_size + 1

    def _close(self, channel: Channel) -> None:
        current = self._open.pop(channel)
        batch_id = self._batch_id(channel)
        head = f'{self._heads[channel]},"batchId":"{batch_id}","messages":['
        payload = (head + ",".join(current.parts) + "]}").encode()
        self._ready.append(Batch.of(channel, self._function_names[channel], payload, current.user_ids, batch_id))

    def batches(self) -> list[Batch]:
        for channel in list(self._open):
            self._close(channel)
        ready, self._ready = self._ready, []
        return ready


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


def _run(batch: Batch, invoker: Invoker, left: Callable[[], float], margin_s: float) -> list[Failure]:
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
                return _answered(batch, BatchResult.model_validate_json(answer))
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
    deadline = math.inf if remaining_s is None else clock() + remaining_s()

    def left() -> float:
        return deadline - clock()

    def waiting_time() -> float | None:
        return None if remaining_s is None else max(0.0, left() - reserve_s)

    results: list[list[Failure] | None] = [None] * len(batch_list)
    pending: dict[Future[list[Failure]], int] = {}
    # Not a `with`: leaving it would join the threads, waiting on invokes past the deadline.
    pool = ThreadPoolExecutor(max_workers=min(max_parallel, len(batch_list)))
    try:
        for index, batch in enumerate(batch_list):
            while len(pending) >= max_parallel:
                done, _ = wait(pending, timeout=waiting_time(), return_when=FIRST_COMPLETED)
                if not done:
                    break
                for future in done:
                    results[pending.pop(future)] = future.result()
            if len(pending) >= max_parallel or left() < margin_s:
                break
            pending[pool.submit(_run, batch, invoker, left, margin_s)] = index
        if pending:
            done, _ = wait(pending, timeout=waiting_time())
            for future in done:
                results[pending.pop(future)] = future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)

    running = set(pending.values())
    late = [index for index, result in enumerate(results) if result is None]
    for index in late:
        batch = batch_list[index]
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
                "left_s": round(left(), 1),
            },
        )
    return [failure for failures in results if failures is not None for failure in failures]


_NOT_SENT = (EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError)


class LambdaInvoker:
    """Synchronous `lambda.invoke`, never repeated by botocore; endpoints come from boto3's
    AWS_ENDPOINT_URL_LAMBDA."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def connect(cls, read_timeout: float, endpoint_url: str | None = None) -> LambdaInvoker:
        """A client that never retries: botocore would re-invoke after a dropped connection or a
        read timeout, sending the batch again. Throttling is retried by `dispatch` instead."""
        config = Config(
            connect_timeout=5,
            read_timeout=read_timeout,
            retries={"mode": "standard", "total_max_attempts": 1},
            max_pool_connections=64,
        )
        return cls(boto3.client("lambda", config=config, endpoint_url=endpoint_url))

    def __call__(self, function_name: str, payload: bytes) -> bytes:
        try:
            response = self._client.invoke(
                FunctionName=function_name, InvocationType="RequestResponse", Payload=payload
            )
            body: bytes = response["Payload"].read()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            reason = f"{error.get('Code', 'Error')}: {error.get('Message', '')}"
            if error.get("Code") == "TooManyRequestsException" or status == 429:
                raise InvokeThrottledError(reason) from exc
            if error.get("Code") == "ServiceException":  # Lambda's own 500: the function may have run
                raise BatchOutcomeUnknownError(reason) from exc
            raise ChannelInvokeError(reason) from exc  # refused before running: not found, denied, too large...
        except _NOT_SENT as exc:
            raise ChannelInvokeError(f"{type(exc).__name__}: {exc}") from exc
        except BotoCoreError as exc:  # read timeout, connection dropped after the request left...
            raise BatchOutcomeUnknownError(f"{type(exc).__name__}: {exc}") from exc
        # Some emulators (sam local) answer a crashed function without the FunctionError field.
        if response.get("FunctionError") or _is_error_object(body):
            raise _function_error(body)
        return body


def _is_error_object(body: bytes) -> bool:
    return body.lstrip().startswith(b"{") and b'"errorMessage"' in body and b'"failures"' not in body


def _function_error(body: bytes) -> Exception:
    try:
        error = json.loads(body)
        return function_error(str(error.get("errorType", "Error")), str(error.get("errorMessage", "")))
    except (ValueError, AttributeError):
        return BatchOutcomeUnknownError(body[:200].decode(errors="replace"))
