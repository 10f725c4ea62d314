"""The batchId record with a stand-in table: claimed once, a repeat answers the first result."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

import messaging.channels.once
from messaging.channels.once import BatchGuard, BatchRefusedError, Earlier
from messaging.models.response import ChannelFailure


class Table:
    """put_item with attribute_not_exists(id), get_item, update_item SET: enough of DynamoDB."""

    def __init__(self, lose_first_answer: bool = False) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.lose_first_answer = lose_first_answer

    def put_item(self, TableName: str, Item: dict[str, Any], ConditionExpression: str) -> None:
        key = Item["id"]["S"]
        if key in self.items:
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem")
        self.items[key] = dict(Item)
        if self.lose_first_answer:
            self.lose_first_answer = False
            # botocore retries after a lost answer: the item exists, written by this very claim.
            self.put_item(TableName, Item, ConditionExpression)

    def get_item(self, TableName: str, Key: dict[str, Any], ConsistentRead: bool) -> dict[str, Any]:
        item = self.items.get(Key["id"]["S"])
        return {"Item": item} if item else {}

    def update_item(self, **kwargs: Any) -> None:
        item = self.items[kwargs["Key"]["id"]["S"]]
        values = kwargs["ExpressionAttributeValues"]
        item["status"] = values[":done"]
        if ":result" in values:
            item["result"] = values[":result"]


FAILED = [ChannelFailure(userId="u2", channel="sms", error="InvalidParameter: x", code="InvalidParameter")]


def test_a_batch_is_claimed_once_and_a_repeat_gets_the_first_result() -> None:
    guard = BatchGuard(Table(), "t")
    assert guard.claim("b1") is None
    assert guard.claim("b1") == Earlier(None)  # in progress
    guard.complete("b1", FAILED)
    assert guard.claim("b1") == Earlier(FAILED)
    assert guard.claim("b2") is None


def test_a_claim_retried_after_a_lost_answer_is_still_ours() -> None:
    assert BatchGuard(Table(lose_first_answer=True), "t").claim("b1") is None


def test_a_result_too_large_to_keep_makes_a_repeat_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messaging.channels.once, "MAX_RESULT_BYTES", 10)
    guard = BatchGuard(Table(), "t")
    guard.claim("b1")
    guard.complete("b1", FAILED)
    assert guard.claim("b1") == Earlier(None)


def test_an_unusable_table_refuses_the_batch_before_sending() -> None:
    class Down:
        def put_item(self, **kwargs: Any) -> None:
            raise EndpointConnectionError(endpoint_url="http://dynamodb")

    with pytest.raises(BatchRefusedError, match=r"^batch record not written: EndpointConnectionError"):
        BatchGuard(Down(), "t").claim("b1")
