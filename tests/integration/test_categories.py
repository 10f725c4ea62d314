"""Categories and users' preferences (issue 24): a message of a category skips, as `optedOut`, the
users who refused that category on a channel (or on every channel), and reaches them elsewhere; the
same in synchronous sends, asynchronous sends and the preview; a transactional message passes; an
undeclared category is a 400 naming `category`; no shape of a stored preferences value crashes."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId

from tests.conftest import AS_TRUSTED_CALLER, TRUSTED_CALLER, ApiCall, Servers
from tests.integration.async_sends import ASYNC, Async
from tests.integration.test_preview_and_strict import PREVIEW

USERS: list[dict[str, Any]] = [
    # Refused the newsletter by e-mail only: reached by SMS.
    {
        "_id": "p-mail",
        "emailAddress": "mail@example.com",
        "phoneNumber": "+393500000001",
        "preferences": {"newsletter": {"email": False}},
        "clusters": ["prefs"],
    },
    # Refused the newsletter everywhere.
    {
        "_id": "p-all",
        "emailAddress": "all@example.com",
        "phoneNumber": "+393500000002",
        "preferences": {"newsletter": False, "reminders": {"sms": True}},
        "clusters": ["prefs"],
    },
    {"_id": "p-none", "emailAddress": "none@example.com", "phoneNumber": "+393500000003", "clusters": ["prefs"]},
    # Hostile or odd shapes refuse nothing and never crash.
    {
        "_id": "p-odd1",
        "emailAddress": "odd1@example.com",
        "phoneNumber": "+393500000004",
        "preferences": ["newsletter"],
        "clusters": ["prefs"],
    },
    {
        "_id": "p-odd2",
        "emailAddress": "odd2@example.com",
        "phoneNumber": "+393500000005",
        "preferences": {"newsletter": {"$set": False, "email": "false", "sms": 0}},
        "clusters": ["prefs"],
    },
    {
        "_id": "p-odd3",
        "emailAddress": "odd3@example.com",
        "phoneNumber": "+393500000006",
        "preferences": "no",
        "clusters": ["prefs"],
    },
]
BODY = {
    "channels": ["email", "sms"],
    "clusters": ["prefs"],
    "messageTitle": "News",
    "messageContent": "Our news",
    "category": "newsletter",
}
EVERY_EMAIL = {
    "mail@example.com",
    "all@example.com",
    "none@example.com",
    "odd1@example.com",
    "odd2@example.com",
    "odd3@example.com",
}
EVERY_SMS = {f"+39350000000{i}" for i in range(1, 7)}
SKIPPED = {("p-mail", "email", "optedOut"), ("p-all", "email", "optedOut"), ("p-all", "sms", "optedOut")}


def _sent(servers: Servers) -> tuple[set[str], set[str]]:
    emails = {e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails()}
    return emails, {sms["phone_number"] for sms in servers.outbox.sms()}


def test_a_newsletter_skips_who_refused_it_on_a_channel_and_reaches_them_on_the_others(
    api: ApiCall, db: Any, servers: Servers
) -> None:
    db.users.insert_many([dict(user) for user in USERS])
    status, body = api(BODY)

    assert status == 200, body
    assert _sent(servers) == (
        EVERY_EMAIL - {"mail@example.com", "all@example.com"},
        EVERY_SMS - {"+393500000002"},
    )
    assert body["failures"] == []


def test_another_category_and_no_category_skip_nobody(api: ApiCall, db: Any, servers: Servers) -> None:
    db.users.insert_many([dict(user) for user in USERS])
    for category in ("reminders", None):
        servers.outbox.mark()
        status, body = api({**BODY, "category": category})

        assert status == 200, body
        assert _sent(servers) == (EVERY_EMAIL, EVERY_SMS)


def test_the_preview_and_an_asynchronous_send_skip_the_same_users(
    api: ApiCall, run: Async, db: Any, servers: Servers
) -> None:
    db.users.insert_many([dict(user) for user in USERS])
    status, body = api(BODY, event=PREVIEW)
    assert status == 200, body
    assert {(s["userId"], s["channel"], s["reason"]) for s in body["skipped"]} == SKIPPED

    status, body = run.post(BODY)
    assert status == 202, body
    run.drain()

    send = run.status(body["sendId"])
    assert send["status"] == "completed"
    assert (send["channels"]["email"]["skipped"], send["channels"]["sms"]["skipped"]) == (2, 1)
    assert _sent(servers) == (EVERY_EMAIL - {"mail@example.com", "all@example.com"}, EVERY_SMS - {"+393500000002"})


def test_a_stored_templates_category_governs_its_sends_and_a_transactional_one_passes_preferences(
    api: ApiCall, db: Any, servers: Servers
) -> None:
    db.users.insert_many([dict(user) for user in USERS])
    template = ObjectId()
    db.templates.insert_one(
        {"_id": template, "emailTitle": "News", "emailMessage": "x", "smsMessage": "x", "category": "newsletter"}
    )
    body = {"channels": ["email", "sms"], "clusters": ["prefs"], "templateId": str(template)}
    status, answer = api(body)
    assert status == 200, answer
    assert _sent(servers) == (EVERY_EMAIL - {"mail@example.com", "all@example.com"}, EVERY_SMS - {"+393500000002"})

    db.templates.update_one({"_id": template}, {"$set": {"transactional": True}})
    servers.outbox.mark()
    status, answer = api(body)
    assert status == 200, answer
    assert _sent(servers) == (EVERY_EMAIL, EVERY_SMS)
    # So does a request a listed caller marks transactional.
    db.templates.update_one({"_id": template}, {"$set": {"transactional": False}})
    servers.outbox.mark()
    status, answer = api({**body, "transactional": True}, event=AS_TRUSTED_CALLER)
    assert status == 200, answer
    assert _sent(servers) == (EVERY_EMAIL, EVERY_SMS)


@pytest.mark.parametrize(
    ("identity", "allowed"),
    [
        ({"userArn": TRUSTED_CALLER}, True),
        ({"apiKeyId": "key-receipts"}, True),
        ({}, False),  # anonymous
        ({"userArn": "arn:aws:iam::123456789012:role/marketing"}, False),
        ({"apiKeyId": "key-marketing"}, False),
        ({"userArn": TRUSTED_CALLER[:-1]}, False),
    ],
)
def test_only_listed_callers_may_mark_a_request_transactional(
    api: ApiCall, run: Async, db: Any, servers: Servers, identity: dict[str, str], allowed: bool
) -> None:
    db.users.insert_many([dict(user) for user in USERS])
    event = {"requestContext": {"identity": identity}}
    context: dict[str, Any] = {**PREVIEW["requestContext"], "identity": identity}  # type: ignore[dict-item]
    preview = {**PREVIEW, "requestContext": context}
    status, answer = api({**BODY, "transactional": True}, event=preview)
    assert status == (200 if allowed else 403), answer
    assert allowed == ("messages" in answer)  # a preview's answer, not a send's
    for headers in ({}, ASYNC):
        status, answer = api({**BODY, "transactional": True}, event=event, headers=headers)
        if allowed:
            assert status in (200, 202), answer
            continue
        assert status == 403, answer
        assert answer["message"].startswith("transactional: ")
    if allowed:
        run.drain()
        assert _sent(servers) == (EVERY_EMAIL, EVERY_SMS)  # twice, preferences passed
    else:
        assert _sent(servers) == (set(), set())
        # The same body without it is theirs to send.
        status, answer = api(BODY, event=event)
        assert status == 200, answer


def test_an_undeclared_category_is_refused_naming_category_and_nothing_is_sent(
    api: ApiCall, db: Any, servers: Servers
) -> None:
    db.users.insert_many([dict(user) for user in USERS])
    template = ObjectId()
    db.templates.insert_one({"_id": template, "smsMessage": "x", "category": "offers"})
    for body in (
        {**BODY, "category": "offers"},
        {"channels": ["sms"], "clusters": ["prefs"], "templateId": str(template)},
    ):
        status, answer = api(body)

        assert status == 400, answer
        assert answer["message"].startswith("category: offers is not one of the configuration's categories")
    status, answer = api({**BODY, "category": "not a name"})
    assert status == 400, answer
    assert "category" in answer["message"]
    assert _sent(servers) == (set(), set())
