"""make start's banner says where each channel's messages are, for the SMS provider it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.banner import summary
from local.stack import parse_args


@pytest.mark.parametrize(
    ("provider", "sms_at"),
    [("sns", "http://127.0.0.1:5000/moto-api/data.json"), ("end-user-messaging", "http://127.0.0.1:8092/messages")],
)
def test_the_banner_says_where_sms_go(provider: str, sms_at: str) -> None:
    text = summary(parse_args(["--sms-provider", provider]), ("in", "out"), Path("logs"), 70.0)
    [sms_line] = [line for line in text.splitlines() if "SMS" in line]
    assert sms_at in sms_line
    assert "ready in 70 s" in text
