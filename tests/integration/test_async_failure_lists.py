"""The failures listed are exactly the ones counted, whatever retries happened (issue 21 item 5):
a repeated step whose first try died between its failures and its counts, and that lists fewer
failures than that try, leaves none of the first try's behind. Real moto DynamoDB and SecantusDB."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from messaging.models.response import Failure
from messaging.sends.persistence.store import SendStore
from tests.conftest import ATTACHMENTS_BUCKET, SENDS_TABLE, Servers
from tests.integration.async_sends import Async, _assert_counts_add_up, _emails
from tests.lambda_runtime import SandboxCrash


class _DiesAtACountedWrite:
    """A DynamoDB client whose process dies at the first write matching `counted` (an update, or a
    transaction holding one), before it leaves: what was written before it stays."""

    def __init__(
        self, client: Any, counted: Callable[[dict[str, Any]], bool], before_retry: Callable[[], None]
    ) -> None:
        self._client = client
        self._counted = counted
        self._before_retry = before_retry
        self.died = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _die_once(self, updates: list[dict[str, Any]]) -> None:
        if not self.died and any(self._counted(update) for update in updates):
            self.died += 1
            self._before_retry()
            raise SandboxCrash("killed between the failures and the counted update")

    def update_item(self, **kwargs: Any) -> Any:
        self._die_once([kwargs])
        return self._client.update_item(**kwargs)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self._die_once([item["Update"] for item in kwargs["TransactItems"] if "Update" in item])
        return self._client.transact_write_items(**kwargs)


def _marks_segment_done(update: dict[str, Any]) -> bool:
    return update["Key"]["sk"]["S"].startswith("seg#") and ":done" in update.get("ExpressionAttributeValues", {})


def test_users_deleted_after_planning_and_back_before_the_retry_are_listed_exactly_as_counted(
    run: Async, db: Any, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's reproduction: 500 users gone after planning (1,500 `user not found` entries, 2
    items), the first try dies between writing them and the counted update, 200 users are back
    before the retry, which e-mails them."""
    engine = run.dispatch.dispatcher
    users = [{"_id": f"v{i:03d}", "emailAddress": f"v{i}@example.com", "clusters": ["vanish"]} for i in range(500)]
    db.users.insert_many([dict(user) for user in users])
    real_planned = engine.sends.records.planned

    def planned_then_deleted(*args: Any, **kwargs: Any) -> bool:
        won = bool(real_planned(*args, **kwargs))
        db.users.delete_many({"clusters": "vanish"})
        return won

    monkeypatch.setattr(engine.sends.records, "planned", planned_then_deleted)
    back = users[:200]
    dying = _DiesAtACountedWrite(
        engine.sends.table.client, _marks_segment_done, lambda: db.users.insert_many([dict(u) for u in back])
    )
    monkeypatch.setattr(engine.sends.table, "client", dying)
    _, body = run.post({"channels": ["email", "sms", "push"], "clusters": ["vanish"], "messageTitle": "t",
                        "messageContent": "Hi"})  # fmt: skip
    run.drain()

    assert dying.died == 1
    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    _assert_counts_add_up(status)
    email = status["channels"]["email"]
    assert (email["sent"], email["failed"]) == (200, 300)
    failures = run.failures(body["sendId"])
    by_channel = Counter(f["channel"] for f in failures)
    assert by_channel == {channel: counts["failed"] for channel, counts in status["channels"].items()}
    assert len(failures) == 900
    emailed = {u["_id"] for u in back}
    assert not emailed & {f["userId"] for f in failures}
    assert {f["error"] for f in failures} == {"user not found"}
    assert _emails(servers) == Counter({u["emailAddress"]: 1 for u in back})


def _store(client: Any = None) -> SendStore:
    return SendStore(client or boto3.client("dynamodb"), SENDS_TABLE, boto3.client("s3"), ATTACHMENTS_BUCKET)


