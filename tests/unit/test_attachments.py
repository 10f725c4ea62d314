"""Attachment names as File Service file names, never URLs."""

from __future__ import annotations

import pytest

from messaging.attachments import content_type


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "application/pdf"),
        ("scans/x.PDF", "application/pdf"),
        ("notes", "application/octet-stream"),
        # Read as data URLs, these chose their own type, one of them an invalid MIME header.
        ("data:text/html,x", "application/octet-stream"),
        ("data:a b/c d,x", "application/octet-stream"),
    ],
)
def test_the_content_type_comes_from_the_name_s_extension_only(name: str, expected: str) -> None:
    assert content_type(name) == expected
