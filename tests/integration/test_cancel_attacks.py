"""Cancels meeting the dispatcher's other rules: a segment rendered a part at a time under a
deadline, the no-progress guard, give-up. Rendering's cost is the fake clock of
test_async_render_limits (no real slowness, no timing asserted)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from messaging.templates.compose import Composer
from tests.conftest import Servers
from tests.integration.async_sends import Async, _emails, _metric_sums
from tests.integration.test_async_render_limits import EIGHT, USERS, _margin, _slow_rendering
from tests.integration.test_scheduled_sends import _counts_add_up, _delete


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
