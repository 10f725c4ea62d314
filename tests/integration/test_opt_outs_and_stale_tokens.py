"""Who gets nothing, and why it is not a failure: users who opted out of a channel (in their own
document, or at the provider: End User Messaging's opted-out numbers), unless the message is
transactional; push tokens FCM reported stale, recorded by PushFunction (STALE_TOKENS) and skipped
by the next send until the token changes. The functions run in-process against SecantusDB, moto
and the stand-ins."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from bson import ObjectId

from local.servers import free_port
from messaging.bootstrap import user_preferences
from messaging.models.config import UserFields
from messaging.store import MongoStore
from tests.conftest import (
    APPOINTMENT_TEMPLATE,
    AS_TRUSTED_CALLER,
    CONTACT_LIST,
    CONTACT_TOPIC,
    FUNCTION_NAMES,
    ApiCall,
    Servers,
    api_event,
)
from tests.integration.test_observability import emf_values, json_lines
from tests.lambda_runtime import EventQueue, InProcessInvoker, LambdaContext, load_function

BODY = {
    "channels": ["email", "sms", "push"],
    "recipients": ["u1", "u2", "u3"],
    "messageTitle": "Hi {{user.name}}",
    "messageContent": "Hello {{user.name}}",
}


def _sent(servers: Servers) -> set[tuple[str, str]]:
    """(channel, address) of everything the providers accepted since the outbox mark."""
    return (
        {("email", e["destinations"]["ToAddresses"][0]) for e in servers.outbox.emails()}
        | {("sms", s["phone_number"]) for s in servers.outbox.sms()}
        | {("sms", m["DestinationPhoneNumber"]) for m in servers.eum.messages if m["operation"] == "SendTextMessage"}
        | {("push", m["message"]["token"]) for m in servers.fcm.messages}
    )


def _status(send: ModuleType, send_id: str) -> dict[str, Any]:
    """GET /sends/{sendId} through SendFunction."""
    path = f"/sends/{send_id}"
    event = api_event(None)
    event.update({"httpMethod": "GET", "path": path, "resource": path, "body": None})
    answer = send.lambda_handler(event, LambdaContext())
    assert answer["statusCode"] == 200, answer["body"]
    status: dict[str, Any] = json.loads(answer["body"])
    return status


def _code(failure: dict[str, Any]) -> str:
    """The provider's code, as the answer's reason starts (the API answers no code field)."""
    return str(failure["error"]).split(":", 1)[0]


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything the shared Powertools Logger writes during the test."""
    from messaging.observability import logger

    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]


def _fresh(api: ApiCall, servers: Servers) -> None:
    servers.outbox.mark()
    servers.fcm.clear()
    servers.eum.clear()


@pytest.mark.parametrize(
    ("transactional_request", "transactional_template", "ann_gets"),
    [
        (False, None, {"push"}),  # opted out of e-mail and SMS: skipped there, not failed
        (True, None, {"email", "sms", "push"}),  # the request says transactional
        (False, True, {"email", "sms", "push"}),  # the template says so
        (False, False, {"push"}),
    ],
    ids=["marketing", "transactional-request", "transactional-template", "template-says-no"],
)
def test_opted_out_users_are_skipped_unless_the_message_is_transactional(
    api: ApiCall,
    servers: Servers,
    db: Any,
    capsys: pytest.CaptureFixture[str],
    transactional_request: bool,
    transactional_template: bool | None,
    ann_gets: set[str],
) -> None:
    db.users.update_one({"_id": "u1"}, {"$set": {"optOuts": ["email", "sms"]}})
    # An operator's own shape, an object of channel -> true, is honoured too.
    db.users.update_one({"_id": "u2"}, {"$set": {"optOuts": {"email": True, "push": False}}})
    body: dict[str, Any] = {**BODY, "recipients": ["u1", "u2"], "transactional": transactional_request}
    if transactional_template is not None:
        db.templates.update_one(
            {"_id": ObjectId(APPOINTMENT_TEMPLATE)}, {"$set": {"transactional": transactional_template}}
        )
        body = {**body, "templateId": APPOINTMENT_TEMPLATE, "data": {"appointmentDate": "2026-12-01T09:00:00Z"}}
    capsys.readouterr()

    status, answer = api(body, event=AS_TRUSTED_CALLER)  # a caller transactionalCallers lists

    assert (status, answer) == (200, {"failures": []})
    ann = {"email": "ann@example.com", "sms": "+393330000001", "push": "tok-ann"}
    bob = set() if ann_gets == {"push"} else {("email", "bob@example.com")}
    assert _sent(servers) == {(channel, ann[channel]) for channel in ann_gets} | bob
    values = emf_values(json_lines(capsys.readouterr().out))
    opted_out = {
        channel: values.get(("MessagesSkippedByReason", (("channel", channel), ("reason", "optedOut"))), [])
        for channel in ("email", "sms", "push")
    }
    if ann_gets == {"push"}:
        assert opted_out == {"email": [2], "sms": [1], "push": []}
    else:
        assert opted_out == {"email": [], "sms": [], "push": []}


