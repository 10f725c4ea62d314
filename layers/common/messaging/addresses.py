"""E-mail addresses as SES takes them: 7-bit, the domain IDNA-encoded (`user@xn--bcher-kva.de`).

SES has no SMTPUTF8: an address whose local part (before the @) is not ASCII cannot be sent at all,
and a non-ASCII domain goes only in its IDNA form, in the envelope and in the MIME headers alike.
"""

from __future__ import annotations

from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

NON_ASCII_LOCAL_PART = "it cannot be sent as 7-bit (non-ASCII local part)"
# A per-user failure: it never quotes the address (personal data in the response and the logs).
UNSENDABLE_ADDRESS = f"InvalidAddress: the address {NON_ASCII_LOCAL_PART.removeprefix('it ')}"


def _local_part_is_ascii(address: str) -> bool:
    return address.rpartition("@")[0].isascii()


def seven_bit(address: str) -> str:
    """The address validated and in 7-bit form; raises EmailNotValidError otherwise."""
    ascii_email = validate_email(address, check_deliverability=False, allow_smtputf8=False).ascii_email
    if ascii_email is None:  # only with SMTPUTF8 allowed, which it is not
        raise EmailNotValidError(NON_ASCII_LOCAL_PART)
    return ascii_email


def seven_bit_or_none(address: str) -> str | None:
    """For copies: invalid or unsendable ones are dropped."""
    try:
        return seven_bit(address)
    except EmailNotValidError:
        return None


def recipient_problem(address: str) -> tuple[str, str | None]:
    """A user's own address from the database → (the address to send to, or the failure reason).

    An ASCII address goes as stored (SES judges it, as before); a non-ASCII one is IDNA-encoded,
    or refused when its local part is not ASCII."""
    if address.isascii():
        return address, None
    if not _local_part_is_ascii(address):
        return address, UNSENDABLE_ADDRESS
    try:
        return seven_bit(address), None
    except EmailNotValidError:
        return address, "InvalidAddress: the address's domain cannot be IDNA-encoded"


def _validated(address: str) -> str:
    if not _local_part_is_ascii(address):
        raise PydanticCustomError("value_error", f"value is not a valid email address: {NON_ASCII_LOCAL_PART}")
    try:
        return seven_bit(address)
    except EmailNotValidError as exc:
        reason = {"reason": str(exc)}
        raise PydanticCustomError("value_error", "value is not a valid email address: {reason}", reason) from exc


# A sender: validated, 7-bit (IDNA domain); a non-ASCII local part is refused.
SevenBitAddress = Annotated[str, AfterValidator(_validated), WithJsonSchema({"type": "string", "format": "email"})]
