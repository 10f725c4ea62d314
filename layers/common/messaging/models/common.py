"""Types shared by the request, configuration and payload models."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

# The registered channels (messaging.channels.registry, which refuses to load if they differ): a
# Literal, because the request schema and openapi.json list them.
Channel = Literal["email", "sms", "push", "voice"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)

NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]
# An E.164 number: "+", a non-zero country digit, at most 15 digits in all.
E164_PATTERN = r"^\+[1-9]\d{6,14}$"
# SNS alphanumeric sender ids: 1-11 letters, digits or hyphens, at least one letter.
SENDER_ID_PATTERN = r"^(?=.*[A-Za-z])[A-Za-z0-9-]{1,11}$"


def file_name_problem(name: str) -> str | None:
    """Why a File Service name cannot be fetched or sent safely, or None.

    `.` and `..` are path dot segments (an HTTP client resolves them: `..` would fetch the File
    Service's root); control characters (CR, LF, NUL, ...) and line separators cannot go in the
    attachment's MIME header.
    """
    if name in (".", ".."):
        return "must not be '.' or '..'"
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in name):
        return "must not contain control characters (CR, LF, NUL, ...)"
    return None


def _safe_file_name(name: str) -> str:
    problem = file_name_problem(name)
    if problem is not None:
        raise PydanticCustomError("file_name", problem)
    return name


# A file of the File Service, as the request body and the stored templates name it.
FileName = Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(_safe_file_name)]
