"""POST /send/preview and strict templates through SendFunction's handler (issue 14)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from types import ModuleType
from typing import Any

from bson import ObjectId

from tests.conftest import APPOINTMENT_TEMPLATE, ApiCall, Servers
from tests.lambda_runtime import InProcessInvoker

PREVIEW = {
    "path": "/send/preview",
    "resource": "/send/preview",
    "requestContext": {"resourcePath": "/send/preview", "path": "/Prod/send/preview"},
}
STRICT_TEMPLATE = "65f0000000000000000000a1"
CATALOGUE_TEMPLATE = "65f0000000000000000000a2"


def test_preview_renders_a_stored_template_for_real_users_and_sends_nothing(
    api: ApiCall, servers: Servers, invoker: InProcessInvoker
) -> None:
    status, body = api(
        {
            "channels": ["sms", "email"],
            "recipients": ["u1"],
            "templateId": APPOINTMENT_TEMPLATE,
            "data": {"appointmentDate": "2026-07-01T08:30:00Z", "note": "Bring <b>both</b>"},
        },
        event=PREVIEW,
    )

    assert status == 200, body
    assert body["audience"] == 1
    by_channel = {message["channel"]: message for message in body["messages"]}
    assert by_channel["sms"] == {
        "userId": "u1",
        "channel": "sms",
        "message": {"userId": "u1", "phoneNumber": "+39******0001", "text": "Ann, appointment 01/07 10:30"},
        "locale": None,  # the template has no locale variants
    }
    assert by_channel["email"]["message"]["subject"] == "Appointment for Ann"
    assert "Bring &lt;b&gt;both&lt;/b&gt;" in by_channel["email"]["message"]["html"]
    assert (servers.outbox.emails(), servers.outbox.sms(), invoker.payloads) == ([], [], [])


def test_preview_masks_every_address_number_and_token_but_keeps_the_texts_whole(api: ApiCall) -> None:
    """Issue 21 item 7: a preview of a cluster handed out the users' raw contact data."""
    status, body = api(
        {
            "channels": ["email", "sms", "push", "voice"],
            "clusters": ["patients", "doctors"],
            "messageTitle": "Hello {{user.name}}",
            "messageContent": "Write to {{user.emailAddress}}",
        },
        event=PREVIEW,
    )

    assert status == 200, body
    raw = json.dumps(body)
    for secret in ("ann@example.com", "bob@example.com", "+393330000001", "+393330000003", "tok-ann"):
        assert secret not in raw.replace("Write to ann@example.com", "").replace("Write to bob@example.com", "")
    by_key = {(m["userId"], m["channel"]): m["message"] for m in body["messages"]}
    assert by_key[("u1", "email")]["to"] == "a***@example.com"
    assert by_key[("u1", "email")]["text"] == "Write to ann@example.com"  # the texts stay whole
    assert by_key[("u1", "sms")]["phoneNumber"] == "+39******0001"
    assert by_key[("u3", "voice")]["phoneNumber"] == "+39******0003"
    assert by_key[("u3", "push")]["token"] == "***d-carl"  # its last 6 characters
    assert by_key[("u1", "push")]["token"] == "***ann"  # a short token: never more than half of it


def test_preview_counts_the_whole_audience_but_renders_only_limit_users(api: ApiCall) -> None:
    status, body = api(
        {
            "channels": ["email"],
            "clusters": ["patients", "doctors"],
            "messageTitle": "{{uppercase user.name}}",
            "messageContent": '{{#is user.name "Ann"}}first{{else}}other{{/is}}',
            "limit": 1,
        },
        event=PREVIEW,
    )

    assert status == 200, body
    assert body["audience"] >= 2
    assert len({message["userId"] for message in body["messages"]}) == 1
    [message] = body["messages"]
    assert message["message"]["subject"] == message["message"]["subject"].upper()


def test_preview_limit_is_bounded_and_errors_have_the_send_shape(api: ApiCall) -> None:
    status, body = api(
        {"channels": ["sms"], "recipients": ["u1"], "messageTitle": "t", "messageContent": "c", "limit": 101},
        event=PREVIEW,
    )

    assert status == 400
    assert body["error"] == "Bad Request"
    assert "limit" in body["message"]


