"""A stored message template (templates collection)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from messaging.models.common import FileName


class TemplateAttachment(BaseModel):
    model_config = ConfigDict(extra="allow")

    file: FileName


class MessageTemplate(BaseModel):
    # Stored documents may carry fields of their own (timestamps, owners): they are ignored.
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    emailTitle: str | None = None
    emailMessage: str | None = None
    emailHtmlMessage: str | None = None
    emailAttachments: list[TemplateAttachment] = Field(default_factory=list)
    smsMessage: str | None = None
    pushTitle: str | None = None
    pushSubtitle: str | None = None
    pushMessage: str | None = None
    pushData: dict[str, Any] | None = None
    # A missing variable or unknown helper is a 400 naming it; None: the service's strictTemplates.
    strict: bool | None = None
