"""Fixtures of the asynchronous-send tests (tests/integration/async_sends.py holds their helpers)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from tests.conftest import ApiCall
from tests.integration.async_sends import CROWD, Async, _crowd
from tests.lambda_runtime import EventQueue, InProcessInvoker


@pytest.fixture
def crowd(db: Any) -> list[dict[str, Any]]:
    users = _crowd(CROWD)
    db.users.insert_many([dict(user) for user in users])
    return users


@pytest.fixture
def run(
    api: ApiCall,
    functions: dict[str, ModuleType],
    invoker: InProcessInvoker,
    monkeypatch: pytest.MonkeyPatch,
) -> Async:
    send, dispatch = functions["send"], functions["dispatch"]
    queue = EventQueue()
    monkeypatch.setattr(send.parts, "launcher", queue)
    engine = dispatch.dispatcher
    monkeypatch.setattr(engine, "launcher", queue)
    # A generous function timeout: on a loaded machine a 10 s one would turn batches unknown.
    monkeypatch.setattr(engine, "invoker", InProcessInvoker(invoker.handlers, timeout_s=60))
    monkeypatch.setattr(engine, "sleep", lambda seconds: None)
    monkeypatch.setattr(engine, "settings", engine.settings.model_copy(update={"segment_users": 500}))
    return Async(api, send, dispatch, queue)
