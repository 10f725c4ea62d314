"""A stored message template (templates collection): `name`, `strict`, and each registered
channel's own fields (`emailTitle`, `smsMessage`, `pushData`, `voiceMessage`...), as its spec
declares them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, create_model

from messaging.channels import registry


class TemplateBase(BaseModel):
    # Stored documents may carry fields of their own (timestamps, owners): they are ignored.
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    # A missing variable or unknown helper is a 400 naming it; None: the service's strictTemplates.
    strict: bool | None = None
    # A message users get whatever they opted out of; a request's `transactional: true` also makes it one.
    transactional: bool | None = None


_MessageTemplate: type[TemplateBase] = create_model(
    "MessageTemplate",
    __base__=TemplateBase,
    **{field: definition for spec in registry.specs() for field, definition in spec.template_fields.items()},
)
if TYPE_CHECKING:
    MessageTemplate = TemplateBase
else:
    MessageTemplate = _MessageTemplate
