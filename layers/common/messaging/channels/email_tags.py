"""SES message tags naming a message's user and send: what SES returns in the message's delivery
events (`mail.tags`), read back by messaging.feedback. Tag names and values are ASCII letters,
digits, `_` and `-`, at most 256 characters; an id that is not goes as the URL-safe base64 of its
UTF-8 after `b64-` (End User Messaging's Context does the same: messaging.channels.eum_context)."""

from __future__ import annotations

import base64
import binascii
import re

_TAG_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
ENCODED = "b64-"  # a value starting so is the URL-safe base64 (unpadded) of the id
SEND_ID_TAG = "sendId"
USER_ID_TAG = "userId"


def tag_value(value: str) -> str | None:
    """An id as an SES tag value, reversibly (`decode_tag`); None if it cannot fit 256 characters."""
    if _TAG_SAFE.fullmatch(value) and not value.startswith(ENCODED):
        return value
    encoded = ENCODED + base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
    return encoded if len(encoded) <= 256 else None


def decode_tag(value: str) -> str | None:
    """The id a tag value carries; None if it is not one `tag_value` makes."""
    if not _TAG_SAFE.fullmatch(value):
        return None
    if not value.startswith(ENCODED):
        return value
    data = value[len(ENCODED) :]
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode() or None
    except (binascii.Error, ValueError):
        return None
