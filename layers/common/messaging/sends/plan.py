"""Planning a send (`{"sendId"}`): its audience streamed into segments, `accepted -> running`.

Only ids are streamed (the recipients, then the clusters' members not among them; one cursor, so
memory stays flat), into segments under a prefix of this planning attempt's own. A repeated planning
event may stream a changed audience at the same time: the one conditional write that moves the send
to running names its attempt, and only that attempt's segments are ever read (mixing two attempts'
segments could put a user near a boundary in two segments, or in none).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from messaging.models.common import Channel
from messaging.models.function_settings import SendSettings
from messaging.models.request import SendRequest
from messaging.models.response import Failure, FailureCode
from messaging.observability import logger, record_plan
from messaging.sends.persistence.store import SendStore
from messaging.sends.states import SendRecord, SendState
from messaging.service import USER_NOT_FOUND
from messaging.store import Store
from messaging.user_ids import lookup_values, object_id

# Batch names a segment item's `applied` set holds at most ("email#123456": about 15 bytes each).
MAX_BATCHES_PER_SEGMENT = 16_000


def segment_size(settings: SendSettings, batch_limits: Mapping[Channel, int], channels: Sequence[Channel]) -> int:
    """SEGMENT_USERS, or fewer when slow channels make small batches: each finished batch adds
    its name to its segment's item (`applied`), which must stay far under DynamoDB's 400 KB."""
    batch = settings.batch_max_messages
    batches_per_user = sum(1 / max(1, min(batch_limits.get(channel, batch), batch)) for channel in channels)
    fitting = int(MAX_BATCHES_PER_SEGMENT / batches_per_user) if batches_per_user else settings.segment_users
    return max(1, min(settings.segment_users, fitting))


@dataclass
class _Segmenter:
    """Cuts a stream of user ids into one planning attempt's segments in S3."""

    sends: SendStore
    send_id: str
    attempt: str
    size: int
    segments: int = 0
    audience: int = 0
    current: list[str] = field(default_factory=list)

    def add(self, user_id: str) -> None:
        self.current.append(user_id)
        self.audience += 1
        if len(self.current) >= self.size:
            self.close()

    def close(self) -> None:
        if self.current:
            self.sends.objects.put_segment(self.send_id, self.attempt, self.segments, self.current)
            self.segments += 1
            self.current = []


@dataclass
class Planner:
    settings: SendSettings
    store: Store
    sends: SendStore
    batch_limits: Mapping[Channel, int]

    def plan(self, send_id: str) -> SendRecord | None:
        """The running send whose first segments are to start, once planned (by this attempt or,
        concurrently, another: starting a segment twice is harmless, it is leased and its batches
        checkpointed); None when there is nothing to start."""
        record = self.sends.records.get(send_id)
        if record is None:
            logger.error("no such send", extra={"sendId": send_id})
            return None
        if record.over:
            return None
        # Fired by its schedule: its job moves to where a running send's is read (gone: cancelled meanwhile).
        if record.status == SendState.SCHEDULED and not self.sends.objects.release_scheduled_job(send_id):
            logger.info("scheduled send cancelled as it fired", extra={"sendId": send_id})
            return None
        if record.status in (SendState.ACCEPTED, SendState.SCHEDULED):
            self._plan_once(send_id)
            record = self.sends.records.get(send_id)
        if record is not None and record.status == SendState.CANCELLING and not record.plan:
            # Cancelled before its audience was resolved: nobody is pending, nothing was sent.
            if self.sends.cancels.finish(send_id):
                self.sends.announce(send_id, SendState.CANCELLED)
            return None
        if record is None or record.status not in (SendState.RUNNING, SendState.CANCELLING):
            return None
        if record.segments == 0:
            cancelling = record.status == SendState.CANCELLING
            if self.sends.records.finish(send_id, ended := SendState.CANCELLED if cancelling else SendState.COMPLETED):
                self.sends.announce(send_id, ended)
            return None
        return record

    def _plan_once(self, send_id: str) -> bool:
        """This attempt's segments written, and the send moved to running: False if another attempt won."""
        request = self.sends.objects.get_job(send_id).request
        attempt = uuid.uuid4().hex
        segmenter = _Segmenter(
            self.sends, send_id, attempt, segment_size(self.settings, self.batch_limits, request.channels)
        )
        missing = self._stream(request, segmenter)
        self.sends.objects.put_missing(send_id, attempt, missing)
        # Listed with the counts by the winning attempt only: a losing one lists nothing.
        not_found = self._missing(missing, request.channels)
        audience, segments = segmenter.audience, segmenter.segments
        won = self.sends.records.planned(send_id, attempt, audience, not_found, segments, request.channels)
        if won:
            record_plan(audience + len(missing), request.channels, not_found)
        logger.info(
            "send planned" if won else "send planned by another attempt",
            extra={"sendId": send_id, "audience": audience, "missing": len(missing), "segments": segments},
        )
        return won

    @staticmethod
    def _missing(missing: Sequence[str], channels: Sequence[Channel]) -> list[Failure]:
        return [
            Failure(userId=user_id, channel=channel, error=USER_NOT_FOUND, code=FailureCode.USER_NOT_FOUND)
            for user_id in missing
            for channel in channels
        ]

    def _stream(self, request: SendRequest, segmenter: _Segmenter) -> list[str]:
        """The audience's ids streamed into the segmenter: the recipients not found."""
        fields = self.settings.service.userFields
        requested = list(dict.fromkeys(request.recipients or ()))
        found: set[str] = set()
        found_object_ids: set[Any] = set()
        if requested:
            for document in self.store.users_by_ids(fields.id, lookup_values(requested, fields.id), [fields.id]):
                raw = document.get(fields.id)
                if raw is None or str(raw) in found:
                    continue
                found.add(str(raw))
                if not isinstance(raw, str):
                    found_object_ids.add(raw)
                segmenter.add(str(raw))
        if request.clusters:
            # One query: MongoDB returns each matching user once, whatever clusters it is in.
            for document in self.store.users_in_clusters(fields.clusters, list(request.clusters), [fields.id]):
                raw = document.get(fields.id)
                if raw is None or str(raw) in found:
                    continue
                segmenter.add(str(raw))
        segmenter.close()

        def was_found(user_id: str) -> bool:
            oid = object_id(user_id) if fields.id == "_id" else None
            return user_id in found or (oid is not None and oid in found_object_ids)

        return [user_id for user_id in requested if not was_found(user_id)]
