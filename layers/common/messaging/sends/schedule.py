"""When a send with `sendAt` goes out: the rules of the field, as plain data (no AWS, no clock of
its own: `now` is given).

`sendAt` is an RFC 3339 date-time with an offset (`2026-12-07T09:00:00+01:00`, `...Z`). More than
`PAST_GRACE_S` in the past, or more than `SCHEDULE_MAX_DAYS` ahead: refused. Within the grace (a
clock a little behind, a request slow to arrive): sent now, as without `sendAt`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from messaging.errors import BadRequest

PAST_GRACE_S = 60
DEFAULT_MAX_DAYS = 365
# RFC 3339's date-time: the offset is required (a time without one is no moment at all).
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def parse_send_at(value: str) -> datetime:
    """The moment `value` names, in UTC; BadRequest naming `sendAt` if it names none."""
    if not _RFC3339.match(value):
        if re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", value):
            raise BadRequest("sendAt: an offset is required (`Z` or `+01:00`): the moment is ambiguous without one")
        raise BadRequest("sendAt: not an RFC 3339 date-time (e.g. 2026-12-07T09:00:00+01:00)")
    text = value.upper().replace(" ", "T").replace("Z", "+00:00")
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) > 6:  # Python reads microseconds at most
        text = text.replace(fraction.group(0), "." + fraction.group(1)[:6])
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError as exc:  # 2026-02-30, 25:00, an offset of +24:00
        raise BadRequest("sendAt: not a valid date-time") from exc
    except OverflowError as exc:  # 9999-12-31T23:59:59-23:59: after the last moment Python can name in UTC
        raise BadRequest("sendAt: outside the years 1 to 9999 in UTC") from exc


def scheduled_at(value: str | None, now: datetime, max_days: int = DEFAULT_MAX_DAYS) -> datetime | None:
    """The UTC moment to send at, or None to send now (no `sendAt`, or within the past grace)."""
    if value is None:
        return None
    moment = parse_send_at(value)
    if moment < now - timedelta(seconds=PAST_GRACE_S):
        raise BadRequest(f"sendAt: more than {PAST_GRACE_S} s in the past")
    if moment > now + timedelta(days=max_days):
        raise BadRequest(f"sendAt: more than {max_days} days ahead (SCHEDULE_MAX_DAYS)")
    if moment <= now:
        return None
    return moment


def schedule_expression(moment: datetime) -> str:
    """EventBridge Scheduler's one-time expression, in UTC, to the second (it fires within the minute)."""
    return f"at({moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')})"
