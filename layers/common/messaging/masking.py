"""Contact data shown masked where a person reads it (POST /send/preview): enough to tell which
address or device a message would go to, not enough to use it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

TOKEN_TAIL = 6  # a push token's last characters shown
PHONE_TAIL = 4
PHONE_HEAD = 3  # the plus and two digits: the country, roughly


def mask_email(address: str) -> str:
    """`ann@example.org` -> `a***@example.org` (the domain stays: it tells a provider's problem apart)."""
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return "***"
    head = local[0] if len(local) > 1 else ""  # a one-letter local part is not shown whole
    return f"{head}***@{domain}"


def mask_phone(number: str) -> str:
    """`+393331234567` -> `+39******4567`."""
    if len(number) <= PHONE_HEAD + PHONE_TAIL:
        return "*" * len(number)
    hidden = len(number) - PHONE_HEAD - PHONE_TAIL
    return number[:PHONE_HEAD] + "*" * hidden + number[-PHONE_TAIL:]


def mask_token(token: str) -> str:
    """A device token: only its last characters, and never more than half of it."""
    tail = min(TOKEN_TAIL, len(token) // 2)
    return "***" + token[len(token) - tail :] if tail else "***"


# The channel messages' address fields (messaging.channels: EmailMessage.to, the phone channels'
# phoneNumber, PushMessage.token).
MASKS: Mapping[str, Callable[[str], str]] = {"to": mask_email, "phoneNumber": mask_phone, "token": mask_token}


def masked_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A channel message with its address masked; the texts stay whole."""
    return {
        key: MASKS[key](value) if key in MASKS and isinstance(value, str) and value else value
        for key, value in message.items()
    }
