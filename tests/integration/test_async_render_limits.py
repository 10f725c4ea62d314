"""A segment is rendered a part at a time: each part bounded by RENDER_BUDGET_BYTES and by the
deadline, and sent before the next is rendered; a continuation that counted no batch starts no
other (its users fail, SegmentsStalled is counted).

Rendering's cost is a fake clock that each user's render moves on, read by the invocations'
remaining time: no real slowness, no timing asserted."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

import tests.lambda_runtime
from messaging.templates.compose import Composer
from messaging.templates.errors import RenderDeadlineError
from tests.conftest import Servers
from tests.integration.async_sends import Async, _assert_counts_add_up, _emails, _metric_sums
from tests.lambda_runtime import LambdaContext

USERS = 8


@pytest.fixture
def eight(db: Any) -> list[str]:
    addresses = [f"r{i}@example.com" for i in range(USERS)]
    db.users.insert_many(
        [
            {"_id": f"r{i}", "name": f"R{i}", "clusters": ["eight"], "emailAddress": address}
            for i, address in enumerate(addresses)
        ]
    )
    return addresses


def _slow_rendering(monkeypatch: pytest.MonkeyPatch, seconds_per_user: float) -> None:
    """Each user's render moves a fake clock on; each invocation's remaining time reads it."""
    now = [0.0]
    render = Composer.messages

    def slow(self: Composer, recipient: Any) -> Iterator[Any]:
        now[0] += seconds_per_user
        yield from render(self, recipient)

    class Context(LambdaContext):
        def __init__(self, **fields: Any) -> None:
            super().__init__(**fields)
            self.started = now[0]

        def get_remaining_time_in_millis(self) -> int:
            return int(self.remaining_ms - (now[0] - self.started) * 1000)

    monkeypatch.setattr(Composer, "messages", slow)
    monkeypatch.setattr(tests.lambda_runtime, "LambdaContext", Context)


def _margin(run: Async, monkeypatch: pytest.MonkeyPatch, margin_s: float) -> None:
    engine = run.dispatch.dispatcher
    monkeypatch.setattr(engine, "settings", engine.settings.model_copy(update={"dispatch_margin_s": margin_s}))


EIGHT = {"channels": ["email"], "clusters": ["eight"], "messageTitle": "t", "messageContent": "Hi {{user.name}}"}


def test_slow_rendering_sends_what_it_rendered_before_the_deadline_and_continuations_finish_the_send(
    run: Async, eight: list[str], servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slow_rendering(monkeypatch, seconds_per_user=1.0)
    _margin(run, monkeypatch, 3.0)
    _, body = run.post(EIGHT)
    run.drain(remaining_ms=8_000, limit=20)  # 8 s invocations: rendering stops with 6 s left

    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    assert status["channels"]["email"]["sent"] == USERS
    assert _emails(servers) == Counter(eight)
    segment_events = [event for _, event in run.queue.launched if event.get("segment") == 0]
    assert 2 <= len(segment_events) <= USERS  # a few users per invocation, each continuation moved on


def test_a_continuation_that_sends_nothing_starts_no_other_and_its_users_fail_with_the_reason(
    run: Async,
    eight: list[str],
    servers: Servers,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    _slow_rendering(monkeypatch, seconds_per_user=10.0)  # one user outlasts a whole 8 s invocation
    _margin(run, monkeypatch, 3.0)
    _, body = run.post(EIGHT)
    run.drain(remaining_ms=8_000, limit=20)

    status = run.status(body["sendId"])
    assert status["status"] == "failed"
    assert (status["channels"]["email"]["failed"], status["channels"]["email"]["pending"]) == (USERS, 0)
    _assert_counts_add_up(status)
    failures = run.failures(body["sendId"])
    assert {f["userId"] for f in failures} == {f"r{i}" for i in range(USERS)}
    assert all("made no progress" in f["error"] for f in failures)
    assert servers.outbox.emails() == []
    segment_events = [event for _, event in run.queue.launched if event.get("segment") == 0]
    assert len(segment_events) == 2  # the first invocation, one continuation: no endless chain
    assert not run.queue.events
    assert _metric_sums(capsys.readouterr().out)[("SegmentsStalled", "")] == 1


def test_a_segment_holds_no_more_rendered_messages_than_the_budget_and_still_sends_everyone(
    run: Async, eight: list[str], servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = run.dispatch.dispatcher
    budget = 2_000_000
    monkeypatch.setattr(engine, "settings", engine.settings.model_copy(update={"render_budget_bytes": budget}))
    rendered = [0]
    render = Composer.messages

    def counted(self: Composer, recipient: Any) -> Iterator[Any]:
        rendered[0] += 1
        yield from render(self, recipient)

    sent, held, sizes = [0], [], []
    invoke = engine.invoker

    def invoker(function_name: str, payload: bytes) -> bytes:
        users = len(json.loads(payload)["messages"])
        held.append(rendered[0] - sent[0])  # rendered, not yet handed to a channel function
        sizes.append(len(payload) / users)
        sent[0] += users
        return bytes(invoke(function_name, payload))

    monkeypatch.setattr(Composer, "messages", counted)
    monkeypatch.setattr(engine, "invoker", invoker)
    # ~900 KB per user: fifteen times a 60 KB value, within every documented limit.
    big = {**EIGHT, "messageContent": "{{data.x}}" * 15, "data": {"x": "y" * 60_000}}
    code, body = run.post(big)
    assert code == 202, body
    run.drain()

    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    assert status["channels"]["email"]["sent"] == USERS
    assert _emails(servers) == Counter(eight)
    per_user = min(sizes)
    assert per_user > 800_000
    assert max(held) * per_user <= budget + per_user  # at most one user over the budget, never all eight


def test_a_render_cut_by_the_helper_deadline_sends_what_was_rendered_and_the_continuation_renders_that_user(
    run: Async, eight: list[str], servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalogue helper call past the render stop ends that user's render (RenderDeadlineError):
    the invocation must not fail; it sends the part it has and hands that user on."""
    render, renders, cut = Composer.messages, [0], []

    def past_the_stop_once(self: Composer, recipient: Any) -> Iterator[Any]:
        renders[0] += 1
        if renders[0] == 4:  # the fourth user's render meets the deadline at a helper call
            cut.append(recipient.user_id)
            raise RenderDeadlineError("past the render deadline")
        yield from render(self, recipient)

    monkeypatch.setattr(Composer, "messages", past_the_stop_once)
    _, body = run.post(EIGHT)
    run.drain(limit=20)

    assert cut
    assert run.queue.errors == []
    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    assert _emails(servers) == Counter(eight)
    continuations = [event for _, event in run.queue.launched if event.get("continuation")]
    assert len(continuations) == 1
