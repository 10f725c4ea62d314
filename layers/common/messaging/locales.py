"""Which locale variant of a message a user gets: the variant of their exact tag (letter case
aside), else of its language (`it-CH` -> `it`), else none (the base texts). A user's tag that is
not a BCP 47 shape (or not a string at all) is no locale: the base texts, never a failure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import Field

# Limits of a `locales` object (a request's or a stored template's), named in the 400s.
MAX_LOCALES = 50
MAX_TAG = 35  # RFC 5646's longest well-formed tag a registry holds (with extensions, less than that)
# A language (2-8 letters) and subtags of 1-8 letters or digits: the shape, not the registry.
TAG_PATTERN = r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$"
_TAG = re.compile(TAG_PATTERN)

LocaleTag = Annotated[str, Field(min_length=2, max_length=MAX_TAG, pattern=TAG_PATTERN)]


def user_tag(value: Any) -> str | None:
    """A user's locale as stored: a well-formed tag (`it_IT` is read as `it-IT`), or None."""
    if not isinstance(value, str) or len(value) > MAX_TAG:
        return None
    tag = value.strip().replace("_", "-")
    return tag if _TAG.match(tag) else None


def choose(locale: Any, tags: Iterable[str]) -> str | None:
    """The variant (one of `tags`, as spelled there) for a user's locale, or None for the base."""
    tag = user_tag(locale)
    if tag is None:
        return None
    by_lower = {each.lower(): each for each in tags}
    wanted = tag.lower()
    if wanted in by_lower:
        return by_lower[wanted]
    return by_lower.get(wanted.split("-", 1)[0])


def repeated_tags(tags: Iterable[str]) -> list[str]:
    """Tags that name the same variant as an earlier one (`it` and `IT`)."""
    seen: set[str] = set()
    repeated = []
    for tag in tags:
        if tag.lower() in seen:
            repeated.append(tag)
        seen.add(tag.lower())
    return repeated
