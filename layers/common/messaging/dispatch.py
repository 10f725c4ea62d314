"""Batching, parallel invokes of the channel functions, and aggregation of their failures.

Batches are bounded by message count and by bytes, so no payload nears Lambda's 6 MB limit. A batch
whose invoke fails in any way turns into one failure per user in it: no recipient is ever lost.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from messaging.errors import BadRequest
from messaging.models.batch import BatchResult
from messaging.models.common import Channel
from messaging.models.response import Failure
from messaging.observability import logger


class ChannelInvokeError(Exception):
    """The channel function did not answer with a result (error, timeout, throttling...)."""


# (function name, JSON payload) -> the function's JSON answer, or ChannelInvokeError.
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

    @classmethod
    def of(cls, channel: Channel, function_name: str, payload: bytes, user_ids: list[str]) -> Batch:
        return cls(channel, function_name, zlib.compress(payload, 1), user_ids)

    @property
    def payload(self) -> bytes:
        return zlib.decompress(self.compressed)


@dataclass
class _OpenBatch:
    parts: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)
    size: int = 0


class BatchBuilder:
    """Packs pre-serialised messages into payloads `{<envelope>, "messages": [...]}`."""

    def __init__(
        self,
        envelopes: Mapping[Channel, Mapping[str, Any]],
        function_names: Mapping[Channel, str],
        max_messages: int,
        max_bytes: int,
    ) -> None:
        self._heads = {
            channel: json.dumps({"channel": channel, **envelope}, ensure_ascii=False)[:-1] + ',"messages":['
            for channel, envelope in envelopes.items()
        }
        self._head_sizes = {channel: len(head.encode()) + 2 for channel, head in self._heads.items()}
        self._function_names = function_names
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._open: dict[Channel, _OpenBatch] = {}
        self._ready: list[Batch] = []

    def add(self, channel: Channel, user_id: str, message: BaseModel) -> None:
        part = message.model_dump_json(exclude_none=True)
        part_size = len(part.encode())
        head_size = self._head_sizes[channel]
        if head_size + part_size > self._max_bytes:
            raise BadRequest(f"a {channel} message of {part_size} bytes exceeds the batch limit of {self._max_bytes}")
        current = self._open.setdefault(channel, _OpenBatch())
        if current.parts and (
            len(current.parts) >= self._max_messages or head_size + current.size + part_size + 1 > self._max_bytes
        ):
            self._close(channel)
            current = self._open.setdefault(channel, _OpenBatch())
        current.parts.append(part)
        current.user_ids.append(user_id)
        current.size += part_size + 1

    def _close(self, channel: Channel) -> None:
        current = self._open.pop(channel)
        payload = (self._heads[channel] + ",".join(current.parts) + "]}").encode()
        self._ready.append(Batch.of(channel, self._function_names[channel], payload, current.user_ids))

    def batches(self) -> list[Batch]:
        for channel in list(self._open):
            self._close(channel)
        ready, self._ready = self._ready, []
        return ready


def _run(batch: Batch, invoker: Invoker) -> list[Failure]:
    try:
        result = BatchResult.model_validate_json(invoker(batch.function_name, batch.payload))
    except (ChannelInvokeError, ValidationError) as exc:
        reason = f"{batch.channel} function failed: {exc}".splitlines()[0]
    except Exception as exc:  # noqa: BLE001 - any failure of the invoke must become failures, not a 500
        reason = f"{batch.channel} function failed: {type(exc).__name__}: {exc}".splitlines()[0]
    else:
        members = set(batch.user_ids)
        return [failure for failure in result.failures if failure.userId in members]
    logger.warning(
        "batch failed", extra={"channel": batch.channel, "users": len(batch.user_ids), "reason": reason[:200]}
    )
    return [Failure(userId=user_id, channel=batch.channel, error=reason) for user_id in batch.user_ids]


NOT_ATTEMPTED = "not attempted: deadline"


def dispatch(
    batches: Iterable[Batch],
    invoker: Invoker,
    max_parallel: int,
    remaining_s: Callable[[], float] | None = None,
    margin_s: float = 0.0,
) -> list[Failure]:
    """Invokes every batch, at most `max_parallel` at once; failures in batch order.

    With `remaining_s`, no batch is launched once less than `margin_s` seconds remain: its users
    are reported `not attempted: deadline`, so the caller still answers with the full list rather
    than API Gateway timing out with none.
    """
    batch_list = list(batches)
    results: list[list[Failure]] = [[] for _ in batch_list]
    if not batch_list:
        return []
    with ThreadPoolExecutor(max_workers=min(max_parallel, len(batch_list))) as pool:
        pending: dict[Future[list[Failure]], int] = {}
        upcoming = iter(range(len(batch_list)))
        for index in upcoming:
            while len(pending) >= max_parallel:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    results[pending.pop(future)] = future.result()
            if remaining_s is not None and remaining_s() < margin_s:
                for late in (index, *upcoming):
                    results[late] = [
                        Failure(userId=user_id, channel=batch_list[late].channel, error=NOT_ATTEMPTED)
                        for user_id in batch_list[late].user_ids
                    ]
                logger.warning("deadline: batches not attempted", extra={"remaining_s": round(remaining_s(), 1)})
                break
            pending[pool.submit(_run, batch_list[index], invoker)] = index
        for future, index in pending.items():
            results[index] = future.result()
    return [failure for failures in results for failure in failures]


class LambdaInvoker:
    """Synchronous `lambda.invoke`; endpoints come from boto3's AWS_ENDPOINT_URL_LAMBDA."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __call__(self, function_name: str, payload: bytes) -> bytes:
        response = self._client.invoke(FunctionName=function_name, InvocationType="RequestResponse", Payload=payload)
        body: bytes = response["Payload"].read()
        # Some emulators (sam local) answer a crashed function without the FunctionError field.
        if response.get("FunctionError") or _is_error_object(body):
            raise ChannelInvokeError(_describe_function_error(body))
        return body


def _is_error_object(body: bytes) -> bool:
    return body.lstrip().startswith(b"{") and b'"errorMessage"' in body and b'"failures"' not in body


def _describe_function_error(body: bytes) -> str:
    try:
        error = json.loads(body)
        return f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace")
