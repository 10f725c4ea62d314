"""`Prefer: respond-async` is found in either header map of an API Gateway event, whatever its case."""

from __future__ import annotations

import pytest

from messaging.prefer import prefers_async


@pytest.mark.parametrize(
    ("headers", "multi_value_headers", "asynchronous"),
    [
        ({"Prefer": "respond-async"}, None, True),
        ({"prefer": "return=minimal, respond-async"}, {}, True),
        (None, {"PREFER": ["wait=10", "respond-async"]}, True),
        ({"Prefer": "wait=10"}, {"Prefer": ["wait=10"]}, False),
        ({"X-Prefer": "respond-async"}, None, False),
        (None, None, False),
    ],
)
def test_prefer_is_read_from_either_header_map(
    headers: dict[str, str] | None, multi_value_headers: dict[str, list[str]] | None, asynchronous: bool
) -> None:
    assert prefers_async(headers, multi_value_headers) is asynchronous
