"""Packing a request's rendered messages into batch payloads for the channel functions.

Batches are bounded by message count and by bytes, so no payload nears Lambda's 6 MB limit, and
a request's rendered messages are bounded in total (RENDER_BUDGET_BYTES). Every batch carries a
`batchId` its channel function honours once.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from messaging.errors import BadRequest
from messaging.models.common import Channel


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
