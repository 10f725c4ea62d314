"""Sends from the intake queue (IntakeFunction, in-process) and every send's lifecycle events on
moto's EventBridge, read from a queue a rule delivers them to (local/events_queue.py), as
`make start` does."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local.events_queue import events_to_queue, received
from local.intake import LocalIntake
from local.lambda_runtime import load_function
from messaging.errors import ServiceUnavailable
from tests.conftest import EVENT_SOURCE, USERS, Servers, get_event
from tests.integration.async_sends import Async, _metric_sums
from tests.lambda_runtime import InProcessInvoker, LambdaContext

SENDER = "AIDAQUEUESENDER0001"
GOOD = {
    "channels": ["email", "sms"],
    "recipients": ["u1", "u2", "u3"],
    "messageTitle": "Hello {{user.name}}",
    "messageContent": "Your results are ready, {{user.name}}",
    "reference": "order-2026-000123",
}
# What no event may carry: every user's address, number, token and name, and the texts.
PERSONAL = [str(value) for user in USERS for key, value in user.items() if key not in ("_id", "clusters")] + [
    "Your results are ready",
    "Hello Ann",
]
DETAIL_FIELDS = {
    "eventId", "sendId", "status", "reference", "correlationId", "synchronous", "createdAt", "updatedAt",
    "completedAt", "sendAt", "audience", "notFound", "channels",
}  # fmt: skip
REFUSED_FIELDS = {"eventId", "sendId", "status", "statusCode", "message", "reference", "correlationId", "createdAt"}


class Events:
    """The lifecycle events announced so far, by send (read from the events queue)."""

    def __init__(self, url: str) -> None:
        self._sqs = boto3.client("sqs")
        self._url = url
        self.all: list[dict[str, Any]] = []

    def read(self) -> list[dict[str, Any]]:
        self.all += received(self._sqs, self._url)
        return self.all

    def of(self, send_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(e["detail-type"], e["detail"]) for e in self.read() if e["detail"].get("sendId") == send_id]


class DownStore:
    """The users database, unreachable while `down` (its ping, as a clusters-only request meets it)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.down = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def ping(self) -> None:
        if self.down:
            raise ServiceUnavailable("database unreachable: ServerSelectionTimeoutError")
        self._store.ping()


@pytest.fixture
def events(servers: Servers) -> Events:
    url = events_to_queue(boto3.client("events"), boto3.client("sqs"), "messaging-send-events", EVENT_SOURCE)
    received(boto3.client("sqs"), url)  # the earlier tests' events
    return Events(url)


@pytest.fixture
def intake(run: Async, invoker: InProcessInvoker, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = load_function("intake")
    monkeypatch.setattr(module.parts, "launcher", run.queue)
    monkeypatch.setattr(module.parts, "invoker", invoker)
    monkeypatch.setattr(module.parts, "store", DownStore(module.parts.store))
    return module


def _record(body: Any, message_id: str | None = None, key: str | None = None) -> dict[str, Any]:
    attributes = {"IdempotencyKey": {"stringValue": key, "dataType": "String"}} if key else {}
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "handle",
        "body": body if isinstance(body, str) else json.dumps(body),
        # SQS's SentTimestamp, the same on every delivery of the message.
        "attributes": {
            "SenderId": SENDER,
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(time.time_ns() // 10**6),
        },
        "messageAttributes": {"CorrelationId": {"stringValue": "corr-1", "dataType": "String"}, **attributes},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:messaging-send-requests",
    }


def _deliver(intake: ModuleType, *records: dict[str, Any]) -> list[str]:
    """The records handed to IntakeFunction: the ids it reported as batch item failures."""
    answer = intake.lambda_handler({"Records": list(records)}, LambdaContext())
    return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]


def _sent_ids(run: Async) -> list[str]:
    return [event["sendId"] for _, event in run.queue.launched if "segment" not in event]


def _assert_no_personal_data(announced: list[tuple[str, dict[str, Any]]]) -> None:
    for kind, detail in announced:
        assert set(detail) == (REFUSED_FIELDS if kind == "Send Refused" else DETAIL_FIELDS), kind
        for name, value in detail.items():
            text = json.dumps(value)
            assert not [p for p in PERSONAL if p in text], (kind, name, text)


