"""The README's languages and categories, through `make start`'s chain (issue 24): each user's
variant and time zone, and a category a user refused on one channel."""

from __future__ import annotations

from tests.e2e.conftest import Stack


def test_each_user_gets_their_language_and_time_and_a_refused_category_is_skipped_there(e2e: Stack) -> None:
    status, body = e2e.post(
        {
            "channels": ["sms"],
            "clusters": ["intl"],
            "messageTitle": "Visit",
            "messageContent": 'See you {{dateFormat data.at format="DD/MM HH:mm"}}',
            "locales": {"it": {"messageContent": 'A presto, {{dateFormat data.at format="DD/MM [alle] HH:mm"}}'}},
            "data": {"at": "2026-12-01T09:30:00Z"},
        }
    )
    assert status == 200, body
    assert body["failures"] == []
    assert sorted((s["phone_number"], s["message"]) for s in e2e.outbox.sms()) == [
        ("+393334444444", "A presto, 01/12 alle 10:30"),  # Ilaria: it-IT, Europe/Rome
        ("+393335555555", "See you 01/12 09:30"),  # Hugo: en-GB (no variant), Europe/London
    ]

    status, body = e2e.post(
        {
            "channels": ["email", "sms"],
            "recipients": ["hugo"],
            "category": "newsletter",
            "messageTitle": "News",
            "messageContent": "Our December news",
        },
        path="/send/preview",
    )
    assert status == 200, body
    assert [(s["userId"], s["channel"], s["reason"]) for s in body["skipped"]] == [("hugo", "email", "optedOut")]
    assert [(m["userId"], m["channel"]) for m in body["messages"]] == [("hugo", "sms")]
