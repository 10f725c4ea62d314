"""Which locale variant a user gets (issue 24): exact tag in any letter case, else the language,
else the base texts; a malformed or hostile stored locale is no locale, never a failure. And the
date helpers' defaults from the user's zone and locale, explicit arguments winning."""

from __future__ import annotations

from typing import Any

import pytest

from messaging.locales import choose
from messaging.templates.context import RenderContext
from messaging.templates.renderer import Renderer
from messaging.templates.user_defaults import rendering_for

VARIANTS = ["it", "en-GB", "pt-BR"]


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en-GB", "en-GB"),  # exact
        ("EN-gb", "en-GB"),  # letter case aside, spelled as the variant is
        ("en_GB", "en-GB"),  # the POSIX spelling users' documents often hold
        ("it-IT", "it"),  # the language
        ("it-CH", "it"),
        ("IT", "it"),
        ("pt", None),  # a language does not reach a regional variant
        ("en-US", None),  # nor a sibling region
        ("fr", None),  # no variant: the base texts
        (None, None),
        ("", None),
        ("-", None),
        ("it--IT", None),
        ("i", None),
        ("it-" + "x" * 40, None),
        (" it ", "it"),
        (42, None),
        ({"$ne": None}, None),
        (["it"], None),
    ],
)
def test_the_variant_of_a_users_locale(locale: Any, expected: str | None) -> None:
    assert choose(locale, VARIANTS) == expected


def test_no_variants_means_the_base_for_everyone() -> None:
    assert choose("it-IT", []) is None


renderer = Renderer(cache_bytes=16 * 1024)
DATE = {"when": "2026-07-01T22:30:00Z"}


def _render(source: str, timezone: Any = None, locale: Any = None) -> str:
    with rendering_for(timezone, locale):
        return renderer.compile(source, "test").render(RenderContext({}, DATE))


@pytest.mark.parametrize(
    ("timezone", "expected"),
    [
        ("Europe/Rome", "02/07 00:30"),  # the user's zone: already the next day there
        ("America/New_York", "01/07 18:30"),
        (None, "01/07 22:30"),  # no zone: UTC, as before
        ("Mars/Olympus", "01/07 22:30"),  # not a zone: UTC, never the user's failure
        ("../../etc/passwd", "01/07 22:30"),
        ("x" * 300, "01/07 22:30"),
    ],
)
def test_dates_default_to_the_users_time_zone(timezone: Any, expected: str) -> None:
    assert _render('{{dateFormat data.when format="DD/MM HH:mm"}}', timezone) == expected
    assert _render('{{moment data.when "DD/MM HH:mm"}}', timezone) == expected


def test_an_explicit_zone_or_locale_wins_over_the_users() -> None:
    assert _render('{{dateFormat data.when format="HH:mm" tz="Asia/Tokyo"}}', "Europe/Rome") == "07:30"
    assert _render('{{toLocale 1234.5 locale="en-US"}}', locale="it-IT") == "1,234.5"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("it-IT", "1.234,5"),
        ("de_DE", "1.234,5"),
        (None, "1,234.5"),  # DEFAULT_LOCALE
        ("zz-ZZ", "1,234.5"),  # a tag Babel does not know: the default, never a failure
        ({"$gt": ""}, "1,234.5"),
    ],
)
def test_to_locale_defaults_to_the_users_locale(locale: Any, expected: str) -> None:
    assert _render("{{toLocale 1234.5}}", locale=locale) == expected
