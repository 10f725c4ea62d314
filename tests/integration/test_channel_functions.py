"""Each channel function invoked with its sample event (events/), against moto, the FCM stand-in and
the End User Messaging stand-in; SmsFunction with either SMS provider."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.conftest import FCM_PROJECT, VOICE_SENDER, Servers
from tests.lambda_runtime import LambdaContext, load_function

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def test_email_function_sends_the_sample_event_through_ses(functions: dict[str, ModuleType], servers: Servers) -> None:
    servers.outbox.mark()
    result = functions["email"].lambda_handler(_event("email"), LambdaContext())
    assert result == {"failures": []}
    [sent] = servers.outbox.emails()
    assert sent["source"] == "noreply@example.com"
    assert sent["destinations"]["ToAddresses"] == ["ann@example.com"]
    assert (sent["subject"], sent["body"]) == ("Hello Ann", "Hello, Ann! Your appointment is dated 2026-12-01")


def test_sms_function_publishes_the_sample_event_through_sns(
    functions: dict[str, ModuleType], servers: Servers
) -> None:
    servers.outbox.mark()
    assert functions["sms"].lambda_handler(_event("sms"), LambdaContext()) == {"failures": []}
    [sent] = servers.outbox.sms()
    assert (sent["phone_number"], sent["message"]) == ("+393330000001", _event("sms")["messages"][0]["text"])


def test_push_function_sends_through_fcm_and_reports_unregistered_tokens(
    functions: dict[str, ModuleType], servers: Servers
) -> None:
    servers.fcm.clear()
    result = functions["push"].lambda_handler(_event("push"), LambdaContext())
    # SendFunction reads the code for its metrics; its own answer leaves it out.
    assert result == {
        "failures": [
            {
                "userId": "u3",
                "channel": "push",
                "error": "UNREGISTERED: Requested entity was not found.",
                "code": "UNREGISTERED",
            }
        ]
    }
    [received] = servers.fcm.messages
    assert received["project"] == FCM_PROJECT
    assert received["message"] == {
        "token": "tok-ann",
        "notification": {"title": "Hello Ann", "body": "Your appointment is dated 2026-12-01"},
        "data": {"appointmentId": "42"},
        "android": {"notification": {"click_action": "com.example.OPEN"}},
    }


def test_push_retries_what_fcm_asks_to_retry_and_then_reports_it(
    functions: dict[str, ModuleType], servers: Servers
) -> None:
    servers.fcm.clear()
    servers.fcm.attempts.clear()
    event = {
        "channel": "push",
        "messages": [
            {"userId": "u1", "token": "flaky-2", "title": "t", "body": "b"},
            {"userId": "u2", "token": "throttled", "title": "t", "body": "b"},
        ],
    }

    result = functions["push"].lambda_handler(event, LambdaContext())

    assert result == {
        "failures": [
            {"userId": "u2", "channel": "push", "error": "QUOTA_EXCEEDED: Try again later.", "code": "QUOTA_EXCEEDED"}
        ],
        "throttled": 3,  # every 429 FCM answered, for the dispatcher's pace (the 5xx of flaky-2 are not)
    }
    assert servers.fcm.attempts == {"flaky-2": 3, "throttled": 3}
    assert [m["message"]["token"] for m in servers.fcm.messages] == ["flaky-2"]


def test_push_refreshes_a_token_fcm_no_longer_accepts_and_delivers(
    functions: dict[str, ModuleType], servers: Servers
) -> None:
    servers.fcm.clear()
    client = functions["push"].client
    client.authorize()
    client._credentials.token = "revoked-by-google"  # still unexpired as far as google-auth knows
    event = {"channel": "push", "messages": [{"userId": "u1", "token": "tok-ann", "title": "t", "body": "b"}]}

    result = functions["push"].lambda_handler(event, LambdaContext())

    assert result == {"failures": []}
    assert [m["message"]["token"] for m in servers.fcm.messages] == ["tok-ann"]


def _load_sms_function(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    """SmsFunction in a cold start of its own, with these variables (as another deployment)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_function("sms", variant=f"_{uuid.uuid4().hex}")


