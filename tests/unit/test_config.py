"""The service configuration and settings: valid ones load, invalid ones stop the function naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from messaging.errors import ConfigurationError
from messaging.models.channel_settings import PushSettings
from messaging.models.function_settings import SendSettings
from messaging.models.settings import ChannelSettings

BASE_ENV = {
    "MONGODB_URI": "mongodb://db",
    "EMAIL_FUNCTION_NAME": "e",
    "SMS_FUNCTION_NAME": "s",
    "PUSH_FUNCTION_NAME": "p",
}


def settings(config: Any, **env: str) -> SendSettings:
    return SendSettings.from_environ({**BASE_ENV, "SERVICE_CONFIG": json.dumps(config), **env})


def test_the_specs_example_configuration_loads_with_defaults_filled() -> None:
    loaded = settings(
        {
            "userFields": {"id": "fiscalCode", "emailAddress": "mail", "clusters": "groups"},
            "activeChannels": ["email", "sms", "push"],
            "sender": {"email": "noreply@example.com", "sms": "ACME"},
            "androidIntentAction": "com.example.OPEN",
        },
        BATCH_MAX_MESSAGES="50",
        MONGODB_DATABASE="",
    )
    assert loaded.service.userFields.id == "fiscalCode"
    assert loaded.service.userFields.address("phoneNumber") == "phoneNumber"
    assert (loaded.batch_max_messages, loaded.mongodb_database) == (50, "messaging")
    assert loaded.function_name("sms") == "s"


@pytest.mark.parametrize(
    ("config", "env", "message"),
    [
        ({"activeChannels": ["email"]}, {}, "SERVICE_CONFIG: sender.email is required when email is active"),
        ({"activeChannels": ["sms"], "sender": {"sms": "+12"}}, {}, "SERVICE_CONFIG.sender.sms: Value error, must be"),
        ({"activeChannels": ["sms"], "sender": {"sms": "A VERY LONG NAME"}}, {}, "SERVICE_CONFIG.sender.sms"),
        ({"activeChannels": ["email"], "sender": {"email": "nope"}}, {}, "SERVICE_CONFIG.sender.email"),
        ({"activeChannels": []}, {}, "SERVICE_CONFIG.activeChannels: List should have at least 1 item"),
        ({"activeChannels": ["fax"]}, {}, "SERVICE_CONFIG.activeChannels[0]"),
        ({"activeChannels": ["push", "push"]}, {}, "SERVICE_CONFIG.activeChannels: Value error, must not repeat"),
        ({"activeChannels": ["push"], "userFields": {"id": "$where"}}, {}, "SERVICE_CONFIG.userFields.id"),
        ({"activeChannels": ["push"], "userfields": {}}, {}, "SERVICE_CONFIG.userfields: Extra inputs"),
        ({"activeChannels": ["push"]}, {"PUSH_FUNCTION_NAME": ""}, "PUSH_FUNCTION_NAME is required when push"),
        ({"activeChannels": ["push"]}, {"MONGODB_URI": ""}, "MONGODB_URI or MONGODB_URI_SECRET_ID is required"),
        (
            {"activeChannels": ["push"]},
            {"BATCH_MAX_MESSAGES": "many"},
            "invalid configuration: BATCH_MAX_MESSAGES: Input",
        ),
        ({"activeChannels": ["push"]}, {"BATCH_MAX_BYTES": "7000000"}, ": BATCH_MAX_BYTES: Input should be less"),
        ({"activeChannels": ["push"]}, {"RENDER_BUDGET_BYTES": "10"}, ": RENDER_BUDGET_BYTES: Input should be greater"),
        (
            {"activeChannels": ["push"]},
            {"ANSWER_RESERVE_S": "6", "DEADLINE_MARGIN_S": "5"},
            "ANSWER_RESERVE_S must not exceed DEADLINE_MARGIN_S",
        ),
        (["push"], {}, "SERVICE_CONFIG must be a JSON object"),
    ],
)
def test_invalid_configuration_names_the_field(config: Any, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        settings(config, **env)
    assert message in str(raised.value)


@pytest.mark.parametrize(("raw", "message"), [("", "SERVICE_CONFIG is required"), ("{oops", "not valid JSON")])
def test_missing_or_unparsable_configuration(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SendSettings.from_environ({**BASE_ENV, "SERVICE_CONFIG": raw})


def test_channel_and_push_settings() -> None:
    assert ChannelSettings.from_environ({"CHANNEL_CONCURRENCY": "4"}).concurrency == 4
    with pytest.raises(ConfigurationError, match="invalid configuration: FCM_PROJECT_ID: Field required"):
        PushSettings.from_environ({"FCM_CREDENTIALS_SECRET_ID": "s"})
    push = PushSettings.from_environ({"FCM_PROJECT_ID": "p", "FCM_CREDENTIALS_SECRET_ID": "s", "FCM_ENDPOINT": ""})
    assert push.fcm_endpoint == "https://fcm.googleapis.com"


def test_the_configured_sender_is_idna_encoded_and_a_non_ascii_local_part_stops_the_function() -> None:
    config = {"activeChannels": ["email"], "sender": {"email": "noreply@bücher.de"}}
    assert settings(config).service.sender_of("email") == "noreply@xn--bcher-kva.de"

    with pytest.raises(ConfigurationError) as error:
        settings({**config, "sender": {"email": "jürgen@example.com"}})
    assert str(error.value) == (
        "invalid configuration: SERVICE_CONFIG.sender.email: value is not a valid email address: "
        "it cannot be sent as 7-bit (non-ASCII local part)"
    )


def test_deadline_and_budget_settings() -> None:
    defaults = settings({"activeChannels": ["push"]})
    # An invoke's read timeout ends inside SendFunction's 29 s; the budget fits a 512 MB function.
    assert (defaults.invoke_timeout_s, defaults.render_budget_bytes) == (27, 128 * 1024 * 1024)
    assert defaults.answer_reserve_s <= defaults.deadline_margin_s
    tuned = settings({"activeChannels": ["push"]}, RENDER_BUDGET_BYTES="1000000", ANSWER_RESERVE_S="2")
    assert (tuned.render_budget_bytes, tuned.answer_reserve_s) == (1_000_000, 2.0)
    assert ChannelSettings.from_environ({"IDEMPOTENCY_TABLE": "t"}).idempotency_table == "t"
    assert ChannelSettings.from_environ({"IDEMPOTENCY_TABLE": ""}).idempotency_table is None


def test_failures_are_counted_by_their_code_never_by_their_text(capsys: pytest.CaptureFixture[str]) -> None:
    from messaging.models.response import Failure, FailureCode, SendResponse
    from messaging.observability import record_failures

    failures = [
        # The text of one kind, the code of another: the code wins.
        Failure(userId="u1", channel="sms", error="user not found", code=FailureCode.UNKNOWN),
        Failure(userId="u2", channel="sms", error="sms function failed: x", code=FailureCode.FUNCTION_FAILED),
        Failure(userId="u3", channel="voice", error="OptedOut: the number opted out", code="OptedOut"),
    ]
    capsys.readouterr()
    record_failures(failures, ["sms", "voice"])
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    by_reason = {(b["channel"], b["reason"]): b["MessagesFailedByReason"] for b in blobs if "reason" in b}
    assert by_reason == {("sms", "Unknown"): [1], ("sms", "ChannelFunctionFailed"): [1], ("voice", "OptedOut"): [1]}
    # The answer never carries the code.
    assert SendResponse(failures=failures).model_dump(mode="json")["failures"][2] == {
        "userId": "u3",
        "channel": "voice",
        "error": "OptedOut: the number opted out",
    }
