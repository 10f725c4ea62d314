"""SES tag values allow only ASCII letters, digits, `_` and `-` (at most 256): user ids are
encoded reversibly so delivery events name the user exactly."""

from __future__ import annotations

import re

import pytest

from messaging.channels.email_tags import decode_tag, tag_value

ALLOWED = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@pytest.mark.parametrize(
    ("user_id", "plain"),
    [
        ("u1", True),
        ("65f0000000000000000000e5", True),
        ("a_b-C", True),
        ("alice@example.com", False),
        ("b64-looks-encoded", False),  # never read back as an encoding
        ("Dott. Rossi/ü", False),
        ("x" * 256, True),
        ("é" * 94, False),  # 188 bytes: the longest that fits once encoded
        ("u1\n", False),  # `$` matches before a final newline: the whole value must be allowed
    ],
)
def test_every_user_id_becomes_an_allowed_tag_value_and_comes_back_unchanged(user_id: str, plain: bool) -> None:
    value = tag_value(user_id)

    assert value is not None
    assert ALLOWED.fullmatch(value)
    assert (value == user_id) is plain
    assert decode_tag(value) == user_id


def test_an_id_too_long_for_a_tag_is_left_untagged_and_foreign_values_are_refused() -> None:
    assert tag_value("é" * 200) is None
    assert decode_tag("not allowed!") is None
    assert decode_tag("b64-%%%") is None
    assert decode_tag("u1\n") is None