def test_voice_function_speaks_the_sample_event_through_end_user_messaging(
    functions: dict[str, ModuleType], servers: Servers
) -> None:
    servers.eum.clear()
    assert functions["voice"].lambda_handler(_event("voice"), LambdaContext()) == {"failures": []}
    [call] = servers.eum.messages
    message = _event("voice")["messages"][0]
    assert call["operation"] == "SendVoiceMessage"
    assert (call["DestinationPhoneNumber"], call["MessageBody"]) == (message["phoneNumber"], message["text"])
    assert (call["OriginationIdentity"], call["MessageBodyTextType"]) == (VOICE_SENDER, "TEXT")
    assert call["Context"] == {"userId": "u1"}


def test_voice_errors_are_each_users_failure_with_its_code(functions: dict[str, ModuleType], servers: Servers) -> None:
    servers.eum.clear()
    event = {
        "channel": "voice",
        "sender": VOICE_SENDER,
        "correlationId": "req-1",
        "sendId": "send-1",
        "batchId": uuid.uuid4().hex,
        "messages": [
            {"userId": "ok", "phoneNumber": "+393330000011", "text": "Hi"},
            {"userId": "invalid", "phoneNumber": "+393330000000", "text": "Hi"},
            {"userId": "opted-out", "phoneNumber": "+393339999999", "text": "Hi"},
            {"userId": "not-e164", "phoneNumber": "0039 333", "text": "Hi"},
        ],
    }

    result = functions["voice"].lambda_handler(event, LambdaContext())

    assert {f["userId"]: (f["code"], f["error"]) for f in result["failures"]} == {
        "invalid": (
            "ValidationException.INVALID_PARAMETER",
            "ValidationException: Invalid destination phone number (INVALID_PARAMETER)",
        ),
        "opted-out": ("OptedOut", "OptedOut: ConflictException: The destination phone number is opted out"),
        "not-e164": ("InvalidParameter", "InvalidParameter: phone number is not in E.164 format"),
    }
    [sent] = servers.eum.messages
    # The send, not the request's correlation id: delivery events find GET /sends/{sendId} by it.
    assert sent["Context"] == {"userId": "ok", "sendId": "send-1", "batchId": event["batchId"]}


def test_sms_provider_end_user_messaging_sends_text_messages_with_identity_set_and_context(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    servers.outbox.mark()
    servers.eum.clear()
    eum_sms = _load_sms_function(
        monkeypatch, SMS_PROVIDER="end-user-messaging", SMS_CONFIGURATION_SET="messaging-events"
    )
    boto3.client("pinpoint-sms-voice-v2").put_opted_out_number(OptOutListName="Default", OptedOutNumber="+393330000077")
    event = {
        **_event("sms"),
        "correlationId": "req-2",
        "sendId": "send-2",
        "messages": [
            *_event("sms")["messages"],
            {"userId": "u7", "phoneNumber": "+393330000077", "text": "Stop it"},
        ],
    }

    result = eum_sms.lambda_handler(event, LambdaContext())

    assert result == {
        "failures": [
            {
                "userId": "u7",
                "channel": "sms",
                "error": "OptedOut: ConflictException: The destination phone number is opted out",
                "code": "OptedOut",
            }
        ]
    }
    [sent] = servers.eum.messages
    assert sent == {
        "operation": "SendTextMessage",
        "messageId": sent["messageId"],
        "DestinationPhoneNumber": "+393330000001",
        "MessageBody": _event("sms")["messages"][0]["text"],
        "OriginationIdentity": "ACME",  # the batch's sender: no SMS_ORIGINATION_IDENTITY
        "ConfigurationSetName": "messaging-events",
        "MessageType": "TRANSACTIONAL",
        "Context": {"userId": "u1", "sendId": "send-2"},
    }
    assert servers.outbox.sms() == []  # nothing through SNS


def test_sms_provider_defaults_to_sns(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    servers.outbox.mark()
    servers.eum.clear()
    monkeypatch.delenv("SMS_PROVIDER", raising=False)
    sns_sms = _load_sms_function(monkeypatch, SMS_PROVIDER="sns")

    assert sns_sms.lambda_handler(_event("sms"), LambdaContext()) == {"failures": []}
    assert [s["phone_number"] for s in servers.outbox.sms()] == ["+393330000001"]
    assert servers.eum.messages == []
