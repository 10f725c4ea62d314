"""Each channel function invoked with its sample event (events/), against moto and the FCM stand-in."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.conftest import FCM_PROJECT, Servers
from tests.lambda_runtime import LambdaContext

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
        ]
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
