"""HTTP → sam local start-api → SendFunction → lambda.invoke → sam local start-lambda → channel
functions → moto (SES, SNS) and the FCM stand-in, all in Lambda containers built from template.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local.demo_data import REMINDER_TEMPLATE
from tests.e2e.conftest import Stack

REQUESTS = Path(__file__).resolve().parents[2] / "events" / "requests"


def _request(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((REQUESTS / f"{name}.json").read_text())
    return body


def test_recipients_and_clusters_reach_every_channel_once(e2e: Stack) -> None:
    status, body = e2e.post(
        {
            "channels": ["email", "sms", "push"],
            "recipients": ["alice", "carla", "nobody"],
            "clusters": ["rome"],
            "messageTitle": "Hi {{user.name}}",
            "messageContent": "Hello, {{user.name}} {{user.surname}}!",
        }
    )

    assert status == 200
    assert sorted((f["userId"], f["channel"], f["error"]) for f in body["failures"]) == [
        ("carla", "push", "UNREGISTERED: Requested entity was not found."),
        ("nobody", "email", "user not found"),
        ("nobody", "push", "user not found"),
        ("nobody", "sms", "user not found"),
    ]
    # Alice is listed and in "rome": once per channel. Carla has no e-mail address: skipped there.
    emails = {e["destinations"]["ToAddresses"][0]: (e["subject"], e["body"]) for e in e2e.outbox.emails()}
    assert emails == {
        "alice@example.com": ("Hi Alice", "Hello, Alice Rossi!"),
        "dario@example.com": ("Hi Dario", "Hello, Dario Neri!"),
    }
    assert sorted((s["phone_number"], s["message"]) for s in e2e.outbox.sms()) == [
        ("+393331111111", "Hello, Alice Rossi!"),
        ("+393332222222", "Hello, Carla Verdi!"),
        ("+393333333333", "Hello, Dario Neri!"),
    ]
    pushes = {p["message"]["token"]: p["message"] for p in e2e.pushes()}
    assert sorted(pushes) == ["demo-token-alice", "demo-token-dario"]
    assert pushes["demo-token-dario"]["notification"] == {"title": "Hi Dario", "body": "Hello, Dario Neri!"}
    assert pushes["demo-token-dario"]["android"] == {"notification": {"click_action": "com.example.OPEN"}}


def test_template_with_data_renders_per_user_and_channel(e2e: Stack) -> None:
    status, body = e2e.post(_request("by-clusters-with-template"))

    assert (status, body) == (200, {"failures": []})
    emails = {e["destinations"]["ToAddresses"][0]: e for e in e2e.outbox.emails()}
    assert sorted(emails) == ["alice@example.com", "bob@example.com", "dario@example.com"]
    assert emails["bob@example.com"]["subject"] == "Your appointment, Bob"
    assert emails["bob@example.com"]["body"] == (
        "<p>Hello, Bob Bianchi!</p><p>Your visit is on 01/12/2026 at 10:30.</p>"
        "<p>Bring your &lt;b&gt;card&lt;/b&gt;</p>"
    )
    assert sorted(s["message"] for s in e2e.outbox.sms()) == [
        "Alice, reminder: 01/12 10:30",
        "Dario, reminder: 01/12 10:30",
    ]
    alice = next(p["message"] for p in e2e.pushes() if p["message"]["token"] == "demo-token-alice")
    assert alice["notification"] == {"title": "Appointment reminder", "body": "01/12/2026 10:30"}
    assert alice["data"] == {"appointmentId": "A-42"}
    assert alice["android"] == {"priority": "high", "notification": {"click_action": "com.example.OPEN"}}
    assert alice["apns"]["payload"]["aps"]["alert"]["subtitle"] == "Alice Rossi"


def test_preview_renders_a_stored_template_and_sends_nothing(e2e: Stack) -> None:
    status, body = e2e.post({**_request("by-clusters-with-template"), "limit": 100}, path="/send/preview")

    assert status == 200, body
    emails = {m["message"]["to"]: m["message"] for m in body["messages"] if m["channel"] == "email"}
    # Addresses are masked in a preview (it is for reading texts); the texts stay whole.
    assert sorted(emails) == ["a***@example.com", "b***@example.com", "d***@example.com"]
    assert emails["b***@example.com"]["subject"] == "Your appointment, Bob"
    assert emails["b***@example.com"]["html"] == (
        "<p>Hello, Bob Bianchi!</p><p>Your visit is on 01/12/2026 at 10:30.</p>"
        "<p>Bring your &lt;b&gt;card&lt;/b&gt;</p>"
    )
    assert sorted(m["message"]["text"] for m in body["messages"] if m["channel"] == "sms") == [
        "Alice, reminder: 01/12 10:30",
        "Dario, reminder: 01/12 10:30",
    ]
    assert body["audience"] >= len({m["userId"] for m in body["messages"]})
    # Nothing reached a provider.
    assert (e2e.outbox.emails(), e2e.outbox.sms(), e2e.pushes()) == ([], [], [])
    status, body = e2e.post({**_request("by-clusters-with-template"), "limit": 1}, path="/send/preview")
    assert status == 200
    assert len({m["userId"] for m in body["messages"]}) == 1


def test_an_unverified_sender_is_refused_before_anything_is_sent(e2e: Stack) -> None:
    # Checked with SES (moto) at acceptance: a 400 naming emailSender, not a failure per user.
    status, body = e2e.post(
        {
            "channels": ["email"],
            "clusters": ["patients"],
            "templateId": REMINDER_TEMPLATE,
            "emailSender": "news@unverified.example.net",
            "data": {"type": "patients"},
        }
    )

    assert (status, body["message"]) == (
        400,
        "emailSender: not a verified SES identity, nor at a verified domain; nothing was sent",
    )
    assert e2e.outbox.emails() == []


def test_a_bad_body_is_a_400_in_the_seeds_shape(e2e: Stack) -> None:
    status, body = e2e.post(_request("bad-body"))

    assert status == 400
    assert body == {
        "statusCode": "400",
        "error": "Bad Request",
        "message": "channels[1]: Input should be 'email', 'sms', 'push' or 'voice'; "
        "recipients[0]: Input should be a valid string",
    }
    assert (e2e.outbox.emails(), e2e.outbox.sms(), e2e.pushes()) == ([], [], [])


def test_attachments_are_staged_and_sent_as_raw_mime(e2e: Stack) -> None:
    from email import message_from_string
    from email.policy import default

    from local.demo_data import FILES

    status, body = e2e.post(_request("with-attachments"))

    assert (status, body) == (200, {"failures": []})
    sent = {}
    for raw in e2e.outbox.raw_emails():
        message = message_from_string(raw["raw_data"], policy=default)
        sent[message["To"]] = (raw, message)
    assert sorted(sent) == ["alice@example.com", "bob@example.com"]
    raw, bob = sent["bob@example.com"]
    assert (bob["Subject"], bob["Cc"], bob["Bcc"]) == ("Your documents, Bob", "front-desk@example.com", None)
    assert "archive@example.com" in raw["destinations"]
    files = {part.get_filename(): part.get_payload(decode=True) for part in bob.iter_attachments()}
    assert files == FILES


def test_a_retried_request_is_answered_once_and_correlated(e2e: Stack) -> None:
    import uuid

    body = {"channels": ["sms"], "recipients": ["alice"], "messageTitle": "t", "messageContent": "Once only"}
    headers = {"Idempotency-Key": str(uuid.uuid4()), "X-Correlation-Id": "e2e-retry-1"}

    first, second = e2e.post(body, headers), e2e.post(body, headers)

    assert first == second == (200, {"failures": []})
    assert e2e.last_headers["X-Correlation-Id"] == "e2e-retry-1"
    assert [s["message"] for s in e2e.outbox.sms()] == ["Once only"]


def test_voice_speaks_the_rendered_text_and_a_refused_number_is_that_users_failure(e2e: Stack) -> None:
    status, body = e2e.post(
        {
            "channels": ["voice"],
            "recipients": ["alice", "bob", "fabio", "nobody"],
            "templateId": REMINDER_TEMPLATE,
            "data": {"appointmentDate": "2026-12-01T09:30:00Z"},
        }
    )

    assert status == 200, body
    assert sorted((f["userId"], f["channel"], f["error"]) for f in body["failures"]) == [
        # The stand-in answers a number ending in 0000 with a ValidationException.
        ("fabio", "voice", "ValidationException: Invalid destination phone number (INVALID_PARAMETER)"),
        ("nobody", "voice", "user not found"),
    ]
    # Bob has no phone number: skipped. Alice is called from sender.voice, her text rendered.
    [call] = e2e.voice_calls()
    assert call["DestinationPhoneNumber"] == "+393331111111"
    assert call["MessageBody"] == "Hello Alice, this is a reminder of your appointment on 1 December at 10:30."
    assert (call["OriginationIdentity"], call["MessageBodyTextType"]) == ("+15550001111", "TEXT")
    assert call["Context"]["userId"] == "alice"
    assert (e2e.outbox.emails(), e2e.outbox.sms(), e2e.pushes()) == ([], [], [])
