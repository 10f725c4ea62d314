"""SendStore: the send records, segments, failures and S3 objects of one sends table and bucket."""

from __future__ import annotations

from typing import Any

from messaging.sends.announcer import Announcer
from messaging.sends.persistence.cancels import Cancels
from messaging.sends.persistence.dynamodb import Table
from messaging.sends.persistence.expiry import Expiry
from messaging.sends.persistence.failures import Failures
from messaging.sends.persistence.objects import SendObjects
from messaging.sends.persistence.records import SendRecords
from messaging.sends.persistence.segments import Segments
from messaging.sends.states import SendState


class SendStore:
    def __init__(
        self, dynamodb: Any, table: str, s3: Any, bucket: str, ttl_days: int = 7, announcer: Announcer | None = None
    ) -> None:
        self.requests = {"dynamodb": 0, "s3": 0}  # counted for the benchmark
        self.table = Table(dynamodb, table, ttl_days, self.requests)
        self.failures = Failures(self.table)
        self.records = SendRecords(self.table, self.failures)
        self.segments = Segments(self.table, self.failures)
        self.objects = SendObjects(s3, bucket, self.requests)
        self.cancels = Cancels(self.table)
        self.expiry = Expiry(self.table)
        self.announcer = announcer or Announcer(None)  # lifecycle events: none unless one is given

    def announce(self, send_id: str, *statuses: SendState) -> None:
        """The send's transitions to `statuses`, announced from its record (never raises)."""
        self.announcer.transitions(self.records, send_id, *statuses)