def test_a_queued_request_is_accepted_then_completed_with_its_reference_and_readable_by_its_sender(
    run: Async, intake: ModuleType, events: Events, servers: Servers
) -> None:
    message = _record(GOOD)
    assert _deliver(intake, message) == []
    run.drain()
    (send_id,) = _sent_ids(run)
    announced = events.of(send_id)
    assert [kind for kind, _ in announced] == ["Send Accepted", "Send Completed"]
    assert {d["reference"] for _, d in announced} == {"order-2026-000123"}
    assert {d["correlationId"] for _, d in announced} == {"corr-1"}
    _assert_no_personal_data(announced)
    # Each user once: u1 and u2 by e-mail, u1 and u3 by SMS.
    assert sorted(e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails()) == [
        "ann@example.com",
        "bob@example.com",
    ]
    assert sorted(s["phone_number"] for s in servers.outbox.sms()) == ["+393330000001", "+393330000003"]
    # The sender's principal reads its status over HTTP (API Gateway's identity.user is SQS's SenderId).
    event = get_event(f"/sends/{send_id}")
    event["requestContext"]["identity"]["user"] = SENDER
    answer = run.send.lambda_handler(event, LambdaContext())
    status = json.loads(answer["body"])
    assert answer["statusCode"] == 200, status
    assert status["reference"] == "order-2026-000123"
    # The Completed event says what the status resource says.
    completed = announced[-1][1]
    assert (completed["status"], completed["audience"], completed["channels"]) == (
        status["status"],
        status["audience"],
        status["channels"],
    )
    # Anybody else: unknown, as for HTTP sends.
    code, _ = run.get(f"/sends/{send_id}")
    assert code == 404


def test_the_same_message_delivered_twice_sends_once(
    run: Async, intake: ModuleType, events: Events, servers: Servers
) -> None:
    message = _record(GOOD)
    assert _deliver(intake, message) == []
    assert _deliver(intake, message) == []  # SQS delivers it again (its visibility timed out)
    keyed = [_record(GOOD, key="order-7"), _record(GOOD, key="order-7")]  # two messages, one IdempotencyKey
    assert _deliver(intake, *keyed) == []
    run.drain()
    assert len(_sent_ids(run)) == 2
    assert len(servers.outbox.emails()) == 4  # two sends, each to Ann and Bob


def test_a_refused_request_is_announced_with_its_code_message_and_reference_and_not_retried(
    run: Async, intake: ModuleType, events: Events
) -> None:
    refused = _record({**GOOD, "channels": ["fax"], "reference": "order-9"})
    assert _deliver(intake, refused) == []  # deleted: a 4xx is not retried
    assert _deliver(intake, refused) == []
    assert _sent_ids(run) == []
    announced = [(e["detail-type"], e["detail"]) for e in events.read()]
    kinds = {kind for kind, _ in announced}
    assert kinds == {"Send Refused"}
    details = {json.dumps(detail, sort_keys=True) for _, detail in announced}
    assert len(details) == 1  # announced again, as the same event (its eventId)
    detail = announced[0][1]
    assert (detail["statusCode"], detail["reference"], detail["correlationId"]) == (400, "order-9", "corr-1")
    assert "channels" in detail["message"]
    assert "Your results" not in json.dumps(detail)  # never the body
    _assert_no_personal_data(announced)


def test_a_database_outage_is_a_batch_item_failure_and_the_redelivery_sends(
    run: Async, intake: ModuleType, events: Events, servers: Servers
) -> None:
    outage = _record({**GOOD, "recipients": None, "clusters": ["patients"]})
    intake.parts.store.down = True
    assert _deliver(intake, outage) == [outage["messageId"]]
    assert _sent_ids(run) == []
    assert events.read() == []
    intake.parts.store.down = False
    assert _deliver(intake, outage) == []
    run.drain()
    (send_id,) = _sent_ids(run)
    assert [kind for kind, _ in events.of(send_id)] == ["Send Accepted", "Send Completed"]


