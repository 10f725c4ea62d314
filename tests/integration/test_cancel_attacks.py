"""Cancels meeting the dispatcher's other rules: a segment rendered a part at a time under a
deadline, the no-progress guard, give-up. Rendering's cost is the fake clock of
test_async_render_limits (no real slowness, no timing asserted)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from messaging.sends import cancel as cancel_module
from messaging.sends.give_up import finish_if_done
from messaging.sends.persistence.records import SendRecords
from messaging.sends.states import SendState
from messaging.templates.compose import Composer
from tests.conftest import Servers
from tests.integration.async_sends import Async, _emails, _metric_sums
from tests.integration.test_async_render_limits import EIGHT, USERS, _margin, _slow_rendering
from tests.integration.test_scheduled_sends import _counts_add_up, _delete
from tests.lambda_runtime import SandboxCrash


@pytest.fixture
def eight(db: Any) -> None:
    db.users.insert_many(
        [
            {"_id": f"r{i}", "name": f"R{i}", "clusters": ["eight"], "emailAddress": f"r{i}@example.com"}
            for i in range(USERS)
        ]
    )


def test_a_cancel_while_a_continuation_renders_ends_the_send_cancelled_not_stalled(
    run: Async,
    eight: None,
    servers: Servers,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    _slow_rendering(monkeypatch, seconds_per_user=1.0)  # 8 s invocations, 3 s margin: ~3 users each
    _margin(run, monkeypatch, 3.0)
    _, body = run.post(EIGHT)
    send_id = body["sendId"]
    renders = [0]
    slow = Composer.messages

    def cancelled_at_the_fifth(self: Composer, recipient: Any) -> Iterator[Any]:
        renders[0] += 1
        if renders[0] == 5:  # in the continuation, before its part is sent
            assert _delete(run, send_id)[1]["status"] == "cancelling"
        yield from slow(self, recipient)

    monkeypatch.setattr(Composer, "messages", cancelled_at_the_fifth)
    run.drain(remaining_ms=8_000, limit=20)

    status = run.status(send_id)
    assert status["status"] == "cancelled"
    _counts_add_up(status)
    email = status["channels"]["email"]
    sent = len(_emails(servers))
    assert (email["sent"], email["failed"], email["cancelled"]) == (sent, 0, USERS - sent)
    assert 0 < sent < 5  # only what the first invocation sent, before the cancel
    assert run.failures(send_id) == []
    assert ("SegmentsStalled", "") not in _metric_sums(capsys.readouterr().out)


def test_a_cancelled_send_whose_dispatcher_is_killed_on_every_try_ends_cancelled_not_failed(
    run: Async, eight: None, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = run.dispatch.dispatcher
    real_invoker, real_release = engine.invoker, engine.sends.segments.release
    monkeypatch.setattr(
        engine, "settings", engine.settings.model_copy(update={"render_budget_bytes": 1, "dispatch_margin_s": 1.0})
    )
    _, body = run.post(EIGHT)
    send_id = body["sendId"]
    invokes, killed = [0], [False]

    def cancelled_then_killed(function_name: str, payload: bytes) -> bytes:
        invokes[0] += 1
        if invokes[0] == 1:
            assert _delete(run, send_id)[1]["status"] == "cancelling"
        real_invoker(function_name, payload)
        killed[0] = True
        raise SandboxCrash("Runtime.OutOfMemory")  # after the channel function sent, on every try

    def release(send_id: str, segment: int, owner: str) -> None:
        if not killed[0]:  # the process is gone: no cleanup of its own runs, its lease stays
            real_release(send_id, segment, owner)
        killed[0] = False

    monkeypatch.setattr(engine, "invoker", cancelled_then_killed)
    monkeypatch.setattr(engine.sends.segments, "release", release)
    run.drain(remaining_ms=20_000)

    status = run.status(send_id)
    assert status["status"] == "cancelled"  # cancelling moves only to cancelled (the states table)
    _counts_add_up(status)
    email = status["channels"]["email"]
    assert len(_emails(servers)) == 1  # the one batch in flight at the cancel, once
    # Its user may have been reached: unknown (failed); nobody else was attempted: cancelled.
    assert (email["pending"], email["failed"], email["cancelled"]) == (0, 1, USERS - 1)
    assert [f["userId"] for f in run.failures(send_id)] == ["r0"]


def test_a_cancel_landing_between_the_last_segments_read_and_its_finish_ends_the_send_cancelled(
    run: Async, eight: None, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finish read `running`, a DELETE then answered `cancelling`: the send must not end
    `completed` (a move the states table refuses) but `cancelled`, everything counted sent."""
    _, body = run.post(EIGHT)
    send_id = body["sendId"]
    real_finish, raced = SendRecords.finish, [False]

    def cancelled_first(self: SendRecords, sid: str, status: SendState, reason: str | None = None) -> bool:
        if status == SendState.COMPLETED and not raced[0]:
            raced[0] = True
            assert _delete(run, send_id)[1]["status"] == "cancelling"
        return real_finish(self, sid, status, reason)

    # The DELETE's own look at the finished segments comes after the dispatcher's finish.
    deferred: list[tuple[Any, str]] = []
    monkeypatch.setattr(cancel_module, "finish_if_done", lambda sends, sid: deferred.append((sends, sid)))
    monkeypatch.setattr(SendRecords, "finish", cancelled_first)
    run.drain()
    for sends, sid in deferred:
        finish_if_done(sends, sid)

    assert raced[0]
    status = run.status(send_id)
    assert status["status"] == "cancelled"
    _counts_add_up(status)
    email = status["channels"]["email"]
    assert (email["sent"], email["cancelled"]) == (USERS, 0) == (len(_emails(servers)), 0)
