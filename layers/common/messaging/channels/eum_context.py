"""End User Messaging's `Context` (SendTextMessage, SendVoiceMessage): what its delivery events
carry back, naming the user and the send.

Its documented limits (API reference, and the botocore model's ContextMap/ContextKey/ContextValue):
at most 5 entries; a key of 1-100 characters without whitespace; a value of 1-800 characters that
neither starts nor ends with whitespace. A user id is any string (one found through a cluster has
no length bound): one that breaks them goes as the URL-safe base64 of its UTF-8 after `b64-`, as the
SES tags do (messaging.channels.email_tags.tag_value); one still too long goes without a `userId` (the
message is sent, its events are not counted) rather than failing the user.
"""

from __future__ import annotations

import base64
import binascii
import re

from messaging.channels.email_tags import ENCODED

MAX_VALUE = 800
VALUE = re.compile(r"(?!\s)^[\s\S]+(?<!\s)")
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def fits(value: str) -> bool:
    return 1 <= len(value) <= MAX_VALUE and VALUE.fullmatch(value) is not None


def context_value(value: str) -> str | None:
    """`value` as a Context value, reversibly (`decode_context_value`); None if it cannot fit."""
    if fits(value) and not value.startswith(ENCODED):
        return value
    encoded = ENCODED + base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
    return encoded if len(encoded) <= MAX_VALUE else None


def decode_context_value(value: str) -> str | None:
    """The id a Context value carries; None if it starts as an encoded one but is not."""
    if not value.startswith(ENCODED):
        return value or None
    data = value[len(ENCODED) :]
    if not _BASE64URL.fullmatch(data):
        return None
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode() or None
    except (binascii.Error, ValueError):
        return None


def make_context(user_id: str, send_id: str | None, batch_id: str | None) -> dict[str, str]:
    """Whose message, of which send and batch (the ids the API checked fit as they are)."""
    values = {"userId": context_value(user_id), "sendId": send_id, "batchId": batch_id}
    return {key: value for key, value in values.items() if value}
