"""Queue in, events out through `make start`'s chain: a /send body put on the intake queue in moto
is polled and handed to IntakeFunction on start-lambda, DispatchFunction sends, and the send's
lifecycle events arrive on the events queue (moto's EventBridge delivers the rule's matches)."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from local.events_queue import received
from local.queues import EVENTS_QUEUE, REQUESTS_QUEUE
from tests.e2e.conftest import PORTS, Stack

WAIT_S = 180


def _sqs() -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=f"http://127.0.0.1:{PORTS['moto']}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_a_queued_request_is_delivered_and_its_send_completed_event_arrives(e2e: Stack) -> None:
    sqs = _sqs()
    requests_url = sqs.get_queue_url(QueueName=REQUESTS_QUEUE)["QueueUrl"]
    events_url = sqs.get_queue_url(QueueName=EVENTS_QUEUE)["QueueUrl"]
    received(sqs, events_url)  # earlier tests' events
    body = {
        "channels": ["email"],
        "recipients": ["alice", "bob"],
        "messageTitle": "Queued",
        "messageContent": "Hello {{user.name}}",
        "reference": "e2e-queued-1",
    }
    sqs.send_message(
        QueueUrl=requests_url,
        MessageBody=json.dumps(body),
        MessageAttributes={"CorrelationId": {"DataType": "String", "StringValue": "e2e-corr-1"}},
    )
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and "Send Completed" not in [e["detail-type"] for e in events]:
        events += [e for e in received(sqs, events_url) if e["detail"].get("reference") == "e2e-queued-1"]
        time.sleep(1)
    assert [e["detail-type"] for e in events] == ["Send Accepted", "Send Completed"], events
    completed = events[-1]["detail"]
    assert completed["correlationId"] == "e2e-corr-1"
    assert completed["channels"]["email"]["sent"] == 2
    recipients = sorted(email["destinations"]["ToAddresses"][0] for email in e2e.outbox.emails())
    assert recipients == ["alice@example.com", "bob@example.com"]
    assert (
        sqs.get_queue_attributes(QueueUrl=requests_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
        == "0"
    )
