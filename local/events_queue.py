"""A queue receiving every lifecycle event, as EventBridge delivers a rule's matches to an SQS
target: moto's EventBridge does, so `make start` and the tests read the events a send announces
from it."""

from __future__ import annotations

import json
from typing import Any


def events_to_queue(events: Any, sqs: Any, queue_name: str, source: str, bus: str = "default") -> str:
    """The queue (created, and every event of `source` on `bus` routed to it): its URL."""
    url: str = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=queue_name, EventBusName=bus, EventPattern=json.dumps({"source": [source]}), State="ENABLED")
    events.put_targets(Rule=queue_name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    return url


def received(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every event waiting on the queue (each deleted once read), in the order received."""
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
