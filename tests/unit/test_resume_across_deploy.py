"""A batch started by the release before batch ids named the whole channel (`<send>-<k>-<c><n>`)
and resumed by this one must go out under its first id: the channel function's once-only record
(`batch#<batchId>`) knows only that one, and a new id sends its users the message again."""

from __future__ import annotations

from typing import Any

import boto3
from moto import mock_aws
from pydantic import BaseModel

from messaging.models.function_settings import SendSettings
from messaging.sends.keys import batch_key
from messaging.sends.persistence.dynamodb import Table, pack
from messaging.sends.persistence.segments import Segments
from messaging.sends.resume import read_checkpoints
from messaging.sends.segment_batches import SegmentBatches


class _Message(BaseModel):
    userId: str  # noqa: N815 - the payload's name


SEND = "0123456789abcdef0123456789abcdef"


def _settings() -> SendSettings:
    return SendSettings.model_construct(
        batch_max_messages=100, batch_max_bytes=4_000_000, function_names={"email": "EmailFunction"}
    )


def _resumed_id(item_extra: dict[str, Any]) -> str:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="sends",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        # The checkpoint as the previous release wrote it (no `ids`), or as this one does.
        client.put_item(
            TableName="sends",
            Item={
                "pk": {"S": SEND},
                "sk": {"S": batch_key(0, "email", 0)},
                "status": {"S": "started"},
                "users": {"B": pack(["u1"])},
                "token": {"S": "t"},
                **item_extra,
            },
        )
        client.put_item(TableName="sends", Item={"pk": {"S": SEND}, "sk": {"S": "seg#000000"}})
        table = Table(client, "sends")
        segments = Segments(table, None)  # type: ignore[arg-type]  # batches() reads no failures
        states = segments.batches(SEND, 0)
    checkpoints = read_checkpoints(["email"], states)
    batches = SegmentBatches(SEND, 0, _settings(), {"email": {"channel": "email"}}, checkpoints, {})
    batches.add("email", "u1", _Message(userId="u1"), 0)
    (job,) = batches.jobs()
    return job.batch.batch_id


def test_a_batch_started_by_the_previous_release_resumes_under_its_first_id() -> None:
    assert _resumed_id({}) == f"{SEND}-0-e0"  # 6d56c42's asynchronous.py: f"{send_id}-{segment}-{channel[0]}{number}"


def test_a_batch_started_by_this_release_keeps_the_new_id() -> None:
    assert _resumed_id({"ids": {"S": "channel"}}) == f"{SEND}-0-email-0"
