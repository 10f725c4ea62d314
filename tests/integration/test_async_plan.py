"""Planning a send: its audience once per user, repeated planning over a changing audience, segment sizes.

SendFunction, DispatchFunction and the channel functions run in-process against moto (DynamoDB, S3,
SES, SNS) and SecantusDB; DispatchFunction's `Event` invokes go through a queue that retries a
failed invocation as Lambda does (tests/integration/async_sends.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import EVE_ID, Servers
from tests.integration.async_sends import (
    CROWD,
    PATIENTS,
    Async,
    _assert_counts_add_up,
    _assert_exactly_once,
    _debug_errors,
    _emails,
    _expected,
)


def test_two_planning_runs_of_one_send_over_a_changing_audience_send_to_every_user_once(
    run: Async, crowd: list[dict[str, Any]], servers: Servers, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The planning event repeated (a Lambda retry, or botocore repeating the Event invoke): the
    # second run streams the audience, and wins, while the first is between its segments; the
    # audience changed in between, which moves every segment boundary after the change by one.
    engine = run.dispatch.dispatcher
    real_put = engine.sends.objects.put_json
    interleaved: list[str] = []

    def put_json(send_id: str, name: str, value: Any) -> None:
        real_put(send_id, name, value)
        if "segments/" in name and not interleaved:
            interleaved.append(name)
            db.users.update_one({"_id": "c00010"}, {"$set": {"clusters": []}})  # left the cluster
            db.users.insert_many(
                [
                    {"_id": "c99999", "name": "New", "emailAddress": "new@example.com", "clusters": ["crowd"]},
                    {"_id": "ghost-1", "name": "Found", "emailAddress": "ghost1@example.com"},  # a recipient now
                ]
            )
            engine.plan(send_id, None)

    monkeypatch.setattr(engine.sends.objects, "put_json", put_json)
    _, body = run.post()
    run.drain()
    _debug_errors(run)

    assert interleaved  # the second run did go between the first's segments
    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    assert (status["audience"], status["notFound"]) == (CROWD + 2, 1)  # as the winning run counted it
    _assert_counts_add_up(status)
    users = [
        *(user for user in crowd if user["_id"] != "c00010"),
        {"emailAddress": "new@example.com"},
        {"emailAddress": "ghost1@example.com"},
        {"emailAddress": "ann@example.com", "phoneNumber": "+393330000001", "deviceToken": "tok-ann"},
    ]
    _assert_exactly_once(servers, users)
    assert status["channels"]["email"]["sent"] == len(_expected(users)["email"])
    # The failures list the winning run's missing users, though the other run listed its own after it.
    failures = run.failures(body["sendId"])
    assert sorted((f["userId"], f["channel"]) for f in failures) == [
        ("ghost-2", channel) for channel in ("email", "push", "sms")
    ]


@pytest.mark.parametrize(
    ("body", "audience", "emails"),
    [
        (
            {**PATIENTS, "recipients": [EVE_ID, "u2"]},  # Bob is a recipient and a member
            4,
            {"eve@example.com", "ann@example.com", "bob@example.com"},
        ),
        ({**PATIENTS, "clusters": ["nobody"]}, 0, set()),
    ],
    ids=["recipient-and-member", "empty-cluster"],
)
def test_the_audience_holds_each_user_once_and_an_empty_one_completes_at_once(
    run: Async, servers: Servers, body: dict[str, Any], audience: int, emails: set[str]
) -> None:
    _, accepted = run.post(body)
    run.drain()

    status = run.status(accepted["sendId"])
    assert (status["status"], status["audience"], status["notFound"]) == ("completed", audience, 0)
    _assert_counts_add_up(status)
    assert status["channels"]["email"]["sent"] == len(emails)
    sent = _emails(servers)
    assert set(sent) == emails
    assert max(sent.values(), default=1) == 1


def test_slow_channels_make_smaller_segments_so_a_segment_item_stays_under_dynamodbs_limit(
    run: Async, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from messaging.pacing import Pacer

    engine = run.dispatch.dispatcher
    monkeypatch.setattr(engine, "settings", engine.settings.model_copy(update={"segment_users": 100_000}))
    # One message per second: batches of one, each adding its name to its segment's item.
    monkeypatch.setattr(engine, "pacer", Pacer(boto3.client("dynamodb"), "unused", {"sms": 1, "voice": 1}))

    # Unpaced e-mail goes in batches of 100: SEGMENT_USERS stands.
    assert engine.segment_size(["email"]) == 100_000
    # 16,000 batch names (about 240 KB) at most per segment item, whatever the channels.
    assert engine.segment_size(["sms", "voice"]) == 8_000
    assert engine.segment_size(["email", "sms", "push", "voice"]) == 7_920