def _failures(store: SendStore, send_id: str) -> list[tuple[str, str, str]]:
    listed: list[tuple[str, str, str]] = []
    token: str | None = None
    while True:
        page, token = store.failures.page(send_id, 1000, token)
        listed += [(f.userId, f.channel, f.error) for f in page]
        if token is None:
            return listed


def _lost(channel: str, users: range, error: str) -> list[Failure]:
    return [Failure(userId=f"u{i:05d}", channel=channel, error=error) for i in users]  # type: ignore[arg-type]


def test_a_repeated_batch_finish_that_lists_fewer_failures_leaves_none_of_the_first_behind(servers: Servers) -> None:
    """finish_batch: the first try dies at its counted update with 1,500 failures (2 items); the
    repeat lists 300 and is counted; a later repeat listing 1,000 others changes nothing."""
    send_id = uuid.uuid4().hex
    store = _store()
    store.records.create(send_id, "caller", ["email"])
    store.segments.start_batch(send_id, 0, "email", 0, [f"u{i:05d}" for i in range(2_000)])

    def counted(update: dict[str, Any]) -> bool:
        return "applied" in update.get("ExpressionAttributeNames", {}).values()

    dying = _DiesAtACountedWrite(boto3.client("dynamodb"), counted, lambda: None)
    with pytest.raises(SandboxCrash):
        _store(dying).segments.finish_batch(send_id, 0, "email", 0, 2_000, _lost("email", range(1_500), "Throttling"))
    assert store.segments.finish_batch(send_id, 0, "email", 0, 2_000, _lost("email", range(300), "InvalidAddress"))
    assert not store.segments.finish_batch(
        send_id, 0, "email", 0, 2_000, _lost("email", range(1_000, 2_000), "MessageRejected")
    )

    record = store.records.get(send_id)
    assert record is not None
    assert (record.counts["email"]["sent"], record.counts["email"]["failed"]) == (1_700, 300)
    assert _failures(store, send_id) == [(f"u{i:05d}", "email", "InvalidAddress") for i in range(300)]


def test_a_losing_planning_attempt_lists_none_of_its_missing_users(servers: Servers) -> None:
    """planned: the attempt that lost the conditional write lists nothing, whatever its audience."""
    send_id = uuid.uuid4().hex
    store = _store()
    store.records.create(send_id, "caller", ["email", "sms"])
    winner = _lost("email", range(2), "user not found") + _lost("sms", range(2), "user not found")
    loser = _lost("email", range(2_000), "user not found") + _lost("sms", range(2_000), "user not found")

    assert store.records.planned(send_id, "first", 10, winner, 1, ["email", "sms"])
    assert not store.records.planned(send_id, "second", 10, loser, 1, ["email", "sms"])

    record = store.records.get(send_id)
    assert record is not None
    assert (record.not_found, record.counts["email"]["failed"], record.counts["sms"]["failed"]) == (2, 2, 2)
    assert sorted(_failures(store, send_id)) == sorted((f.userId, f.channel, f.error) for f in winner)


def test_a_group_too_large_for_one_transaction_is_committed_whole_and_paged_across_its_pages(
    servers: Servers,
) -> None:
    """40,000 failures (a segment's unsent on four channels): staged pages, one committed item
    naming them; pages of any size go through them in order, and a repeat adds nothing."""
    send_id = uuid.uuid4().hex
    store = _store()
    store.records.create(send_id, "caller", ["email"])
    many = _lost("email", range(40_000), "not attempted: the dispatcher gave up " + "x" * 60)

    assert store.segments.finish(send_id, 0, {}, many)
    assert not store.segments.finish(send_id, 0, {}, many[:10])

    listed: list[tuple[str, str, str]] = []
    token: str | None = None
    while True:
        page, token = store.failures.page(send_id, 777, token)
        listed += [(f.userId, f.channel, f.error) for f in page]
        if token is None:
            break
    assert listed == [(f.userId, f.channel, f.error) for f in many]
    record = store.records.get(send_id)
    assert record is not None
    assert record.counts["email"]["failed"] == 40_000
