"""Hostile `sendAt` values through the API: each a 400 naming `sendAt`, never a 500, nothing scheduled."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.conftest import SCHEDULE_GROUP, Servers
from tests.integration.async_sends import PATIENTS, Async


def _schedules() -> list[str]:
    return [s["Name"] for s in boto3.client("scheduler").list_schedules(GroupName=SCHEDULE_GROUP)["Schedules"]]


@pytest.mark.parametrize(
    "send_at",
    [
        "9999-12-31T23:59:59-23:59",  # a moment after the last one Python can name
        "0001-01-01T00:00:00+01:00",  # and one before the first
        "2026-12-31T23:59:60Z",  # a leap second
        "2026-12-07T24:00:00Z",
        "2026-12-07T10:00:00+99:00",
        "2026-12-07T10:00:00Z\n",
        "\uff12\uff10\uff12\uff16-12-07T10:00:00Z",  # full-width digits
        "2026-12-07T10:00:00.1234567890123Z",
        20261207,
        1.5,
        True,
        ["2026-12-07T10:00:00Z"],
        {"at": "2026-12-07T10:00:00Z"},
        "x" * 65,
    ],
)
def test_a_hostile_send_at_is_a_400_naming_it_never_a_500(run: Async, servers: Servers, send_at: Any) -> None:
    before = _schedules()
    status_code, answer = run.api({**PATIENTS, "sendAt": send_at})
    assert status_code == 400, answer
    assert "sendAt" in answer["message"]
    assert _schedules() == before
    assert run.queue.launched == []
    assert servers.outbox.emails() == []
