"""The preview's masks against hostile contact data: never the whole value, whatever its shape."""

from __future__ import annotations

from messaging.masking import masked_message


def test_no_mask_shows_a_short_or_odd_value_whole() -> None:
    cases = {
        ("to", "a@example.com"): "***@example.com",  # the one-letter local part is not shown
        ("to", "\u00e9\u00e9@ex\u00e4mple.com"): "\u00e9***@ex\u00e4mple.com",
        ("to", "no-at-sign"): "***",
        ("phoneNumber", "+1"): "**",
        ("phoneNumber", "+39 333 123 4567"): "+39*********4567",
        ("token", "ab"): "***b",
        ("token", "x"): "***",
    }
    for (key, value), expected in cases.items():
        assert masked_message({key: value, "text": value})[key] == expected
        assert masked_message({key: value, "text": value})["text"] == value  # the texts stay whole
