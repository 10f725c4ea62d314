"""Voice through POST /send: the request's content or a template's `voiceMessage`, spoken to each
user's phone number through End User Messaging SendVoiceMessage (the stand-in), and its errors as
each user's failure."""

from __future__ import annotations

from types import ModuleType
from typing import Any
from xml.etree import ElementTree

import pytest
from bson import ObjectId

from messaging.channels.base import Source
from messaging.channels.voice import as_ssml
from messaging.templates.compose import MessageTexts, texts_from_json, texts_json
from tests.conftest import APPOINTMENT_TEMPLATE, VOICE_SENDER, ApiCall, Servers

VOICE_TEMPLATE = "65f0000000000000000000a1"


def _calls(servers: Servers) -> dict[str, dict[str, Any]]:
    return {call["DestinationPhoneNumber"]: call for call in servers.eum.messages}


def test_content_is_spoken_to_each_user_with_a_phone_number(api: ApiCall, servers: Servers, db: Any) -> None:
    db.users.insert_one({"_id": "u6", "name": "Gio", "phoneNumber": "+393330000000", "clusters": []})

    status, body = api(
        {
            "channels": ["voice", "sms"],
            "recipients": ["u1", "u2", "u3", "u6", "nobody"],
            "messageTitle": "never spoken",
            "messageContent": "Hello {{user.name}}, your appointment is on {{data.day}}.",
            "data": {"day": "Monday"},
        }
    )

    assert status == 200
    assert sorted((f["userId"], f["channel"], f["error"]) for f in body["failures"]) == [
        ("nobody", "sms", "user not found"),
        ("nobody", "voice", "user not found"),
        # The stand-in refuses numbers ending in 0000: that user's failure, the others are called.
        ("u6", "voice", "ValidationException: Invalid destination phone number (INVALID_PARAMETER)"),
    ]
    assert all(set(f) == {"userId", "channel", "error"} for f in body["failures"])
    calls = _calls(servers)
    # u2 has no phone number: skipped, silently.
    assert sorted(calls) == ["+393330000001", "+393330000003"]
    assert calls["+393330000001"]["MessageBody"] == "Hello Ann, your appointment is on Monday."
    assert calls["+393330000003"]["OriginationIdentity"] == VOICE_SENDER
    assert calls["+393330000003"]["Context"]["userId"] == "u3"
    # SMS went its own way, through SNS.
    assert sorted(s["phone_number"] for s in servers.outbox.sms()) == [
        "+393330000000",
        "+393330000001",
        "+393330000003",
    ]


def test_a_templates_voice_message_is_rendered_per_user(api: ApiCall, servers: Servers, db: Any) -> None:
    db.templates.insert_one({"_id": ObjectId(VOICE_TEMPLATE), "voiceMessage": "{{user.name}}, call us back."})

    status, body = api({"channels": ["voice"], "clusters": ["doctors"], "templateId": VOICE_TEMPLATE})

    assert (status, body) == (200, {"failures": []})
    assert [c["MessageBody"] for c in servers.eum.messages] == ["Carl, call us back."]


def test_a_template_without_a_voice_message_refuses_a_voice_send(api: ApiCall, servers: Servers) -> None:
    status, body = api({"channels": ["voice", "sms"], "recipients": ["u1"], "templateId": APPOINTMENT_TEMPLATE})

    assert status == 400
    assert body["message"] == f"template {APPOINTMENT_TEMPLATE} lacks the text of a requested channel: voiceMessage"
    assert servers.eum.messages == []


