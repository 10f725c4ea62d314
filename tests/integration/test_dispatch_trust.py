"""What SendFunction may claim about a batch: bounded rendering, an answer by the deadline, no
message sent twice by a repeated invoke, and only the batch's own users in a channel's answer."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.config import Config

from messaging.channels.once import duplicate_reason
from messaging.dispatch import ChannelInvokeError, LambdaInvoker
from messaging.validation import InvalidPayloadError
from tests.conftest import FUNCTION_NAMES, IDEMPOTENCY_TABLE, ApiCall, Servers
from tests.lambda_runtime import InProcessInvoker, LambdaContext

EVERYONE = {
    "channels": ["email", "sms", "push"],
    "clusters": ["patients", "doctors"],
    "messageTitle": "t",
    "messageContent": "c",
}


def _settings(functions: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch, **update: Any) -> None:
    send = functions["send"]
    monkeypatch.setattr(send.parts, "settings", send.parts.settings.model_copy(update=update))


def _nothing_sent(servers: Servers, invoker: InProcessInvoker) -> None:
    assert invoker.payloads == []
    assert (servers.outbox.emails(), servers.outbox.sms(), servers.fcm.messages) == ([], [], [])


# Item 2: the rendered bytes of a request are bounded while they stream in.


def test_a_request_over_the_render_budget_is_a_400_and_nothing_is_sent(
    api: ApiCall,
    servers: Servers,
    functions: dict[str, ModuleType],
    invoker: InProcessInvoker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _settings(functions, monkeypatch, render_budget_bytes=5_000)

    status, body = api({**EVERYONE, "messageContent": "x" * 1_500})

    assert (status, body["error"]) == (400, "Bad Request")
    assert body["message"].startswith("the rendered messages exceed RENDER_BUDGET_BYTES (5000 bytes): ")
    assert body["message"].endswith("nothing was sent")
    _nothing_sent(servers, invoker)
    # The same request within the budget goes out.
    _settings(functions, monkeypatch, render_budget_bytes=50_000)
    assert api({**EVERYONE, "messageContent": "x" * 1_500})[0] == 200


# Item 8: the answer arrives by the deadline, whatever is still running.


@pytest.fixture
def hanging_push(invoker: InProcessInvoker) -> Iterator[threading.Event]:
    """The push function hangs until released (after the test)."""
    release = threading.Event()

    def hanging(event: dict[str, Any], context: Any) -> dict[str, Any]:
        release.wait(30)
        return {"failures": []}

    invoker.handlers[FUNCTION_NAMES["push"]] = hanging
    yield release
    release.set()


def test_users_of_a_batch_still_running_at_the_deadline_are_unknown_and_the_rest_is_sent(
    api: ApiCall,
    servers: Servers,
    functions: dict[str, ModuleType],
    hanging_push: threading.Event,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 2 s left: batches launch until 1 s is left, the answer is built when 0.5 s is.
    _settings(functions, monkeypatch, deadline_margin_s=1.0, answer_reserve_s=0.5)

    status, body = api(EVERYONE, remaining_ms=2_000)

    assert not hanging_push.is_set()  # answered while the push batch still runs
    assert status == 200
    still_running = "unknown: deadline (the push batch was still running)"
    assert sorted((f["userId"], f["channel"], f["error"]) for f in body["failures"]) == [
        ("u1", "push", still_running),
        ("u3", "push", still_running),
    ]
    assert sorted(e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails()) == [
        "ann@example.com",
        "bob@example.com",
    ]
    assert sorted(s["phone_number"] for s in servers.outbox.sms()) == ["+393330000001", "+393330000003"]


def test_rendering_past_the_deadline_is_a_503_and_nothing_is_sent(
    api: ApiCall, servers: Servers, invoker: InProcessInvoker, db: Any
) -> None:
    db.users.insert_many(
        [{"_id": f"r{i:04d}", "emailAddress": f"r{i}@example.com", "clusters": ["crowd"]} for i in range(300)]
    )

    # 1 s left, under the 5 s launch margin: no batch could go, so rendering stops.
    status, body = api(
        {"channels": ["email"], "clusters": ["crowd"], "messageTitle": "t", "messageContent": "c"}, remaining_ms=1_000
    )

    assert (status, body["error"]) == (503, "Service Unavailable")
    assert body["message"].startswith("rendering did not finish before the deadline")
    assert body["message"].endswith("nothing was sent")
    _nothing_sent(servers, invoker)


# Item 7: a repeated invoke never sends a batch again.


class _DroppingLambda(ThreadingHTTPServer):
    """Poses as the Lambda API: runs the real channel function on each invoke it reads, then drops
    the connection without answering, as a network failure after the request left would."""

    daemon_threads = True

    def __init__(self, handler: Any) -> None:
        self.function = handler
        self.requests = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _DroppingHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _DroppingHandler(BaseHTTPRequestHandler):
    server: _DroppingLambda

    def do_POST(self) -> None:
        payload = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.requests += 1
        self.server.function(json.loads(payload), LambdaContext())
        self.close_connection = True  # no status line: the client sees the connection dropped

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def dropping_lambda(functions: dict[str, ModuleType]) -> Iterator[_DroppingLambda]:
    server = _DroppingLambda(functions["sms"].lambda_handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


SMS_TO_PATIENTS_AND_DOCTORS = {
    "channels": ["sms"],
    "clusters": ["patients", "doctors"],
    "messageTitle": "t",
    "messageContent": "c",
}


def test_a_connection_dropped_after_the_invoke_left_is_not_retried_and_reported_unknown(
    api: ApiCall,
    servers: Servers,
    functions: dict[str, ModuleType],
    dropping_lambda: _DroppingLambda,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SendFunction's own client, pointed at the loopback endpoint.
    monkeypatch.setattr(
        functions["send"].parts, "invoker", LambdaInvoker.connect(read_timeout=5, endpoint_url=dropping_lambda.url)
    )

    status, body = api(SMS_TO_PATIENTS_AND_DOCTORS)

    assert status == 200
    assert dropping_lambda.requests == 1
    assert sorted(s["phone_number"] for s in servers.outbox.sms()) == ["+393330000001", "+393330000003"]
    assert sorted(f["userId"] for f in body["failures"]) == ["u1", "u3"]
    for failure in body["failures"]:
        assert failure["error"].startswith("unknown: sms batch outcome unknown (ConnectionClosedError: ")


def test_even_a_retrying_client_delivers_a_batch_once(
    api: ApiCall,
    servers: Servers,
    functions: dict[str, ModuleType],
    dropping_lambda: _DroppingLambda,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # botocore's standard retry, as SendFunction used to have: the channel function's batchId record
    # keeps the repeats from sending.
    retrying = boto3.client(
        "lambda",
        endpoint_url=dropping_lambda.url,
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}, read_timeout=5),
    )
    monkeypatch.setattr(functions["send"].parts, "invoker", LambdaInvoker(retrying))

    status, body = api(SMS_TO_PATIENTS_AND_DOCTORS)

    assert status == 200
    assert dropping_lambda.requests == 3
    assert sorted(s["phone_number"] for s in servers.outbox.sms()) == ["+393330000001", "+393330000003"]
    assert sorted(f["userId"] for f in body["failures"]) == ["u1", "u3"]


def _sms_batch(batch_id: str) -> dict[str, Any]:
    return {
        "channel": "sms",
        "sender": "ACME",
        "batchId": batch_id,
        "messages": [
            {"userId": "u1", "phoneNumber": "+393330000001", "text": "hi"},
            {"userId": "u2", "phoneNumber": "3330000002", "text": "hi"},  # not E.164: a failure to keep
        ],
    }


def test_the_same_batch_invoked_twice_is_delivered_once_and_answered_alike(
    functions: dict[str, ModuleType], servers: Servers
) -> None:
    servers.outbox.mark()
    event = _sms_batch(uuid.uuid4().hex)

    first = functions["sms"].lambda_handler(event, LambdaContext())
    again = functions["sms"].lambda_handler(event, LambdaContext())

    assert (
        first
        == again
        == {
            "failures": [
                {
                    "userId": "u2",
                    "channel": "sms",
                    "error": "InvalidParameter: phone number is not in E.164 format",
                    "code": "InvalidParameter",
                }
            ]
        }
    )
    assert [s["phone_number"] for s in servers.outbox.sms()] == ["+393330000001"]
    # Another batch with the same messages is another batch.
    functions["sms"].lambda_handler(_sms_batch(uuid.uuid4().hex), LambdaContext())
    assert len(servers.outbox.sms()) == 2


def test_a_repeat_of_a_batch_in_progress_or_lost_sends_nothing_and_answers_unknown(
    functions: dict[str, ModuleType], servers: Servers
) -> None:
    servers.outbox.mark()
    batch_id = uuid.uuid4().hex
    # A first attempt that recorded the batch and never finished (still running, or timed out).
    boto3.client("dynamodb").put_item(
        TableName=IDEMPOTENCY_TABLE,
        Item={"id": {"S": f"batch#{batch_id}"}, "status": {"S": "IN_PROGRESS"}, "expiration": {"N": "9999999999"}},
    )

    answer = functions["sms"].lambda_handler(_sms_batch(batch_id), LambdaContext())

    assert answer == {
        "failures": [
            {"userId": "u1", "channel": "sms", "error": duplicate_reason(batch_id), "code": "Unknown"},
            {"userId": "u2", "channel": "sms", "error": duplicate_reason(batch_id), "code": "Unknown"},
        ]
    }
    assert duplicate_reason(batch_id).startswith(f"unknown: duplicate invoke of batch {batch_id} ")
    assert servers.outbox.sms() == []


def test_an_invalid_batch_is_refused_before_sending_and_reported_failed(
    functions: dict[str, ModuleType], invoker: InProcessInvoker, servers: Servers
) -> None:
    servers.outbox.mark()
    event = {**_sms_batch(uuid.uuid4().hex), "messages": [{"userId": "u1", "text": "no number"}]}
    with pytest.raises(InvalidPayloadError, match=r"^invalid SmsBatch: messages\[0\]\.phoneNumber: Field required$"):
        functions["sms"].lambda_handler(event, LambdaContext())
    # Through an invoke, the refusal reads as "not sent": failed, not unknown.
    with pytest.raises(ChannelInvokeError, match=r"^InvalidPayloadError: invalid SmsBatch: ") as caught:
        invoker(FUNCTION_NAMES["sms"], json.dumps(event).encode())
    assert type(caught.value) is ChannelInvokeError
    assert servers.outbox.sms() == []
