"""Which locale variant a user gets (issue 24): exact tag in any letter case, else the language,
else the base texts; a malformed or hostile stored locale is no locale, never a failure."""

from __future__ import annotations

from typing import Any

import pytest

from messaging.locales import choose

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
