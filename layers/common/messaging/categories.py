"""Categories of messages (`newsletter`, `reminders`: the operator declares them) and what users
refused of them: `preferences` in the user's document, `{"newsletter": false}` (every channel) or
`{"newsletter": {"email": false}}` (those channels). Anything else in it refuses nothing: a
preferences value of another shape is the user's own business, never a failure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from messaging.models.common import CHANNELS, Channel

MAX_CATEGORIES = 19  # SES: a contact list holds at most 20 topics, one of them `messages`
# SES's topic names: letters, digits, `_` and `-`, at most 64 (the category is the topic).
CategoryName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def refused_channels(preferences: Any, category: str | None) -> frozenset[Channel]:
    """The channels on which the user refused messages of the category."""
    if category is None or not isinstance(preferences, Mapping):
        return frozenset()
    choice = preferences.get(category)
    if choice is False:
        return frozenset(CHANNELS)
    if isinstance(choice, Mapping):
        return frozenset(key for key, flag in choice.items() if key in CHANNELS and flag is False)
    return frozenset()
