"""POST /send through SendFunction's handler: real SecantusDB, SES/SNS on moto, FCM stand-in,
channel functions invoked with JSON payloads as Lambda would."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from tests.conftest import (
    APPOINTMENT_TEMPLATE,
    BROKEN_TEMPLATE,
    EVE_ID,
    SMS_ONLY_TEMPLATE,
    ApiCall,
    Servers,
)
from tests.lambda_runtime import InProcessInvoker

HELLO = "Hello, {{user.name}}! Your appointment is dated {{data.appointmentDate}}"


def _by_recipient(emails: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {email["destinations"]["ToAddresses"][0]: email for email in emails}


def test_recipients_and_clusters_get_one_message_per_channel(
    api: ApiCall, servers: Servers, invoker: InProcessInvoker
) -> None:
    status, body = api(
        {
            "channels": ["email", "sms", "push"],
            "recipients": ["u1", EVE_ID],
            "clusters": ["patients"],
            "messageTitle": "For {{user.name}}",
            "messageContent": HELLO,
            "data": {"appointmentDate": "2026-12-01"},
        }
    )

    assert (status, body) == (200, {"failures": []})
    emails = _by_recipient(servers.outbox.emails())
    # u1 is listed and in "patients": one e-mail; Dora (u4) has no address and is skipped silently.
    assert sorted(emails) == ["ann@example.com", "bob@example.com", "eve@example.com"]
    assert emails["bob@example.com"]["subject"] == "For Bob"
    assert emails["bob@example.com"]["body"] == "Hello, Bob! Your appointment is dated 2026-12-01"
    assert emails["eve@example.com"]["source"] == "noreply@example.com"
    assert [(sms["phone_number"], sms["message"]) for sms in servers.outbox.sms()] == [
        ("+393330000001", "Hello, Ann! Your appointment is dated 2026-12-01")
    ]
    [push] = servers.fcm.messages
    assert push["message"]["notification"] == {
        "title": "For Ann",
        "body": "Hello, Ann! Your appointment is dated 2026-12-01",
    }
    assert {payload["channel"]: payload.get("sender") for payload in invoker.payloads} == {
        "email": "noreply@example.com",
        "sms": "ACME",
        "push": None,
    }


def test_unknown_recipient_is_a_failure_on_each_requested_channel(api: ApiCall, servers: Servers) -> None:
    status, body = api(
        {"channels": ["email", "sms"], "recipients": ["u2", "ghost"], "messageTitle": "t", "messageContent": "c"}
    )

    assert status == 200
    assert body["failures"] == [
        {"userId": "ghost", "channel": "email", "error": "user not found"},
        {"userId": "ghost", "channel": "sms", "error": "user not found"},
    ]
    assert [email["destinations"]["ToAddresses"] for email in servers.outbox.emails()] == [["bob@example.com"]]
    assert servers.outbox.sms() == []  # Bob has no phone number: skipped, not a failure


def test_template_is_rendered_per_user_and_channel(api: ApiCall, servers: Servers) -> None:
    status, body = api(
        {
            "channels": ["email", "sms", "push"],
            "recipients": ["u1"],
            "templateId": APPOINTMENT_TEMPLATE,
            "messageTitle": "ignored with a template",
            "data": {"appointmentDate": "2026-07-01T08:30:00Z", "note": "Bring <b>both</b>\nforms", "id": "A-7"},
        }
    )

    assert (status, body) == (200, {"failures": []})
    [email] = servers.outbox.emails()
    assert email["subject"] == "Appointment for Ann"
    # Summer time in Rome; values escaped in HTML and their newlines turned into <br/>.
    assert email["body"] == (
        "<p>Hello, Ann! Your appointment is dated 01/07/2026 10:30</p><p>Bring &lt;b&gt;both&lt;/b&gt;<br/>forms</p>"
    )
    [sms] = servers.outbox.sms()
    assert sms["message"] == "Ann, appointment 01/07 10:30"
    [push] = servers.fcm.messages
    assert push["message"] == {
        "token": "tok-ann",
        "notification": {"title": "Appointment", "body": "Bring <b>both</b>\nforms"},
        "data": {"appointmentId": "A-7", "count": "2"},
        "android": {"priority": "high", "notification": {"click_action": "com.example.OPEN", "color": "#ff0000"}},
        "apns": {
            "payload": {
                "aps": {"alert": {"title": "Appointment", "subtitle": "for Ann", "body": "Bring <b>both</b>\nforms"}}
            }
        },
    }


def test_eq_subexpression_picks_the_branch_per_request(api: ApiCall, servers: Servers) -> None:
    for kind in ("patients", "doctors"):
        status, _ = api(
            {
                "channels": ["sms"],
                "clusters": ["patients", "doctors"],
                "templateId": SMS_ONLY_TEMPLATE,
                "data": {"type": kind},
            }
        )
        assert status == 200
    texts = sorted(sms["message"] for sms in servers.outbox.sms())
    assert texts == ["Dear colleague Ann", "Dear colleague Carl", "Dear patient Ann", "Dear patient Carl"]


@pytest.mark.parametrize(
    ("template_id", "channels", "status", "expected"),
    [
        ("65f0000000000000000000ff", ["sms"], 404, "template 65f0000000000000000000ff not found"),
        (
            SMS_ONLY_TEMPLATE,
            ["sms", "email", "push"],
            400,
            "lacks the text of a requested channel: "
            "emailTitle, emailHtmlMessage or emailMessage, pushTitle, pushMessage",
        ),
        (
            BROKEN_TEMPLATE,
            ["sms"],
            400,
            f"template {BROKEN_TEMPLATE} smsMessage: invalid Handlebars syntax at line 2, column",
        ),
    ],
    ids=["missing", "missing-channel-text", "malformed"],
)
def test_template_problems_refuse_the_request_and_send_nothing(
    api: ApiCall, servers: Servers, template_id: str, channels: list[str], status: int, expected: str
) -> None:
    code, body = api({"channels": channels, "recipients": ["u1"], "templateId": template_id})

    assert code == status
    assert body["statusCode"] == str(status)
    assert body["error"] == {400: "Bad Request", 404: "Not Found"}[status]
    assert expected in body["message"]
    assert (servers.outbox.emails(), servers.outbox.sms(), servers.fcm.messages) == ([], [], [])


def test_provider_rejections_are_failures_with_the_providers_reason(
    api: ApiCall, servers: Servers, db: Any, functions: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    # SES's own refusal of a sender, as when its identity is revoked after SendFunction checked it
    # (an unverified sender is refused at acceptance: tests/integration/test_sender_identity.py).
    monkeypatch.setattr(functions["send"].parts, "identities", None)
    db.users.insert_many(
        [
            {"_id": "u5", "name": "Fay", "phoneNumber": "3330000005", "clusters": ["night"]},  # no "+": not E.164
            {
                "_id": "u6",
                "name": "Gus",
                "phoneNumber": "+393330000006",
                "emailAddress": "gus@example.com",
                "clusters": ["night"],
            },
        ]
    )
    status, body = api(
        {
            "channels": ["email", "sms", "push"],
            "recipients": ["u3"],
            "clusters": ["night"],
            "emailSender": "someone@unverified.example.org",
            "messageTitle": "t",
            "messageContent": "{{data.long}}",
            "data": {"long": "x" * 1700},
        }
    )

    assert status == 200
    failures = {(failure["userId"], failure["channel"]): failure["error"] for failure in body["failures"]}
    assert failures.pop(("u3", "push")) == "UNREGISTERED: Requested entity was not found."
    assert failures.pop(("u5", "sms")) == "InvalidParameter: phone number is not in E.164 format"
    assert failures.pop(("u6", "email")).startswith("MessageRejected: Email address not verified")
    for user in ("u3", "u6"):
        assert failures.pop((user, "sms")) == "InvalidParameter: SMS message must be less than 1600 bytes"
    assert failures == {}


def test_a_crashed_or_timed_out_channel_function_reports_each_of_its_users_unknown(
    api: ApiCall, servers: Servers, invoker: InProcessInvoker, db: Any
) -> None:
    def crashing(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("out of memory")

    def hanging(event: dict[str, Any], context: Any) -> dict[str, Any]:
        import time

        time.sleep(2)
        return {"failures": []}

    invoker.handlers["messaging-SmsFunction"] = crashing
    invoker.handlers["messaging-PushFunction"] = hanging
    invoker.timeout_s = 0.5

    status, body = api(
        {
            "channels": ["email", "sms", "push"],
            "clusters": ["patients", "doctors"],
            "messageTitle": "t",
            "messageContent": "c",
        }
    )

    assert status == 200
    assert sorted((f["userId"], f["channel"], f["error"]) for f in body["failures"]) == [
        ("u1", "push", "unknown: push batch outcome unknown (Sandbox.Timedout: Task timed out after 0.50 seconds)"),
        ("u1", "sms", "unknown: sms batch outcome unknown (RuntimeError: out of memory)"),
        ("u3", "push", "unknown: push batch outcome unknown (Sandbox.Timedout: Task timed out after 0.50 seconds)"),
        ("u3", "sms", "unknown: sms batch outcome unknown (RuntimeError: out of memory)"),
    ]
    assert sorted(email["destinations"]["ToAddresses"][0] for email in servers.outbox.emails()) == [
        "ann@example.com",
        "bob@example.com",
    ]


def test_unreachable_database_is_a_503_and_nothing_is_sent(
    api: ApiCall, servers: Servers, functions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from local.servers import free_port
    from messaging.store import MongoStore

    dead = MongoStore.connect(f"mongodb://127.0.0.1:{free_port()}/", "messaging", "users", "templates", 300)
    monkeypatch.setattr(functions["send"].parts, "store", dead)

    for body in (
        {"channels": ["email"], "recipients": ["u1"], "messageTitle": "t", "messageContent": "c"},
        {"channels": ["email"], "recipients": ["u1"], "templateId": APPOINTMENT_TEMPLATE},
    ):
        status, answer = api(body)
        assert status == 503
        assert answer["error"] == "Service Unavailable"
        assert answer["message"].startswith("database unreachable")
    assert servers.outbox.emails() == []


def test_too_close_to_the_deadline_every_user_is_reported_not_attempted(api: ApiCall, servers: Servers) -> None:
    status, body = api(
        {"channels": ["email", "sms"], "clusters": ["patients"], "messageTitle": "t", "messageContent": "c"},
        remaining_ms=4_000,
    )

    assert status == 200
    assert sorted((f["userId"], f["channel"], f["error"]) for f in body["failures"]) == [
        ("u1", "email", "not attempted: deadline"),
        ("u1", "sms", "not attempted: deadline"),
        ("u2", "email", "not attempted: deadline"),
    ]
    assert (servers.outbox.emails(), servers.outbox.sms()) == ([], [])


def test_hostile_and_international_text_arrives_safely(api: ApiCall, servers: Servers, db: Any) -> None:
    from bson import ObjectId

    template_id = ObjectId()
    db.templates.insert_one(
        {
            "_id": template_id,
            "emailTitle": "Hi",
            "emailHtmlMessage": "<p>{{data.note}}</p>",
            "smsMessage": "{{data.note}} {{user.name}}",
        }
    )
    note = "<script>alert('x')</script> Ciao 👋 Привет 你好"

    status, body = api(
        {"channels": ["email", "sms"], "recipients": ["u1"], "templateId": str(template_id), "data": {"note": note}}
    )

    assert (status, body) == (200, {"failures": []})
    [email] = servers.outbox.emails()
    assert email["body"] == "<p>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Ciao 👋 Привет 你好</p>"
    [sms] = servers.outbox.sms()
    assert sms["message"] == f"{note} Ann"  # SMS is plain text: nothing to escape, nothing lost
