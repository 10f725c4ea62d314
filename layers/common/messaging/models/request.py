"""The body of POST /send (seed-usage.md): every rule that needs no configuration or database."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from messaging.addresses import SevenBitAddress, seven_bit_or_none
from messaging.categories import CategoryName
from messaging.locales import MAX_LOCALES, LocaleTag, repeated_tags
from messaging.models.common import Channel, FileName
from messaging.validation import CROSS_FIELD

ObjectIdStr = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{24}$", description="24-hex ObjectId")]
# Strings only: a JSON object here ({"$ne": null}) would otherwise reach MongoDB as an operator.
UserId = Annotated[str, Field(min_length=1, max_length=512)]
# SES accepts at most 50 recipients per message: the user plus CC and BCC.
MAX_COPIES = 49
# Limits against hostile or mistaken bodies; each is named in the 400 that enforces it.
MAX_RECIPIENTS = 10_000
MAX_CLUSTERS = 100
MAX_ATTACHMENTS = 10
MAX_TITLE = 1_000
MAX_CONTENT = 100_000
MAX_DATA_DEPTH = 10
MAX_DATA_BYTES = 64 * 1024
Cluster = Annotated[str, Field(min_length=1, max_length=256)]
Address = Annotated[str, Field(max_length=320)]


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    return 0


def _valid_addresses(values: list[str]) -> list[str]:
    """Invalid ones, and those that cannot be sent as 7-bit (non-ASCII local part), are dropped;
    the others are kept once each, their domain IDNA-encoded."""
    kept: list[str] = []
    for value in values:
        address = seven_bit_or_none(value)
        if address is not None and address not in kept:
            kept.append(address)
    return kept


class SendRequestLocale(BaseModel):
    """A request's texts in one language: either field may be left out (the base one is used).
    (Named after SendRequest so generated clients meet SendRequest first, as SendRequestPreview.)"""

    model_config = ConfigDict(extra="forbid")

    messageTitle: str | None = Field(default=None, max_length=MAX_TITLE, examples=["Ciao {{user.name}}"])
    messageContent: str | None = Field(default=None, max_length=MAX_CONTENT, examples=["Ciao, {{user.name}}!"])


EXAMPLE: dict[str, Any] = {
    "channels": ["email", "sms", "push"],
    "recipients": ["u1"],
    "clusters": ["patients"],
    "messageTitle": "Hello {{user.name}}",
    "messageContent": "Hello, {{user.name}}! Your appointment is dated "
    '{{dateFormat data.appointmentDate format="DD/MM/YYYY" tz="Europe/Rome"}}',
    "data": {"appointmentDate": "2026-12-01T09:00:00Z"},
}


class SendRequest(BaseModel):
    """One message to many users over several channels; exactly as the seed's usage page reads.

    Rules across fields, each a 400 naming them:
    - `recipients` or `clusters` is required and non-empty; with both, every user is sent to once.
    - Without `templateId`, `messageTitle` and `messageContent` are both required; with it, the stored
      template's texts are sent (and its attachments, by e-mail) and they are ignored.
    - `emailCarbonCopies` and `emailBlindCarbonCopies` hold at most 49 addresses together.
    - Every channel must be in the service configuration's `activeChannels`.
    Texts are Handlebars templates of `user` (the allow-listed user fields) and `data`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    channels: Annotated[
        list[Channel],
        Field(
            min_length=1,
            description="subset of activeChannels, each at most once",
            examples=[["email", "sms", "push"]],
        ),
    ]
    recipients: list[UserId] | None = Field(
        default=None,
        max_length=MAX_RECIPIENTS,
        description="user ids (the users collection's id field, an ObjectId in any letter case names one user); "
        "required without clusters",
        examples=[["u1", "65f0000000000000000000e5"]],
    )
    clusters: list[Cluster] | None = Field(
        default=None,
        max_length=MAX_CLUSTERS,
        description="every user in any of these clusters; required without recipients",
        examples=[["patients"]],
    )
    messageTitle: str | None = Field(
        default=None,
        max_length=MAX_TITLE,
        description="e-mail subject and push title; required without templateId",
        examples=["Hello {{user.name}}"],
    )
    messageContent: str | None = Field(
        default=None,
        max_length=MAX_CONTENT,
        description="body of every channel; required without templateId",
        examples=['Hello, {{user.name}}! See you on {{dateFormat data.date format="DD/MM/YYYY"}}'],
    )
    locales: dict[LocaleTag, SendRequestLocale] | None = Field(
        default=None,
        max_length=MAX_LOCALES,
        description="the texts in other languages, by BCP 47 tag: a user gets the variant of their locale "
        "(userFields.locale), the exact tag in any letter case, else its language (`it-CH` -> `it`), else the "
        "base texts; a field a variant leaves out is the base one. Ignored with templateId (the template's own "
        f"`locales` are used). At most {MAX_LOCALES} tags",
        examples=[{"it": {"messageTitle": "Ciao {{user.name}}", "messageContent": "Ciao, {{user.name}}!"}}],
    )
    category: CategoryName | None = Field(
        default=None,
        description="what kind of message this is, one of the configuration's `categories` (else a 400): users "
        'who refused it in their preferences (`{"newsletter": false}`, `{"newsletter": {"email": false}}`) '
        "are skipped (`optedOut`) unless the message is transactional; wins over the template's own",
        examples=["newsletter"],
    )
    templateId: ObjectIdStr | None = Field(
        default=None,
        description="a stored template (24-hex ObjectId): its texts replace messageTitle and messageContent",
        examples=["65f100000000000000000001"],
    )
    data: dict[str, Any] = Field(
        default_factory=dict,
        description=f"interpolation input: at most {MAX_DATA_DEPTH} levels deep and {MAX_DATA_BYTES} bytes as JSON",
        examples=[{"appointmentDate": "2026-12-01T09:00:00Z", "note": "bring your card"}],
    )
    emailAttachments: list[FileName] | None = Field(
        default=None,
        max_length=MAX_ATTACHMENTS,
        description="File Service names, at most 15 MB in all; not '.', '..' nor with control characters",
        examples=[["report.pdf"]],
    )
    emailCarbonCopies: list[Address] = Field(
        default_factory=list,
        max_length=MAX_COPIES,
        description="invalid addresses are dropped; with emailBlindCarbonCopies at most 49 together",
        examples=[["desk@example.com"]],
    )
    emailBlindCarbonCopies: list[Address] = Field(
        default_factory=list,
        max_length=MAX_COPIES,
        description="invalid addresses are dropped; with emailCarbonCopies at most 49 together",
        examples=[["archive@example.com"]],
    )
    emailSender: SevenBitAddress | None = Field(
        default=None,
        description="overrides the configured sender; an address the SES identity covers, ASCII local part",
        examples=["clinic@example.com"],
    )
    transactional: bool = Field(
        default=False,
        description="a message the user must get whatever they opted out of (a receipt, a password reset): "
        "sent to users whose optOuts name the channel, without unsubscribe headers; a provider's own opt-out "
        "(an opted-out number) is then a failure, not a skip. The template's own `transactional` also makes it one",
        examples=[False],
    )

    sendAt: str | None = Field(
        default=None,
        max_length=64,
        json_schema_extra={"format": "date-time"},
        description="send later: an RFC 3339 date-time with an offset (`2026-12-07T09:00:00+01:00`, `...Z`), at "
        "most SCHEDULE_MAX_DAYS (365) ahead and at most 60 s past (then sent now). Makes the send asynchronous "
        "whatever `Prefer` says (202, status `scheduled`); the texts are fixed now, the audience when it runs. "
        "EventBridge Scheduler runs it within the minute; DELETE /sends/{sendId} cancels it",
        examples=["2026-12-07T09:00:00+01:00"],
    )

    reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        pattern=r"^[^\x00-\x1f\x7f-\x9f]+$",
        description="your own reference (at most 256 printable characters, opaque to the service): kept with the "
        "send and echoed in its status (GET /sends/{sendId}) and in its lifecycle events",
        examples=["order-2026-000123"],
    )

    @field_validator("channels")
    @classmethod
    def _no_duplicate_channels(cls, channels: list[Channel]) -> list[Channel]:
        if len(set(channels)) != len(channels):
            raise PydanticCustomError("duplicate", "must not repeat a channel")
        return channels

    @field_validator("locales")
    @classmethod
    def _distinct_tags(cls, locales: dict[str, SendRequestLocale] | None) -> dict[str, SendRequestLocale] | None:
        repeated = repeated_tags(locales or {})
        if repeated:
            raise PydanticCustomError("duplicate", f"repeats a tag in another letter case: {', '.join(repeated)}")
        return locales

    @field_validator("reference")
    @classmethod
    def _printable_reference(cls, reference: str | None) -> str | None:
        # The pattern refuses ASCII and C1 controls only: line and paragraph separators, bidi
        # overrides and zero-width characters would reach a consumer's logs and screens from our events.
        if reference is not None and not reference.isprintable():
            raise PydanticCustomError("not_printable", "must hold printable characters only")
        return reference

    @field_validator("data")
    @classmethod
    def _bounded_data(cls, data: dict[str, Any]) -> dict[str, Any]:
        if _depth(data) > MAX_DATA_DEPTH:
            raise PydanticCustomError("too_deep", f"nests deeper than {MAX_DATA_DEPTH} levels")
        if len(json.dumps(data, ensure_ascii=False).encode()) > MAX_DATA_BYTES:
            raise PydanticCustomError("too_long", f"is larger than {MAX_DATA_BYTES} bytes as JSON")
        return data

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


MAX_PREVIEW = 100


class SendRequestPreview(SendRequest):
    """The body of POST /send/preview: a /send body, and how many users to render. (Named after
    SendRequest so generated clients meet SendRequest first and give it the unnumbered field types.)"""

    # Built by the first preview, not at SendFunction's cold start: POST /send never needs it.
    model_config = ConfigDict(defer_build=True)

    limit: int = Field(
        default=10, ge=1, le=MAX_PREVIEW, description="users rendered (the first ones resolved)", examples=[5]
    )