@pytest.fixture
def eum_sms(servers: Servers, invoker: InProcessInvoker, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """SmsFunction sending through End User Messaging (its own cold start), in the invoker's place."""
    monkeypatch.setenv("SMS_PROVIDER", "end-user-messaging")
    module = load_function("sms", variant=f"_{uuid.uuid4().hex}")
    monkeypatch.setitem(invoker.handlers, FUNCTION_NAMES["sms"], module.lambda_handler)
    return module


@pytest.mark.parametrize("transactional", [False, True], ids=["marketing", "transactional"])
def test_a_number_opted_out_at_end_user_messaging_is_skipped_and_remembered(
    api: ApiCall, servers: Servers, db: Any, eum_sms: ModuleType, transactional: bool
) -> None:
    # The stand-in answers ConflictException DESTINATION_PHONE_NUMBER_OPTED_OUT for numbers ending in 9999.
    db.users.insert_one({"_id": "u9", "name": "Nina", "phoneNumber": "+393339999999"})
    body = {**BODY, "channels": ["sms"], "recipients": ["u1", "u9"], "transactional": transactional}

    status, answer = api(body, event=AS_TRUSTED_CALLER)

    assert status == 200
    assert _sent(servers) == {("sms", "+393330000001")}
    nina = db.users.find_one({"_id": "u9"})
    if transactional:
        # The provider refused a message the user must get: a failure, and nothing noted.
        assert [(f["userId"], _code(f)) for f in answer["failures"]] == [("u9", "OptedOut")]
        assert "optOuts" not in nina
        return
    assert answer == {"failures": []}
    assert nina["optOuts"] == ["sms"]
    # The next marketing send skips Nina before calling the provider at all.
    _fresh(api, servers)
    status, answer = api(body)
    assert (status, answer) == (200, {"failures": []})
    assert [m["DestinationPhoneNumber"] for m in servers.eum.messages] == ["+393330000001"]


@pytest.mark.parametrize(
    ("mode", "carl_after", "next_failures"),
    [
        ("mark", {"deviceToken": "unregistered-carl", "staleDeviceToken": "unregistered-carl"}, []),
        ("remove", {}, []),  # no token: push has no address for Carl
        ("keep", {"deviceToken": "unregistered-carl"}, [("u3", "UNREGISTERED")]),  # tried again every time
    ],
)
def test_an_unregistered_token_is_recorded_per_stale_tokens_and_skipped_until_it_changes(
    api: ApiCall,
    servers: Servers,
    db: Any,
    functions: dict[str, ModuleType],
    invoker: InProcessInvoker,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    carl_after: dict[str, str],
    next_failures: list[tuple[str, str]],
) -> None:
    push = functions["push"]
    monkeypatch.setattr(push, "settings", push.settings.model_copy(update={"stale_tokens": mode}))
    # Dora's token is no token at all: FCM's INVALID_ARGUMENT naming the registration token.
    db.users.update_one({"_id": "u4"}, {"$set": {"deviceToken": "invalid-dora"}})
    body = {**BODY, "channels": ["push"], "recipients": ["u1", "u3", "u4"]}

    status, answer = api(body)

    # This send still reports what FCM said.
    assert status == 200
    assert sorted((f["userId"], _code(f)) for f in answer["failures"]) == [
        ("u3", "UNREGISTERED"),
        ("u4", "INVALID_ARGUMENT"),
    ]
    carl = db.users.find_one({"_id": "u3"}, {"deviceToken": 1, "staleDeviceToken": 1, "_id": 0})
    assert carl == carl_after
    dora = db.users.find_one({"_id": "u4"})
    assert (dora.get("staleDeviceToken") == "invalid-dora") == (mode == "mark")

    _fresh(api, servers)
    invoker.payloads.clear()
    status, answer = api(body)
    assert status == 200
    assert sorted((f["userId"], _code(f)) for f in answer["failures"] if f["userId"] == "u3") == next_failures
    handed = {m["userId"] for p in invoker.payloads for m in p["messages"]}
    assert ("u3" in handed) == (mode == "keep")  # a stale or removed token is never sent to FCM again
    assert {m["message"]["token"] for m in servers.fcm.messages} == {"tok-ann"}

    # A new registration clears the skip by itself.
    db.users.update_one({"_id": "u3"}, {"$set": {"deviceToken": "tok-carl-new"}})
    _fresh(api, servers)
    status, answer = api(body)
    assert "u3" not in {f["userId"] for f in answer["failures"]}
    assert "tok-carl-new" in {m["message"]["token"] for m in servers.fcm.messages}


def test_a_database_outage_while_marking_keeps_the_batchs_answer(
    functions: dict[str, ModuleType], servers: Servers, db: Any, monkeypatch: pytest.MonkeyPatch, logs: io.StringIO
) -> None:
    dead = MongoStore.connect(f"mongodb://127.0.0.1:{free_port()}/?directConnection=true", "m", "u", "t", 300)
    monkeypatch.setattr(functions["push"], "preferences", user_preferences(dead, UserFields()))
    servers.fcm.clear()
    event = {
        "channel": "push",
        "messages": [
            {"userId": "u1", "token": "tok-ann", "title": "t", "body": "b"},
            {"userId": "u3", "token": "unregistered-carl", "title": "t", "body": "b"},
        ],
    }
    result = functions["push"].lambda_handler(event, LambdaContext())

    assert [(f["userId"], f["code"]) for f in result["failures"]] == [("u3", "UNREGISTERED")]
    output = logs.getvalue()
    assert "stale tokens not recorded" in output
    assert "unregistered-carl" not in output  # the token is never logged
    assert db.users.find_one({"_id": "u3"})["deviceToken"] == "unregistered-carl"


@pytest.mark.parametrize("transactional", [False, True], ids=["marketing", "transactional"])
def test_marketing_email_names_the_ses_contact_list_and_transactional_does_not(
    functions: dict[str, ModuleType], servers: Servers, transactional: bool
) -> None:
    """moto accepts ListManagementOptions but adds no headers: the request SES gets is what we check."""
    email = functions["email"]
    requests: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **kwargs: Any) -> None:
        requests.append(json.loads(params["body"]))  # the JSON body as it leaves for SES

    email.ses.meta.events.register("before-call.sesv2.SendEmail", capture)
    try:
        event = {
            "channel": "email",
            "sender": "noreply@example.com",
            "transactional": transactional,
            "messages": [{"userId": "u1", "to": "ann@example.com", "subject": "s", "text": "t"}],
        }
        assert email.lambda_handler(event, LambdaContext()) == {"failures": []}
    finally:
        email.ses.meta.events.unregister("before-call.sesv2.SendEmail", capture)

    [request] = requests
    expected = None if transactional else {"ContactListName": CONTACT_LIST, "TopicName": CONTACT_TOPIC}
    assert request.get("ListManagementOptions") == expected


