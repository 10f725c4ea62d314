"""The local stand-in of the intake queue's event source mapping: sam local polls no queue. This
receives the intake queue's messages from moto, invokes IntakeFunction with the SQS-shaped event
Lambda would give it, and deletes every message it did not report as a batch item failure (those
are received again once their visibility timeout ends, as with `ReportBatchItemFailures`).

`make start` runs it in a thread, invoking IntakeFunction on `sam local start-lambda`; the
integration tests call `poll_once` with the in-process function.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

# the SQS event -> the function's answer ({"batchItemFailures": [{"itemIdentifier": ...}]})
Invoke = Callable[[dict[str, Any]], dict[str, Any]]
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:{name}"


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A received message as Lambda's SQS event source hands it to a function."""
    attributes = {
        name: {"stringValue": value.get("StringValue"), "dataType": value.get("DataType", "String")}
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": message.get("Attributes") or {},
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }


class LocalIntake:
    def __init__(self, client: Any, queue_url: str, invoke: Invoke, visibility_timeout_s: int = 30) -> None:
        self._client = client
        self._url = queue_url
        self._arn = QUEUE_ARN.format(name=queue_url.rstrip("/").rsplit("/", 1)[-1])
        self._invoke = invoke
        self._visibility_s = visibility_timeout_s

    def poll_once(self, wait_s: int = 0) -> tuple[int, int]:
        """One batch (up to 10) handed to the function: (messages received, reported failed)."""
        messages = self._client.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_s,
            VisibilityTimeout=self._visibility_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0, 0
        answer = self._invoke({"Records": [sqs_record(message, self._arn) for message in messages]}) or {}
        failed = {str(item.get("itemIdentifier")) for item in answer.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
            ]
            self._client.delete_message_batch(QueueUrl=self._url, Entries=entries)
        return len(messages), len(failed)

    def run(self, stop: threading.Event, on_error: Callable[[Exception], None] = print) -> None:
        """Polls until `stop` is set (an error is reported, not fatal: the messages come again)."""
        while not stop.is_set():
            try:
                self.poll_once(wait_s=1)
            except Exception as exc:  # noqa: BLE001 - moto or start-lambda busy: the next round tries again
                on_error(exc)
                stop.wait(1)
