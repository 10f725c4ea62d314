"""The sends' bulky inputs in S3 (zlib JSON under `sends/<id>/`, the attachments bucket, one day):
the job SendFunction checked (`request.json`), and each planning attempt's segments of user ids and
its users not found, under `plans/<attempt>/` of its own. Only the attempt that moved the send to
running is read (two attempts streaming a changing audience cut it apart differently: their
segments must not mix)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from messaging.models.common import Channel
from messaging.models.request import SendRequest
from messaging.sends.keys import (
    JOB_OBJECT,
    SCHEDULED_PREFIX,
    missing_object,
    scheduled_job_object,
    segment_object,
    send_object,
)
from messaging.sends.persistence.dynamodb import pack, unpack


class Job(BaseModel):
    """What SendFunction checked and DispatchFunction sends."""

    request: SendRequest
    texts: dict[str, Any]  # messaging.templates.compose.texts_json
    envelopes: dict[Channel, dict[str, Any]]  # the batch envelope of each channel
    correlationId: str | None = Field(default=None)  # noqa: N815 - spelled as stored

    @property
    def transactional(self) -> bool:
        """Decided when the send was accepted (the request's or the template's), kept in every envelope."""
        return any(bool(envelope.get("transactional")) for envelope in self.envelopes.values())

    @property
    def category(self) -> str | None:
        """Decided when the send was accepted, kept in every envelope."""
        return next((str(e["category"]) for e in self.envelopes.values() if e.get("category")), None)


class SendObjects:
    def __init__(self, s3: Any, bucket: str, requests: dict[str, int] | None = None) -> None:
        self._s3 = s3
        self._bucket = bucket
        self.requests = requests if requests is not None else {"s3": 0}  # counted for the benchmark

    def put_json(self, send_id: str, name: str, value: Any) -> None:
        self.requests["s3"] += 1
        self._s3.put_object(
            Bucket=self._bucket, Key=send_object(send_id, name), Body=pack(value), ContentType="application/zlib"
        )

    def get_json(self, send_id: str, name: str) -> Any:
        self.requests["s3"] += 1
        return unpack(self._s3.get_object(Bucket=self._bucket, Key=send_object(send_id, name))["Body"].read())

    def put_job(self, send_id: str, job: Job) -> None:
        self.put_json(send_id, JOB_OBJECT, job.model_dump(mode="json"))

    def put_scheduled_job(self, send_id: str, job: Job) -> None:
        """A scheduled send's job, where the bucket keeps it until its `sendAt` (a year ahead included)."""
        self.requests["s3"] += 1
        body = pack(job.model_dump(mode="json"))
        key = scheduled_job_object(send_id)
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/zlib")

    def release_scheduled_job(self, send_id: str) -> bool:
        """The scheduled job copied where a running send's is read (its days counted from now); False
        if it is gone: only a cancel discards it, once the send is cancelled."""
        self.requests["s3"] += 1
        source = {"Bucket": self._bucket, "Key": scheduled_job_object(send_id)}
        try:
            self._s3.copy_object(Bucket=self._bucket, Key=send_object(send_id, JOB_OBJECT), CopySource=source)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return False
            raise
        return True

    def discard_scheduled(self, send_id: str) -> int:
        """A cancelled scheduled send's job and staged attachments, deleted now rather than kept for
        the bucket's year under `scheduled/`: how many S3 refused (it answers 200 with one error per key)."""
        key = scheduled_job_object(send_id)
        self.requests["s3"] += 2
        job = Job.model_validate(unpack(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()))
        staged = [str(file["key"]) for envelope in job.envelopes.values() for file in envelope.get("attachments", [])]
        keys = [*(name for name in staged if name.startswith(SCHEDULED_PREFIX)), key]
        answer = self._s3.delete_objects(
            Bucket=self._bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
        )
        return len(answer.get("Errors") or [])

    def get_job(self, send_id: str) -> Job:
        return Job.model_validate(self.get_json(send_id, JOB_OBJECT))

    def put_segment(self, send_id: str, plan: str, segment: int, user_ids: list[str]) -> None:
        self.put_json(send_id, segment_object(plan, segment), user_ids)

    def get_segment(self, send_id: str, plan: str, segment: int) -> list[str]:
        user_ids: list[str] = self.get_json(send_id, segment_object(plan, segment))
        return user_ids

    def put_missing(self, send_id: str, plan: str, user_ids: list[str]) -> None:
        self.put_json(send_id, missing_object(plan), user_ids)
