"""Types shared by the request, configuration and payload models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

Channel = Literal["email", "sms", "push"]
CHANNELS: tuple[Channel, ...] = ("email", "sms", "push")

NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]
# An E.164 number: "+", a non-zero country digit, at most 15 digits in all.
E164_PATTERN = r"^\+[1-9]\d{6,14}$"
# SNS alphanumeric sender ids: 1-11 letters, digits or hyphens, at least one letter.
SENDER_ID_PATTERN = r"^(?=.*[A-Za-z])[A-Za-z0-9-]{1,11}$"
