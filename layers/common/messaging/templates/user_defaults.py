"""The user being rendered's time zone and locale: the date helpers' defaults when a template names
none (`dateFormat` without `tz`, `toLocale` without `locale`). Set around each render; a stored
value that is no zone or no locale is dropped here or where it is used, never a failure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from zoneinfo import ZoneInfo

from messaging.locales import user_tag

_MAX_ZONE = 64  # the longest IANA name is about 30 characters


@lru_cache(maxsize=1024)
def valid_zone(value: str | None) -> str | None:
    """An IANA zone the helpers can use, or None."""
    if not isinstance(value, str) or not value or len(value) > _MAX_ZONE:
        return None
    try:
        ZoneInfo(value)
    except (ValueError, KeyError, OSError):  # unknown names, paths, NUL: no zone
        return None
    return value


_CURRENT: ContextVar[tuple[str | None, str | None]] = ContextVar("user_defaults", default=(None, None))


def zone() -> str | None:
    return _CURRENT.get()[0]


def locale() -> str | None:
    return _CURRENT.get()[1]


@contextmanager
def rendering_for(timezone: str | None, locale_tag: str | None) -> Iterator[None]:
    token = _CURRENT.set((valid_zone(timezone), user_tag(locale_tag)))
    try:
        yield
    finally:
        _CURRENT.reset(token)
