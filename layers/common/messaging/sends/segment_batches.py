"""A segment's batches being filled, one part at a time: new batches numbered after the
checkpointed ones, and each started one rebuilt under its first batchId (resume.py places each user)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from messaging.dispatch import Batch, BatchBuilder
from messaging.models.common import Channel
from messaging.models.function_settings import SendSettings
from messaging.sends.batches import BatchJob
from messaging.sends.keys import batch_id, legacy_batch_id
from messaging.sends.resume import Checkpoints, interrupted_failures
from messaging.sends.states import BatchState

# A resumed batch is rebuilt as one payload, however large: it must go under its first batchId.
_RESUMED_MAX_MESSAGES = 10_000
_RESUMED_MAX_BYTES = 5_000_000


class SegmentBatches:
    """The segment's batches being filled: new ones numbered after the checkpointed, and each
    started one rebuilt under its first batchId."""

    def __init__(
        self,
        send_id: str,
        segment: int,
        settings: SendSettings,
        envelopes: Mapping[Channel, Mapping[str, Any]],
        checkpoints: Checkpoints,
        batch_limits: Mapping[Channel, int],
    ) -> None:
        self._send_id, self._segment, self._checkpoints = send_id, segment, checkpoints
        self._function_names = {channel: settings.function_name(channel) for channel in checkpoints.next_number}
        self._numbers = dict(checkpoints.next_number)
        self._numbered: dict[str, int] = {}
        # a channel with a batch limit is paced (messaging.pacing): its channel function leaves
        # throttled calls to the dispatcher
        envelopes = {ch: {**env, "paced": True} if ch in batch_limits else env for ch, env in envelopes.items()}
        self._new = BatchBuilder(
            envelopes,
            self._function_names,
            max_messages=settings.batch_max_messages,
            max_bytes=settings.batch_max_bytes,
            batch_id=self._new_id,
            channel_max_messages=batch_limits,
        )
        self._resumed = {
            (state.channel, state.number): BatchBuilder(
                {state.channel: envelopes[state.channel]},
                {state.channel: self._function_names[state.channel]},
                max_messages=_RESUMED_MAX_MESSAGES,
                max_bytes=_RESUMED_MAX_BYTES,
                batch_id=partial(self._fixed_id, state),
            )
            for state in checkpoints.unfinished
        }
        self._rendered: dict[tuple[Channel, int], set[str]] = {key: set() for key in self._resumed}

    def _id(self, channel: Channel, number: int) -> str:
        made = batch_id(self._send_id, self._segment, channel, number)
        self._numbered[made] = number
        return made

    def _fixed_id(self, state: BatchState, _: Channel) -> str:
        """A started batch's first id: the legacy spelling if an earlier release checkpointed it."""
        if not state.legacy_id:
            return self._id(state.channel, state.number)
        made = legacy_batch_id(self._send_id, self._segment, state.channel, state.number)
        self._numbered[made] = state.number
        return made

    def _new_id(self, channel: Channel) -> str:
        number = self._numbers[channel]
        self._numbers[channel] += 1
        return self._id(channel, number)

    def add(self, channel: Channel, user_id: str, message: Any, resumed: int | None) -> None:
        if resumed is None:
            self._new.add(channel, user_id, message)
            return
        self._resumed[(channel, resumed)].add(channel, user_id, message)
        self._rendered[(channel, resumed)].add(user_id)

    @property
    def held_bytes(self) -> int:
        """The rendered messages this part holds (uncompressed JSON)."""
        return self._new.rendered_bytes + sum(builder.rendered_bytes for builder in self._resumed.values())

    def next_numbers(self) -> dict[Channel, int]:
        return dict(self._numbers)

    def jobs(self) -> list[BatchJob]:
        """The resumed batches first (each with its users' known failures), then the new ones."""
        jobs: list[BatchJob] = []
        for state in self._checkpoints.unfinished:
            key = (state.channel, state.number)
            batches = self._resumed[key].batches()
            overflow = [user_id for extra in batches[1:] for user_id in extra.user_ids]
            gone = interrupted_failures(state, self._rendered[key], overflow)
            if batches:
                batch = batches[0]
                batch.user_ids = list(state.user_ids)  # counted as checkpointed
            else:
                function_name = self._function_names[state.channel]
                batch = Batch.of(state.channel, function_name, b"{}", list(state.user_ids), "")
                batch.batch_id = self._fixed_id(state, state.channel)
            jobs.append(BatchJob(batch, state.number, new=False, known=gone))
        jobs += [BatchJob(batch, self._numbered[batch.batch_id], new=True) for batch in self._new.batches()]
        return jobs
