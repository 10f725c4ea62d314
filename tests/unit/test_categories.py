"""What a user's stored preferences refuse of a category (issue 24): `false` every channel, an
object the channels set to `false`; any other shape refuses nothing and never raises."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from messaging.categories import refused_channels
from messaging.models.common import CHANNELS
from messaging.models.config import ServiceConfig


@pytest.mark.parametrize(
    ("preferences", "category", "expected"),
    [
        ({"newsletter": False}, "newsletter", set(CHANNELS)),
        ({"newsletter": {"email": False}}, "newsletter", {"email"}),
        ({"newsletter": {"email": False, "sms": True, "fax": False}}, "newsletter", {"email"}),
        ({"newsletter": False}, "reminders", set()),
        ({"newsletter": False}, None, set()),  # a category-less message: only optOuts govern it
        ({"newsletter": True}, "newsletter", set()),
        ({"newsletter": "false"}, "newsletter", set()),
        ({"newsletter": 0}, "newsletter", set()),
        ({"newsletter": {"email": 0, "sms": None}}, "newsletter", set()),
        ({"newsletter": ["email"]}, "newsletter", set()),
        (["newsletter"], "newsletter", set()),
        ("newsletter", "newsletter", set()),
        (None, "newsletter", set()),
        (12, "newsletter", set()),
    ],
)
def test_what_preferences_refuse(preferences: Any, category: str | None, expected: set[str]) -> None:
    assert refused_channels(preferences, category) == expected


@pytest.mark.parametrize(
    "categories", [["newsletter", "newsletter"], ["messages"], ["a b"], [f"c{i}" for i in range(20)]]
)
def test_the_configuration_refuses_categories_that_cannot_be_topics(categories: list[str]) -> None:
    with pytest.raises(ValidationError, match="categories"):
        ServiceConfig.model_validate({"activeChannels": ["sms"], "sender": {"sms": "ACME"}, "categories": categories})