def test_preview_checks_send_at_as_a_send_would_and_says_when_it_would_run(api: ApiCall) -> None:
    body = {"channels": ["sms"], "recipients": ["u1"], "messageTitle": "t", "messageContent": "c"}
    ahead = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)

    status, answer = api({**body, "sendAt": ahead.astimezone(timezone(timedelta(hours=1))).isoformat()}, event=PREVIEW)
    assert status == 200, answer
    assert answer["sendAt"] == ahead.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert answer["messages"]

    for wrong, named in (("2020-01-01T00:00:00Z", "in the past"), ("2026-12-07T09:00:00", "offset")):
        status, answer = api({**body, "sendAt": wrong}, event=PREVIEW)
        assert status == 400, answer
        assert answer["message"].startswith("sendAt:")
        assert named in answer["message"]
    status, answer = api(body, event=PREVIEW)
    assert status == 200
    assert answer["sendAt"] is None


def test_preview_with_an_idempotency_key_writes_no_record(api: ApiCall, invoker: InProcessInvoker) -> None:
    request = {"channels": ["sms"], "recipients": ["u1"], "messageTitle": "t", "messageContent": "Hi {{user.name}}"}
    for _ in range(2):
        status, body = api(request, event=PREVIEW, headers={"Idempotency-Key": "preview-1"})
        assert status == 200, body
        assert body["messages"][0]["message"]["text"] == "Hi Ann"
    assert invoker.payloads == []


def test_unknown_helper_with_arguments_is_a_400_naming_it_and_the_field(api: ApiCall, servers: Servers) -> None:
    status, body = api(
        {"channels": ["sms"], "recipients": ["u1"], "messageTitle": "t", "messageContent": "{{shout user.name}}"}
    )

    assert status == 400
    assert body["message"].startswith("messageContent:")
    assert "unknown helper shout" in body["message"]
    assert servers.outbox.sms() == []


def test_strict_template_refuses_a_missing_variable_naming_it(api: ApiCall, db: Any, servers: Servers) -> None:
    db.templates.insert_one(
        {"_id": ObjectId(STRICT_TEMPLATE), "smsMessage": "Hi {{user.name}}, see {{data.missing}}", "strict": True}
    )

    status, body = api({"channels": ["sms"], "recipients": ["u1"], "templateId": STRICT_TEMPLATE, "data": {}})

    assert status == 400
    assert f"template {STRICT_TEMPLATE} smsMessage" in body["message"]
    assert "data.missing is missing" in body["message"]
    assert servers.outbox.sms() == []
    # Not strict (the service's default): the missing variable renders as nothing.
    db.templates.update_one({"_id": ObjectId(STRICT_TEMPLATE)}, {"$set": {"strict": False}})
    status, body = api({"channels": ["sms"], "recipients": ["u1"], "templateId": STRICT_TEMPLATE, "data": {}})
    assert (status, body) == (200, {"failures": []})
    assert [sms["message"] for sms in servers.outbox.sms()] == ["Hi Ann, see "]


def test_a_template_brought_from_the_original_service_renders(api: ApiCall, db: Any, servers: Servers) -> None:
    db.templates.insert_one(
        {
            "_id": ObjectId(CATALOGUE_TEMPLATE),
            "smsMessage": (
                '{{#eq data.t "p"}}yes{{else}}no{{/eq}} {{uppercase user.name}} {{default data.x "n/a"}} '
                '{{add data.n 1}} {{join data.tags ", "}} {{#forEach data.items}}{{name}}{{#unless isLast}}+'
                "{{/unless}}{{/forEach}}"
            ),
        }
    )

    status, body = api(
        {
            "channels": ["sms"],
            "recipients": ["u1"],
            "templateId": CATALOGUE_TEMPLATE,
            "data": {"t": "p", "n": 41, "tags": ["a", "b"], "items": [{"name": "x"}, {"name": "y"}]},
        }
    )

    assert (status, body) == (200, {"failures": []})
    assert [sms["message"] for sms in servers.outbox.sms()] == ["yes ANN n/a 42 a, b x+y"]


