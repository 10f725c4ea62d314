"""`sendAt`: the moments it names, when it is sent now, and every refusal (each naming `sendAt`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from messaging.errors import BadRequest
from messaging.sends.schedule import parse_send_at, schedule_expression, scheduled_at

NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-07T09:00:00+01:00", datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),
        ("2026-12-07T08:00:00Z", datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),
        ("2026-12-07t08:00:00z", datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),
        ("2026-12-07T03:30:00.123456789-04:30", datetime(2026, 12, 7, 8, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_a_date_time_with_an_offset_names_one_utc_moment(value: str, expected: datetime) -> None:
    assert parse_send_at(value) == expected
    assert scheduled_at(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-12-07T09:00:00", "an offset is required"),
        ("2026-12-07 09:00", "an offset is required"),
        ("2026-12-07", "not an RFC 3339 date-time"),
        ("tomorrow", "not an RFC 3339 date-time"),
        ("1733568000", "not an RFC 3339 date-time"),
        ("2026-02-30T09:00:00Z", "not a valid date-time"),
        ("2026-12-07T25:00:00Z", "not a valid date-time"),
        ((NOW - timedelta(seconds=61)).isoformat(), "more than 60 s in the past"),
        ((NOW - timedelta(days=400)).isoformat(), "more than 60 s in the past"),
        ((NOW + timedelta(days=365, seconds=1)).isoformat(), "more than 365 days ahead"),
    ],
)
def test_every_refusal_names_send_at(value: str, reason: str) -> None:
    with pytest.raises(BadRequest) as refused:
        scheduled_at(value, NOW)
    assert refused.value.message.startswith("sendAt: ")
    assert reason in refused.value.message


def test_within_the_past_grace_it_is_sent_now_and_a_year_ahead_is_scheduled() -> None:
    assert scheduled_at(None, NOW) is None
    assert scheduled_at((NOW - timedelta(seconds=59)).isoformat(), NOW) is None
    assert scheduled_at(NOW.isoformat(), NOW) is None
    year = NOW + timedelta(days=365)
    assert scheduled_at(year.isoformat(), NOW) == year
    assert scheduled_at((NOW + timedelta(seconds=1)).isoformat(), NOW) == NOW + timedelta(seconds=1)


def test_schedule_max_days_bounds_how_far_ahead() -> None:
    with pytest.raises(BadRequest, match="more than 30 days ahead"):
        scheduled_at((NOW + timedelta(days=31)).isoformat(), NOW, max_days=30)


def test_the_schedule_expression_is_a_one_time_utc_at() -> None:
    assert schedule_expression(parse_send_at("2026-12-07T09:00:30+01:00")) == "at(2026-12-07T08:00:30)"
