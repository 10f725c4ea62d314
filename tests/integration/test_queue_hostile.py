"""Hostile and unlucky queued requests (issue 23): each becomes a `Send Refused` or a clear outcome,
never a crash of the batch, never the body in the event, never a send twice."""

from __future__ import annotations

import base64
import json
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.async_sends import Async
from tests.integration.test_queue_and_events import (
    GOOD,
    PERSONAL,
    Events,
    _deliver,
    _record,
    _sent_ids,
    events,
    intake,
)

__all__ = ["events", "intake"]


def _refused(events: Events) -> list[dict[str, Any]]:
    return [e["detail"] for e in events.read() if e["detail-type"] == "Send Refused"]


def test_hostile_bodies_are_each_refused_without_failing_the_batch_or_quoting_the_body(
    run: Async, intake: ModuleType, events: Events
) -> None:
    hostile = [
        _record("not json"),
        _record("[1, 2]"),
        _record('"a string"'),
        _record('{"channels": ["email"], "recipients": ["u1"], "messageTitle": "t", "messageContent": "c\\ud800"}'),
        _record({**GOOD, "ann@example.com": "Your results are ready"}),  # an unknown field, named by the API
        _record({**GOOD, "emailAttachments": ["bob@example.com-results.pdf"]}),  # a file the API names
        _record({**GOOD, "reference": "order\u2028Hello Ann"}),  # a line separator: not printable
        _record({**GOOD, "reference": "\u202eorder"}),  # a bidi override
        _record({**GOOD, "reference": "x" * 257}),
        _record({**GOOD, "reference": 12345}),
    ]
    assert _deliver(intake, *hostile, _record({**GOOD, "reference": "ordine-è-ü-日本"})) == []
    assert len(_sent_ids(run)) == 1  # only the last: unicode printable characters are a reference
    refused = _refused(events)
    assert len(refused) == len(hostile)
    assert {detail["statusCode"] for detail in refused} == {400}
    text = json.dumps(refused, ensure_ascii=False)
    assert not [p for p in [*PERSONAL, "results.pdf", "a string"] if p in text], text
    assert {detail["correlationId"] for detail in refused} == {"corr-1"}


def test_an_idempotency_key_over_256_characters_is_refused_never_cut_to_another_key(
    run: Async, intake: ModuleType, events: Events
) -> None:
    first, second = _record(GOOD, key="k" * 256 + "a"), _record(GOOD, key="k" * 256 + "b")
    assert _deliver(intake, first, second, _record(GOOD, key="k" * 10_000)) == []
    assert _sent_ids(run) == []
    refused = _refused(events)
    assert [(d["statusCode"], d["message"]) for d in refused] == [(400, "IdempotencyKey: at most 256 characters")] * 3
    assert len({d["eventId"] for d in refused}) == 3  # three messages, three refusals


def test_a_binary_idempotency_key_is_a_key_too(run: Async, intake: ModuleType, events: Events) -> None:
    def binary(key: bytes) -> dict[str, Any]:
        record = _record(GOOD)
        attribute = {"binaryValue": base64.b64encode(key).decode(), "dataType": "Binary"}
        record["messageAttributes"]["IdempotencyKey"] = attribute
        return record

    # Two messages with one Binary key: one send (the message ids differ); another key: another send.
    assert _deliver(intake, binary(b"\x00order-7"), binary(b"\x00order-7"), binary(b"\x00order-8")) == []
    assert len(_sent_ids(run)) == 2
    assert _refused(events) == []


def test_an_idempotency_key_used_again_with_another_body_is_refused_as_over_http(
    run: Async, intake: ModuleType, events: Events
) -> None:
    assert _deliver(intake, _record(GOOD, key="order-8"), _record({**GOOD, "reference": "other"}, key="order-8")) == []
    assert len(_sent_ids(run)) == 1
    (refused,) = _refused(events)
    assert (refused["statusCode"], refused["reference"]) == (409, "other")
    assert "different body" in refused["message"]
    # A key first refused (400), then used with another body (409): two refusals, told apart by eventId.
    bad, other = (
        _record({**GOOD, "channels": ["fax"]}, key="order-9"),
        _record({**GOOD, "reference": "b"}, key="order-9"),
    )
    assert _deliver(intake, bad, other) == []
    first, second = _refused(events)[1:]
    assert (first["statusCode"], second["statusCode"]) == (400, 409)
    assert first["eventId"] != second["eventId"]


def test_a_send_whose_outcome_cannot_be_kept_is_not_delivered_again_to_send_twice(
    run: Async, intake: ModuleType, events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "UpdateItem")

    # The send is accepted, then the idempotency table fails as its outcome is written.
    monkeypatch.setattr(intake.once._persistence, "_update_record", unreachable)
    message = _record(GOOD)
    assert _deliver(intake, message) == []  # deleted: a redelivery would run again and send twice
    assert len(_sent_ids(run)) == 1


def test_a_correlation_id_that_is_no_sane_token_is_replaced_by_the_message_id(
    run: Async, intake: ModuleType, events: Events
) -> None:
    noisy, huge = _record(GOOD), _record({**GOOD, "channels": ["fax"]})
    noisy["messageAttributes"]["CorrelationId"] = {"stringValue": "corr\r\nX-Admin: 1", "dataType": "String"}
    huge["messageAttributes"]["CorrelationId"] = {"stringValue": "c" * 10_000, "dataType": "String"}
    assert _deliver(intake, noisy, huge) == []
    run.drain()
    announced = [e["detail"] for e in events.read()]
    assert {d["correlationId"] for d in announced} == {noisy["messageId"], huge["messageId"]}


def test_a_refusal_announced_again_is_the_same_event_dated_when_the_message_was_sent(
    run: Async, intake: ModuleType, events: Events
) -> None:
    refused = _record({**GOOD, "channels": ["fax"]})
    refused["attributes"]["SentTimestamp"] = "1796558400000"  # 2026-12-06T12:00:00Z
    assert _deliver(intake, refused) == []
    assert _deliver(intake, refused) == []  # delivered again (its deletion failed)
    first, again = _refused(events)
    assert first == again
    assert first["createdAt"] == "2026-12-06T12:00:00Z"


def test_two_keys_whose_key_and_body_run_together_alike_are_two_sends(
    run: Async, intake: ModuleType, events: Events
) -> None:
    # "k\n" + "\n" + body and "k" + "\n" + "\n" + body are one string: never one send id.
    body = json.dumps(GOOD)
    assert _deliver(intake, _record(body, key="order-7\n"), _record("\n" + body, key="order-7")) == []
    assert len(set(_sent_ids(run))) == 2
    assert _refused(events) == []
