"""`make start`'s queues in moto: the intake queue (`messaging-send-requests`), polled and handed to
IntakeFunction on `sam local start-lambda` as its event source mapping would (local/intake.py), and
a queue receiving every lifecycle event the functions put on moto's default bus
(`messaging-send-events`, local/events_queue.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from local.events_queue import events_to_queue
from local.intake import LocalIntake

REQUESTS_QUEUE = "messaging-send-requests"
EVENTS_QUEUE = "messaging-send-events"
INTAKE_FUNCTION = "IntakeFunction"
EVENT_SOURCE = "messaging"


def _client(service: str, endpoint: str, **config: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(**config) if config else None,
    )


def start_queues(
    moto_endpoint: str, lambda_endpoint: str, stop: threading.Event, log: Callable[[str], None]
) -> tuple[str, str]:
    """Both queues made and the intake polled in a thread until `stop`: (intake URL, events URL)."""
    sqs = _client("sqs", moto_endpoint)
    requests_url: str = sqs.create_queue(QueueName=REQUESTS_QUEUE, Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    events_url = events_to_queue(_client("events", moto_endpoint), sqs, EVENTS_QUEUE, EVENT_SOURCE)
    lambdas = _client("lambda", lambda_endpoint, read_timeout=120, retries={"max_attempts": 1})

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        answer = lambdas.invoke(FunctionName=INTAKE_FUNCTION, Payload=json.dumps(event).encode())
        payload: dict[str, Any] = json.loads(answer["Payload"].read() or b"{}")
        if answer.get("FunctionError"):
            # As Lambda: a failed invocation deletes nothing, the whole batch comes again.
            raise RuntimeError(f"{INTAKE_FUNCTION} failed: {str(payload)[:300]}")
        log(f"intake: {len(event['Records'])} message(s), {len(payload.get('batchItemFailures', []))} failed")
        return payload

    poller = LocalIntake(sqs, requests_url, invoke, visibility_timeout_s=60)
    thread = threading.Thread(
        target=poller.run, args=(stop,), kwargs={"on_error": lambda exc: log(f"intake poller: {exc}")}, daemon=True
    )
    thread.start()
    return requests_url, events_url