def test_an_async_send_counts_opted_out_and_stale_token_skips(
    api: ApiCall,
    servers: Servers,
    db: Any,
    functions: dict[str, ModuleType],
    invoker: InProcessInvoker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    send, dispatch = functions["send"], functions["dispatch"]
    queue = EventQueue()
    monkeypatch.setattr(send.parts, "launcher", queue)
    monkeypatch.setattr(dispatch.dispatcher, "launcher", queue)
    monkeypatch.setattr(dispatch.dispatcher, "invoker", InProcessInvoker(invoker.handlers, timeout_s=60))
    db.users.update_one({"_id": "u1"}, {"$set": {"optOuts": ["email"]}})
    db.users.update_one({"_id": "u3"}, {"$set": {"staleDeviceToken": "unregistered-carl"}})
    db.users.insert_one({"_id": "u9", "name": "Nina", "phoneNumber": "+393339999999"})  # opted out at EUM
    body = {**BODY, "recipients": ["u1", "u2", "u3", "u9"]}

    status, accepted = api(body, headers={"Prefer": "respond-async"})
    assert status == 202
    queue.drain(dispatch.lambda_handler)

    counts = _status(send, accepted["sendId"])["channels"]
    pick = ("sent", "failed", "skipped", "noAddress", "optedOut", "staleToken")
    assert {channel: {name: counts[channel][name] for name in pick} for channel in counts} == {
        # Ann opted out; Carl and Nina have no address.
        "email": {"sent": 1, "failed": 0, "skipped": 3, "noAddress": 2, "optedOut": 1, "staleToken": 0},
        "sms": {"sent": 3, "failed": 0, "skipped": 1, "noAddress": 1, "optedOut": 0, "staleToken": 0},
        # Carl's token is stale; Bob and Nina have none.
        "push": {"sent": 1, "failed": 0, "skipped": 3, "noAddress": 2, "optedOut": 0, "staleToken": 1},
    }
    assert _sent(servers) == {
        ("email", "bob@example.com"),
        ("sms", "+393330000001"),
        ("sms", "+393330000003"),
        ("sms", "+393339999999"),
        ("push", "tok-ann"),
    }


def test_a_synchronous_sends_status_counts_users_without_an_address_among_its_skips(
    api: ApiCall, db: Any, functions: dict[str, ModuleType]
) -> None:
    """`{"failures": []}` says nothing of who got nothing: GET /sends/<X-Send-Id> says why, per channel."""
    db.users.update_one({"_id": "u1"}, {"$set": {"optOuts": ["email"]}})
    status, answer = api({**BODY, "recipients": ["u1", "u2", "u4"]})
    assert (status, answer) == (200, {"failures": []})
    multi = {name.lower(): values for name, values in (api.last.get("multiValueHeaders") or {}).items()}

    counts = _status(functions["send"], multi["x-send-id"][0])["channels"]
    pick = ("sent", "skipped", "noAddress", "optedOut", "staleToken")
    assert {channel: {name: counts[channel][name] for name in pick} for channel in counts} == {
        # Ann opted out of e-mail; Dora has no address at all, Bob only an e-mail address.
        "email": {"sent": 1, "skipped": 2, "noAddress": 1, "optedOut": 1, "staleToken": 0},
        "sms": {"sent": 1, "skipped": 2, "noAddress": 2, "optedOut": 0, "staleToken": 0},
        "push": {"sent": 1, "skipped": 2, "noAddress": 2, "optedOut": 0, "staleToken": 0},
    }


def test_a_provider_opt_out_in_an_async_send_is_a_skip_and_noted(
    api: ApiCall,
    servers: Servers,
    db: Any,
    functions: dict[str, ModuleType],
    invoker: InProcessInvoker,
    eum_sms: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    send, dispatch = functions["send"], functions["dispatch"]
    queue = EventQueue()
    monkeypatch.setattr(send.parts, "launcher", queue)
    monkeypatch.setattr(dispatch.dispatcher, "launcher", queue)
    monkeypatch.setattr(dispatch.dispatcher, "invoker", InProcessInvoker(invoker.handlers, timeout_s=60))
    db.users.insert_one({"_id": "u9", "name": "Nina", "phoneNumber": "+393339999999"})
    body = {**BODY, "channels": ["sms"], "recipients": ["u1", "u3", "u9"]}
    capsys.readouterr()

    status, accepted = api(body, headers={"Prefer": "respond-async"})
    assert status == 202
    queue.drain(dispatch.lambda_handler)

    sms = _status(send, accepted["sendId"])["channels"]["sms"]
    assert {name: sms[name] for name in ("sent", "failed", "skipped", "optedOut", "pending")} == {
        "sent": 2,
        "failed": 0,
        "skipped": 1,
        "optedOut": 1,
        "pending": 0,
    }
    assert db.users.find_one({"_id": "u9"})["optOuts"] == ["sms"]
    # The dashboard's Skipped panel says what the status says, as for a synchronous send.
    values = emf_values(json_lines(capsys.readouterr().out))
    sums = {name: sum(values.get((name, (("channel", "sms"),)), [])) for name in ("MessagesSent", "MessagesSkipped")}
    assert sums == {"MessagesSent": sms["sent"], "MessagesSkipped": sms["skipped"]}
