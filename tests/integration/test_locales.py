"""Per-locale variants of a message (issue 24): each user gets the variant of their locale (exact
tag, else language, else the base), the same way in synchronous sends, asynchronous sends and the
preview; a broken variant is refused at acceptance, naming it. In-process against SecantusDB, moto
and the stand-ins."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from tests.conftest import ApiCall, Servers
from tests.integration.async_sends import Async
from tests.integration.test_preview_and_strict import PREVIEW

TEMPLATE = "65f0000000000000000000c1"
USERS: list[dict[str, Any]] = [
    {"_id": "l-it", "name": "Ida", "phoneNumber": "+393400000001", "locale": "it-IT", "clusters": ["intl"]},
    {"_id": "l-gb", "name": "Gus", "phoneNumber": "+393400000002", "locale": "en-GB", "clusters": ["intl"]},
    {"_id": "l-fr", "name": "Flo", "phoneNumber": "+393400000003", "locale": "fr", "clusters": ["intl"]},
    {"_id": "l-none", "name": "Ned", "phoneNumber": "+393400000004", "clusters": ["intl"]},
    # A hostile stored locale is no locale: the base texts, never a failure.
    {"_id": "l-odd", "name": "Odd", "phoneNumber": "+393400000005", "locale": {"$ne": 1}, "clusters": ["intl"]},
]
EXPECTED = {
    "+393400000001": "Ciao Ida",
    "+393400000002": "Hello Gus, cheerio",
    "+393400000003": "Hi Flo",
    "+393400000004": "Hi Ned",
    "+393400000005": "Hi Odd",
}
BODY = {"channels": ["sms", "email"], "clusters": ["intl"], "templateId": TEMPLATE}


def _seed(db: Any, **variants: Any) -> None:
    db.users.insert_many([dict(user) for user in USERS])
    db.templates.insert_one(
        {
            "_id": ObjectId(TEMPLATE),
            "smsMessage": "Hi {{user.name}}",
            "emailTitle": "Subject",
            "emailMessage": "Body",
            "locales": variants
            or {"it": {"smsMessage": "Ciao {{user.name}}"}, "en-GB": {"smsMessage": "Hello {{user.name}}, cheerio"}},
        }
    )


def _sms(servers: Servers) -> dict[str, str]:
    return {sms["phone_number"]: sms["message"] for sms in servers.outbox.sms()}


def test_each_user_gets_the_variant_of_their_locale_in_a_synchronous_send(
    api: ApiCall, db: Any, servers: Servers
) -> None:
    _seed(db)
    status, body = api(BODY)

    assert status == 200, body
    assert _sms(servers) == EXPECTED
    assert body["failures"] == []


def test_an_asynchronous_send_renders_the_same_variants_as_the_synchronous_one(
    run: Async, db: Any, servers: Servers
) -> None:
    _seed(db)
    status, body = run.post(BODY)
    assert status == 202, body
    assert servers.outbox.sms() == []

    run.drain()

    assert run.status(body["sendId"])["status"] == "completed"
    assert _sms(servers) == EXPECTED


def test_the_preview_says_which_variant_each_user_gets(api: ApiCall, db: Any) -> None:
    _seed(db)
    status, body = api({**BODY, "channels": ["sms"]}, event=PREVIEW)

    assert status == 200, body
    by_user = {message["userId"]: (message["locale"], message["message"]["text"]) for message in body["messages"]}
    assert by_user == {
        "l-it": ("it", "Ciao Ida"),
        "l-gb": ("en-GB", "Hello Gus, cheerio"),
        "l-fr": (None, "Hi Flo"),
        "l-none": (None, "Hi Ned"),
        "l-odd": (None, "Hi Odd"),
    }


def test_a_variant_leaving_a_field_out_takes_the_base_one(api: ApiCall, db: Any, servers: Servers) -> None:
    _seed(db, it={"emailTitle": "Oggetto"})
    status, body = api({**BODY, "recipients": ["l-it"], "clusters": None, "channels": ["sms"]})

    assert status == 200, body
    assert _sms(servers) == {"+393400000001": "Hi Ida"}  # the variant has no SMS text: the base one


def test_a_requests_own_variants_reach_users_by_their_locale(api: ApiCall, db: Any, servers: Servers) -> None:
    _seed(db)
    status, body = api(
        {
            "channels": ["sms"],
            "clusters": ["intl"],
            "messageTitle": "t",
            "messageContent": "Hi {{user.name}}",
            "locales": {"IT": {"messageContent": "Ciao {{user.name}}"}, "en": {"messageTitle": "only a title"}},
        }
    )

    assert status == 200, body
    assert _sms(servers) == {**EXPECTED, "+393400000002": "Hi Gus"}  # en-GB -> en: its content is the base one


def test_a_broken_variant_is_refused_at_acceptance_naming_it_and_nothing_is_sent(
    api: ApiCall, run: Async, db: Any, servers: Servers
) -> None:
    _seed(db, it={"smsMessage": "Ciao {{#if user.name}}unclosed"})
    for send in (api, run.post):
        status, body = send(BODY)

        assert status == 400, body
        assert f"template {TEMPLATE} locales.it.smsMessage" in body["message"]
    status, body = api(
        {
            "channels": ["sms"],
            "recipients": ["l-it"],
            "messageTitle": "t",
            "messageContent": "Hi",
            "locales": {"en-GB": {"messageContent": "{{/if}}"}},
        }
    )
    assert status == 400, body
    assert "locales.en-GB.messageContent" in body["message"]
    db.templates.update_one({"_id": ObjectId(TEMPLATE)}, {"$set": {"locales": {"it": {"smsMessage": 42}}}})
    status, body = api(BODY)
    assert status == 400, body
    assert "locales.it.smsMessage" in body["message"]
    assert servers.outbox.sms() == []


def test_malformed_locale_tags_are_refused_naming_locales(api: ApiCall, db: Any) -> None:
    _seed(db)
    for locales in ({"not a tag": {"messageContent": "x"}}, {"it": {"messageContent": "x"}, "IT": {}}):
        status, body = api(
            {
                "channels": ["sms"],
                "recipients": ["l-it"],
                "messageTitle": "t",
                "messageContent": "c",
                "locales": locales,
            }
        )
        assert status == 400, body
        assert "locales" in body["message"]


def test_dates_and_numbers_render_in_each_users_zone_and_locale(api: ApiCall, db: Any, servers: Servers) -> None:
    _seed(db)
    zones = {"l-it": "Europe/Rome", "l-gb": "Europe/London", "l-fr": "Not/AZone"}
    for user_id, zone in zones.items():
        db.users.update_one({"_id": user_id}, {"$set": {"timezone": zone}})
    status, body = api(
        {
            "channels": ["sms"],
            "clusters": ["intl"],
            "messageTitle": "t",
            "messageContent": '{{dateFormat data.when format="DD/MM HH:mm"}} {{toLocale 1234.5}}',
            "data": {"when": "2026-07-01T22:30:00Z"},
        }
    )

    assert status == 200, body
    assert _sms(servers) == {
        "+393400000001": "02/07 00:30 1.234,5",  # Rome, it-IT
        "+393400000002": "01/07 23:30 1,234.5",  # London, en-GB
        "+393400000003": "01/07 22:30 1\u202f234,5",  # not a zone: UTC; fr
        "+393400000004": "01/07 22:30 1,234.5",  # neither: UTC, DEFAULT_LOCALE
        "+393400000005": "01/07 22:30 1,234.5",
    }
