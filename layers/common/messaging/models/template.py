"""A stored message template (templates collection): `name`, `strict`, and each registered
channel's own fields (`emailTitle`, `smsMessage`, `pushData`, `voiceMessage`...), as its spec
declares them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator
from pydantic_core import PydanticCustomError

from messaging.categories import CategoryName
from messaging.channels import registry
from messaging.locales import MAX_LOCALES, LocaleTag, repeated_tags


class TemplateBase(BaseModel):
    # Stored documents may carry fields of their own (timestamps, owners): they are ignored.
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    # A missing variable or unknown helper is a 400 naming it; None: the service's strictTemplates.
    strict: bool | None = None
    # A message users get whatever they opted out of; a request's `transactional: true` also makes it one.
    transactional: bool | None = None
    # One of the configuration's categories (a request's own wins).
    category: CategoryName | None = None
    # Variants by BCP 47 tag, each a partial set of the text fields above (checked when used).
    locales: dict[LocaleTag, dict[str, Any]] | None = Field(default=None, max_length=MAX_LOCALES)

    @field_validator("locales")
    @classmethod
    def _distinct_tags(cls, locales: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
        repeated = repeated_tags(locales or {})
        if repeated:
            raise PydanticCustomError("duplicate", f"repeats a tag in another letter case: {', '.join(repeated)}")
        return locales


_MessageTemplate: type[TemplateBase] = create_model(
    "MessageTemplate",
    __base__=TemplateBase,
    **{field: definition for spec in registry.specs() for field, definition in spec.template_fields.items()},
)
if TYPE_CHECKING:
    MessageTemplate = TemplateBase
else:
    MessageTemplate = _MessageTemplate
