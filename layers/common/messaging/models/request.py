"""The body of POST /send (seed-usage.md): every rule that needs no configuration or database."""

from __future__ import annotations

from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from messaging.models.common import Channel, NonEmptyStr
from messaging.validation import CROSS_FIELD

ObjectIdStr = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{24}$", description="24-hex ObjectId")]
# Strings only: a JSON object here ({"$ne": null}) would otherwise reach MongoDB as an operator.
UserId = Annotated[str, Field(min_length=1, max_length=512)]
# SES accepts at most 50 recipients per message: the user plus CC and BCC.
MAX_COPIES = 49


def _valid_addresses(values: list[str]) -> list[str]:
    kept: list[str] = []
    for value in values:
        try:
            address = validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError:
            continue
        if address not in kept:
            kept.append(address)
    return kept


class SendRequest(BaseModel):
    """One message to many users over several channels; exactly as the seed's usage page reads."""

    model_config = ConfigDict(extra="forbid")

    channels: Annotated[list[Channel], Field(min_length=1, description="subset of activeChannels")]
    recipients: list[UserId] | None = Field(default=None, description="user ids; required without clusters")
    clusters: list[NonEmptyStr] | None = Field(default=None, description="required without recipients")
    messageTitle: str | None = Field(default=None, description="e-mail subject and push title")
    messageContent: str | None = Field(default=None, description="body of every channel")
    templateId: ObjectIdStr | None = None
    data: dict[str, Any] = Field(default_factory=dict, description="interpolation input")
    emailAttachments: list[NonEmptyStr] | None = None
    emailCarbonCopies: list[str] = Field(default_factory=list, description="invalid addresses are dropped")
    emailBlindCarbonCopies: list[str] = Field(default_factory=list, description="invalid addresses are dropped")
    emailSender: EmailStr | None = None

    @field_validator("channels")
    @classmethod
    def _no_duplicate_channels(cls, channels: list[Channel]) -> list[Channel]:
        if len(set(channels)) != len(channels):
            raise PydanticCustomError("duplicate", "must not repeat a channel")
        return channels

    @field_validator("emailCarbonCopies", "emailBlindCarbonCopies")
    @classmethod
    def _drop_invalid_addresses(cls, values: list[str]) -> list[str]:
        return _valid_addresses(values)

    @model_validator(mode="after")
    def _cross_field_rules(self) -> SendRequest:
        if not self.recipients and not self.clusters:
            raise PydanticCustomError(CROSS_FIELD, "recipients or clusters is required (non-empty)")
        if self.templateId is None:
            for name in ("messageTitle", "messageContent"):
                if getattr(self, name) is None:
                    raise PydanticCustomError(CROSS_FIELD, f"{name} is required without templateId")
        if len(self.emailCarbonCopies) + len(self.emailBlindCarbonCopies) > MAX_COPIES:
            raise PydanticCustomError(
                CROSS_FIELD,
                f"emailCarbonCopies and emailBlindCarbonCopies hold at most {MAX_COPIES} addresses together",
            )
        return self
