"""A provider call that sends a message is retried only when the message provably did not leave:
against a stand-in that counts what it receives, a read timeout sends once and ends `unknown`,
a throttling answer is retried, and a call never outlasts its time budget."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from messaging import aws
from messaging.channels import email, sms, voice
from messaging.channels.common import DeliveryReport
from messaging.models.response import FailureCode

READ_TIMEOUT_S = 0.5


class Provider:
    """Answers every POST after `delay_s` with `status` (and an AWS-style error body when not 200)."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.delay_s = 0.0
        self.status = 200
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with provider.lock:
                    provider.received.append(self.path)
                time.sleep(provider.delay_s)
                error = {"__type": "ThrottlingException", "Message": "Rate exceeded"}
                body = json.dumps({} if provider.status == 200 else error).encode()
                try:
                    self.send_response(provider.status)
                    self.send_header("Content-Type", "application/x-amz-json-1.0")
                    self.send_header("x-amzn-ErrorType", "ThrottlingException")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up waiting

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    standin = Provider()
    threading.Thread(target=standin.server.serve_forever, daemon=True).start()
    for name, value in {
        "AWS_ENDPOINT_URL": standin.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for service in ("SESV2", "SNS", "PINPOINT_SMS_VOICE_V2"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", standin.url)
    yield standin
    standin.server.shutdown()
    standin.server.server_close()


def _email(client: Any) -> DeliveryReport:
    batch = email.EmailBatch(
        sender="noreply@example.com",
        messages=[email.EmailMessage(userId="u1", to="ann@example.com", subject="Hi", text="Hello")],
    )
    return email.send_batch(batch, client, concurrency=1)


def _sns(client: Any) -> DeliveryReport:
    batch = sms.SmsBatch(messages=[sms.SmsMessage(userId="u1", phoneNumber="+393330000001", text="Hi")])
    return sms.send_batch(batch, client, concurrency=1)


def _text(client: Any) -> DeliveryReport:
    batch = sms.SmsBatch(sender="ACME", messages=[sms.SmsMessage(userId="u1", phoneNumber="+393330000001", text="Hi")])
    return sms.send_batch_eum(batch, client, sms.SmsSettings(concurrency=1))


def _voice(client: Any) -> DeliveryReport:
    batch = voice.VoiceBatch(
        sender="+15550001111", messages=[voice.VoiceMessage(userId="u1", phoneNumber="+393330000001", text="Hi")]
    )
    return voice.send_batch(batch, client, voice.VoiceSettings(concurrency=1))


SENDS: dict[str, tuple[str, Callable[[Any], DeliveryReport]]] = {
    "ses SendEmail": ("sesv2", _email),
    "sns Publish": ("sns", _sns),
    "eum SendTextMessage": ("pinpoint-sms-voice-v2", _text),
    "eum SendVoiceMessage": ("pinpoint-sms-voice-v2", _voice),
}


@pytest.mark.parametrize("name", SENDS)
def test_a_read_timeout_sends_once_and_ends_unknown(provider: Provider, name: str) -> None:
    service, send = SENDS[name]
    provider.delay_s = READ_TIMEOUT_S * 3  # answers after the client stopped waiting

    report = send(aws.client(service, read_timeout=READ_TIMEOUT_S))

    [failure] = report.failures
    assert (failure.userId, failure.code) == ("u1", FailureCode.UNKNOWN)
    assert failure.error.startswith("unknown: ReadTimeoutError")
    time.sleep(READ_TIMEOUT_S)  # a retry, had there been one, would have arrived by now
    assert len(provider.received) == 1


def test_a_throttled_send_is_retried_it_was_refused(provider: Provider) -> None:
    provider.status = 400
    report = _voice(aws.client("pinpoint-sms-voice-v2", read_timeout=READ_TIMEOUT_S))
    # The first attempt and botocore's 3 retries (Config max_attempts): the provider answered each.
    assert len(provider.received) == 4
    assert report.failures[0].code == "ThrottlingException"


def test_every_throttled_answer_is_counted_for_the_pace(provider: Provider) -> None:
    from messaging import throttles

    provider.status = 400
    throttles.take()
    _voice(aws.client("pinpoint-sms-voice-v2", read_timeout=READ_TIMEOUT_S))
    assert throttles.take() == len(provider.received) == 4  # botocore's retries included


def test_no_retry_starts_that_could_outlast_the_budget(provider: Provider) -> None:
    provider.status = 400
    provider.delay_s = 0.3
    # An attempt may take connect (5 s) + read (1 s): a 6.5 s budget holds one attempt only.
    report = _voice(aws.client("pinpoint-sms-voice-v2", read_timeout=1, send_budget_s=6.5))
    assert len(provider.received) == 1
    assert report.failures[0].code == "ThrottlingException"


def test_a_refused_connection_is_retried_and_is_not_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    closed = f"http://127.0.0.1:{server.server_address[1]}"
    server.server_close()  # nothing listens there any more: every attempt is refused
    monkeypatch.setenv("AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2", closed)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = aws.client("pinpoint-sms-voice-v2", read_timeout=READ_TIMEOUT_S)
    attempts: list[int] = []
    client.meta.events.register("before-send", lambda **_: attempts.append(1))

    [failure] = _voice(client).failures

    assert len(attempts) == 4
    assert failure.code == "EndpointConnectionError"
    assert not failure.error.startswith("unknown")


def test_only_a_call_that_never_connected_or_was_answered_provably_sent_nothing() -> None:
    assert not aws.may_have_sent(EndpointConnectionError(endpoint_url="http://x"))
    assert not aws.may_have_sent(ConnectTimeoutError(endpoint_url="http://x"))
    assert aws.may_have_sent(ReadTimeoutError(endpoint_url="http://x"))
    assert aws.may_have_sent(ConnectionClosedError(endpoint_url="http://x"))
    answered = {"Error": {"Code": "Throttling"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
    assert not aws.may_have_sent(ClientError(answered, "SendEmail"))
    gateway = {"Error": {"Code": "GatewayTimeout"}, "ResponseMetadata": {"HTTPStatusCode": 504}}
    assert aws.may_have_sent(ClientError(gateway, "SendEmail"))


def test_a_send_refused_before_its_request_was_built_is_failed_not_unknown() -> None:
    """botocore's own refusals (a parameter out of bounds, no credentials) leave before any byte
    does: the user's send failed; `unknown` would claim it may have gone out."""
    from botocore.exceptions import NoCredentialsError, ParamValidationError

    from messaging.aws import may_have_sent

    assert not may_have_sent(ParamValidationError(report="Invalid length for parameter MessageBody"))
    assert not may_have_sent(NoCredentialsError())


@pytest.mark.parametrize("name", ["ses SendEmail", "eum SendTextMessage", "eum SendVoiceMessage"])
def test_a_paced_batch_leaves_its_throttled_calls_to_the_dispatchers_pace(provider: Provider, name: str) -> None:
    """Retried here, a throttled call would go again outside the pace, at the moment the provider is
    refusing: a paced batch answers it throttled at once, and counts it, for the dispatcher to send
    again in a slot (messaging.sends.batches); an unpaced (synchronous) batch still retries."""
    from messaging.channels.handler import handle_batch

    service, send = SENDS[name]
    provider.status = 400
    client = aws.client(service, read_timeout=READ_TIMEOUT_S)
    users = [{"userId": "u1"}]
    batch = SimpleNamespace(
        channel="sms", correlationId=None, batchId=None, messages=users, paced=True, sendAt=None, sendBy=None
    )

    answer = handle_batch(batch, lambda: send(client))

    assert len(provider.received) == 1
    assert answer["throttled"] == 1
    assert [failure["code"] for failure in answer["failures"]] == ["ThrottlingException"]

    handle_batch(SimpleNamespace(**{**vars(batch), "paced": False}), lambda: send(client))
    assert len(provider.received) == 1 + 4


def test_a_paced_batch_waits_for_its_slot_and_one_that_comes_too_late_is_handed_back_unsent(provider: Provider) -> None:
    """The dispatcher invokes a paced batch ahead of its slot: the channel function holds its messages
    until the slot starts. A batch that arrives past `sendBy` (a stall, a cold start) would crowd the
    slots after it: nothing of it reaches the provider, and every user is answered `Late` for the
    dispatcher to pace again."""
    from messaging.channels.handler import handle_batch

    received_at: list[float] = []
    service, send = SENDS["eum SendTextMessage"]
    client = aws.client(service, read_timeout=READ_TIMEOUT_S)

    def sending() -> DeliveryReport:
        received_at.append(time.time())
        return send(client)

    users = [SimpleNamespace(userId="u1"), SimpleNamespace(userId="u2")]
    slot = time.time() + 0.15
    on_time = SimpleNamespace(
        channel="sms", correlationId=None, batchId=None, messages=users, paced=True, sendAt=slot, sendBy=slot + 0.1
    )
    answer = handle_batch(on_time, sending)
    assert answer["failures"] == []
    assert received_at[0] >= slot  # held until its slot, not sent as it arrived
    assert answer["slotLagMs"] < 0  # and says how early it came: the dispatcher's lead adapts to it
    assert len(provider.received) == 1  # the stand-in's sends: one message

    past = time.time() - 0.3
    late = SimpleNamespace(**{**vars(on_time), "sendAt": past, "sendBy": past + 0.1})
    answer = handle_batch(late, sending)

    assert len(received_at) == 1  # nothing more was sent
    assert len(provider.received) == 1
    assert [(f["userId"], f["code"]) for f in answer["failures"]] == [("u1", "Late"), ("u2", "Late")]
    assert all(f["error"].startswith("Late: arrived") for f in answer["failures"])
    assert answer["slotLagMs"] >= 300