def test_a_partial_batch_reports_exactly_the_outage(run: Async, intake: ModuleType, events: Events) -> None:
    good, bad = _record(GOOD), _record({**GOOD, "messageContent": None})
    outage = _record({**GOOD, "recipients": None, "clusters": ["patients"]})
    intake.parts.store.down = True
    assert _deliver(intake, good, bad, outage) == [outage["messageId"]]
    assert len(_sent_ids(run)) == 1
    assert [e["detail-type"] for e in events.read()] == ["Send Accepted", "Send Refused"]


def test_the_local_poller_deletes_what_was_taken_and_leaves_the_outage_to_come_again(
    run: Async, intake: ModuleType, events: Events
) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"messaging-send-requests-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(GOOD))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({**GOOD, "recipients": None, "clusters": ["patients"]}))
    intake.parts.store.down = True
    poller = LocalIntake(sqs, url, lambda event: intake.lambda_handler(event, LambdaContext()), visibility_timeout_s=0)
    assert poller.poll_once() == (2, 1)
    intake.parts.store.down = False
    assert poller.poll_once() == (1, 0)
    assert poller.poll_once() == (0, 0)
    assert len(_sent_ids(run)) == 2


def test_http_sends_announce_their_transitions_sync_and_async(run: Async, events: Events) -> None:
    code, accepted = run.post({**GOOD, "reference": "async-1"})
    assert code == 202, accepted
    run.drain()
    async_events = events.of(accepted["sendId"])
    assert [kind for kind, _ in async_events] == ["Send Accepted", "Send Completed"]
    assert async_events[-1][1]["reference"] == "async-1"
    assert run.status(accepted["sendId"])["reference"] == "async-1"
    code, answer = run.api({**GOOD, "reference": "sync-1"})
    assert code == 200, answer
    send_id = run.api.last["multiValueHeaders"]["X-Send-Id"][0]
    sync_events = events.of(send_id)
    assert [kind for kind, _ in sync_events] == ["Send Accepted", "Send Completed"]
    assert sync_events[-1][1]["synchronous"] is True
    assert sync_events[-1][1]["channels"] == run.status(send_id)["channels"]
    assert len({detail["eventId"] for _, detail in async_events + sync_events}) == 4
    _assert_no_personal_data(async_events + sync_events)


def test_a_cancelled_scheduled_send_announces_scheduled_then_cancelled(run: Async, events: Events) -> None:
    send_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds")
    code, scheduled = run.api({**GOOD, "sendAt": send_at, "reference": "later-1"})
    assert code == 202, scheduled
    event = get_event(f"/sends/{scheduled['sendId']}")
    event["httpMethod"] = "DELETE"
    assert run.send.lambda_handler(event, LambdaContext())["statusCode"] == 200
    announced = events.of(scheduled["sendId"])
    assert [kind for kind, _ in announced] == ["Send Scheduled", "Send Cancelled"]
    assert announced[0][1]["sendAt"] is not None
    assert announced[1][1]["reference"] == "later-1"
    _assert_no_personal_data(announced)


def test_an_unreachable_bus_never_fails_a_send_and_what_was_given_up_is_counted(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A real EventBridge client, pointed where nothing listens: every PutEvents fails to connect.
    nowhere = boto3.client("events", endpoint_url="http://127.0.0.1:9", config=Config(retries={"max_attempts": 1}))
    for sends in (run.send.parts.sends, run.dispatch.sends):
        monkeypatch.setattr(sends.announcer, "_client", nowhere)
        monkeypatch.setattr(sends.announcer, "_sleep", lambda seconds: None)
    capsys.readouterr()
    code, accepted = run.post(GOOD)
    assert code == 202, accepted
    run.drain()
    assert run.status(accepted["sendId"])["status"] == "completed"
    assert len(servers.outbox.emails()) == 2
    sums = _metric_sums(capsys.readouterr().out)
    assert sums[("LifecycleEventsGivenUp", "")] == 2  # Send Accepted and Send Completed