def test_with_ssml_values_are_spoken_as_text_and_cannot_add_markup(
    api: ApiCall, servers: Servers, db: Any, functions: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    send = functions["send"]
    monkeypatch.setattr(send.parts, "settings", send.parts.settings.model_copy(update={"voice_body_type": "SSML"}))
    # A profile field its owner controls, and request data: both only ever text inside the markup.
    db.users.insert_one({"_id": "u7", "name": '<break time="10s"/>Eve & co', "phoneNumber": "+393330000007"})
    db.templates.insert_one(
        {
            "_id": ObjectId(VOICE_TEMPLATE),
            "voiceMessage": '<speak>Hi {{user.name}}<break time="1s"/>{{data.note}}</speak>',
        }
    )

    status, body = api(
        {
            "channels": ["voice"],
            "recipients": ["u7"],
            "templateId": VOICE_TEMPLATE,
            "data": {"note": "<audio src='x'/>"},
        }
    )

    assert (status, body) == (200, {"failures": []})
    [call] = servers.eum.messages
    assert call["MessageBody"] == (
        '<speak>Hi &lt;break time&#x3D;&quot;10s&quot;/&gt;Eve &amp; co<break time="1s"/>'
        "&lt;audio src&#x3D;&#x27;x&#x27;/&gt;</speak>"
    )


def _ssml(functions: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch) -> None:
    send = functions["send"]
    monkeypatch.setattr(send.parts, "settings", send.parts.settings.model_copy(update={"voice_body_type": "SSML"}))


@pytest.mark.parametrize(
    "content",
    [
        "<speak>{{{user.name}}}</speak>",
        "<speak>{{&user.name}}</speak>",
        "<speak>{{~{user.name}~}}</speak>",
        "<speak>{{#with user}}{{{name}}}{{/with}}</speak>",
        "<speak>{{{lookup user 'name'}}}</speak>",
        "<speak>{{#each data.names}}{{{this}}}{{/each}}</speak>",
        "<speak>{{#forEach data.names}}{{{this}}}{{/forEach}}</speak>",
    ],
)
def test_with_ssml_a_tag_that_writes_a_value_unescaped_is_refused_naming_the_field(
    api: ApiCall,
    servers: Servers,
    db: Any,
    functions: dict[str, ModuleType],
    monkeypatch: pytest.MonkeyPatch,
    content: str,
) -> None:
    _ssml(functions, monkeypatch)
    db.users.insert_one({"_id": "u7", "name": '<break time="10s"/>', "phoneNumber": "+393330000007"})

    status, body = api(
        {
            "channels": ["voice"],
            "recipients": ["u7"],
            "messageTitle": "never spoken",
            "messageContent": content,
            "data": {"names": ["<audio/>"]},
        }
    )

    assert status == 400
    assert body["message"].startswith("messageContent: ")
    assert "writes a value unescaped" in body["message"]
    assert servers.eum.messages == []


def test_with_ssml_a_stored_voice_message_writing_unescaped_is_refused_and_center_writes_valid_xml(
    api: ApiCall, servers: Servers, db: Any, functions: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    _ssml(functions, monkeypatch)
    db.users.insert_one({"_id": "u7", "name": "Eve & <co>", "phoneNumber": "+393330000007"})
    db.users.insert_one({"_id": "u8", "name": "Eve\nSmith", "phoneNumber": "+393330000008"})
    db.templates.insert_one({"_id": ObjectId(VOICE_TEMPLATE), "voiceMessage": "<speak>{{&user.name}}</speak>"})

    status, body = api({"channels": ["voice"], "recipients": ["u7"], "templateId": VOICE_TEMPLATE})

    assert status == 400
    assert body["message"].startswith(f"template {VOICE_TEMPLATE} voiceMessage: ")
    # An escaped brace is text, and `center` pads with a space XML knows (SSML has no `&nbsp;`).
    status, body = api(
        {
            "channels": ["voice"],
            "recipients": ["u7"],
            "messageTitle": "never spoken",
            "messageContent": "<speak>\\{{{x}}} {{center user.name 2}}</speak>",
        }
    )

    assert (status, body) == (200, {"failures": []})
    [call] = servers.eum.messages
    assert call["MessageBody"] == "<speak>{{{x}}} &#160;&#160;Eve &amp; &lt;co&gt;&#160;&#160;</speak>"
    ElementTree.fromstring(call["MessageBody"])  # well-formed XML

    # A line break in a value stays one: an HTML body's `<br/>` is no SSML element.
    servers.eum.messages.clear()
    status, body = api(
        {
            "channels": ["voice"],
            "recipients": ["u8"],
            "messageTitle": "never spoken",
            "messageContent": "<speak>Hi {{user.name}}</speak>",
        }
    )

    assert (status, body) == (200, {"failures": []})
    assert [call["MessageBody"] for call in servers.eum.messages] == ["<speak>Hi Eve\nSmith</speak>"]
    # An asynchronous send keeps its texts between acceptance and dispatch: the line break too.
    ssml = as_ssml({"text": Source("{{user.name}}", "messageContent")})
    kept = texts_from_json(texts_json(MessageTexts({"voice": ssml}, False)))
    assert kept.channels["voice"] == ssml