def test_the_openapi_document_has_the_preview_route(functions: dict[str, ModuleType]) -> None:
    spec = json.loads(functions["send"].app.get_openapi_json_schema(title="Messaging service", version="1"))

    assert "post" in spec["paths"]["/send/preview"]
    assert "limit" in spec["components"]["schemas"]["SendRequestPreview"]["properties"]
    assert "strict" not in spec["components"]["schemas"]["SendRequestPreview"]["properties"]


def test_preview_says_who_would_be_skipped_or_fail_and_why(api: ApiCall, db: Any) -> None:
    db.users.update_one({"_id": "u2"}, {"$set": {"optOuts": ["email"]}})
    db.users.insert_one({"_id": "huge", "name": "N" * 2_000_000, "emailAddress": "huge@example.com"})

    status, body = api(
        {
            "channels": ["email", "sms"],
            "recipients": ["u1", "u2", "huge"],
            "messageTitle": "t",
            "messageContent": "Hi {{user.name}}",
        },
        event=PREVIEW,
    )

    assert status == 200, body
    assert (body["audience"], body["audienceComplete"], body["truncated"]) == (3, True, False)
    assert sorted((m["userId"], m["channel"]) for m in body["messages"]) == [("u1", "email"), ("u1", "sms")]
    assert sorted((s["userId"], s["channel"], s["reason"]) for s in body["skipped"]) == [
        ("huge", "sms", "noAddress"),
        ("u2", "email", "optedOut"),
        ("u2", "sms", "noAddress"),
    ]
    assert [(f["userId"], f["channel"], f["error"]) for f in body["failures"]] == [
        ("huge", "email", "messageContent: the user's document could render more than 1048576 bytes")
    ]


def test_preview_stops_counting_at_the_deadline_and_its_messages_at_the_size_bound(
    functions: dict[str, ModuleType], db: Any
) -> None:
    from messaging.models.request import SendRequestPreview
    from messaging.preview import preview

    send = functions["send"]
    db.users.insert_many(
        [
            {"_id": f"crowd-{n:04d}", "name": "x" * 500, "emailAddress": f"c{n}@example.com", "clusters": ["crowd"]}
            for n in range(600)
        ]
    )
    request = SendRequestPreview.model_validate(
        {
            "channels": ["email"],
            "clusters": ["crowd"],
            "messageTitle": "t",
            "messageContent": "{{user.name}}",
            "limit": 100,
        }
    )

    # Out of time after the first check (every 256 users): a lower bound, said to be one.
    late = preview(request, send.parts.settings, send.parts.store, send.parts.renderer, remaining_s=lambda: 0.0)
    assert (late.audience, late.audienceComplete) == (255, False)
    assert len(late.messages) == 100

    # Messages beyond the byte bound are left out, whole users at a time, and the answer says so.
    small = preview(request, send.parts.settings, send.parts.store, send.parts.renderer, max_bytes=10_000)
    assert (small.audience, small.audienceComplete, small.truncated) == (600, True, True)
    assert 0 < len(small.messages) < 100
    assert sum(len(m.model_dump_json()) for m in small.messages) <= 10_000


def test_a_preview_whose_render_meets_the_deadline_answers_with_what_it_has(
    functions: dict[str, ModuleType], db: Any
) -> None:
    """A catalogue helper call past the margin ends the render: the preview answers in time, says
    its audience is incomplete, and holds no half-rendered user."""
    from messaging.models.request import SendRequestPreview
    from messaging.preview import preview

    send = functions["send"]
    db.users.insert_many(
        [
            {"_id": f"slow-{n}", "name": f"n{n}", "emailAddress": f"s{n}@example.com", "clusters": ["slow"]}
            for n in range(3)
        ]
    )
    request = SendRequestPreview.model_validate(
        {"channels": ["email"], "clusters": ["slow"], "messageTitle": "t", "messageContent": "{{uppercase user.name}}"}
    )
    margin = send.parts.settings.deadline_margin_s

    answer = preview(request, send.parts.settings, send.parts.store, send.parts.renderer, remaining_s=lambda: margin)

    assert (answer.audience, answer.audienceComplete) == (0, False)
    assert (answer.messages, answer.skipped) == ([], [])
