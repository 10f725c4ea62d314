"""The service configuration: one JSON document (SERVICE_CONFIG), its user fields and senders
shaped by the channel registry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator
from pydantic_core import PydanticCustomError

from messaging.categories import MAX_CATEGORIES, CategoryName
from messaging.channels import registry
from messaging.errors import ConfigurationError
from messaging.models.common import Channel, NonEmptyStr
from messaging.models.settings import parse_settings
from messaging.validation import CROSS_FIELD

_FIELD_NAME = r"^[^$][^\x00]*$"
FieldName = Annotated[str, Field(min_length=1, pattern=_FIELD_NAME)]


class UserFieldsBase(BaseModel):
    """Where each user attribute lives in the users collection: the id, the clusters, and each
    channel's address (`emailAddress`, `phoneNumber`, `deviceToken`: the registry's user fields)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: FieldName = "_id"
    clusters: FieldName = "clusters"
    # The channels a user opted out of: a list of channel names (`["email", "sms"]`), or an object
    # of channel -> true. Written by the service on a provider's opt-out (unsubscribe, complaint, STOP).
    optOuts: FieldName = "optOuts"
    # The device token FCM reported stale (UNREGISTERED): push skips the user while the token is it.
    staleDeviceToken: FieldName = "staleDeviceToken"
    # The user's language (a BCP 47 tag, `it-IT`): which locale variant of a message they get, and
    # `toLocale`'s default. Time zone (IANA, `Europe/Rome`): the date helpers' default zone.
    locale: FieldName = "locale"
    timezone: FieldName = "timezone"
    # What the user refused per category: `{"newsletter": false}` or `{"newsletter": {"email": false}}`.
    preferences: FieldName = "preferences"

    def address(self, key: str) -> str:
        """The stored name of a channel's address field (`phoneNumber` -> `mobile`)."""
        return str(getattr(self, key))


class SenderBase(BaseModel):
    """`sender.<channel>` of every channel that has one, typed and checked by its spec."""

    model_config = ConfigDict(extra="forbid", frozen=True)


UserFields: type[UserFieldsBase] = create_model(
    "UserFields",
    __base__=UserFieldsBase,
    **{key: (FieldName, key) for key in registry.user_fields()},  # type: ignore[call-overload]
)
Sender: type[SenderBase] = create_model(
    "Sender",
    __base__=SenderBase,
    **{spec.name: (spec.sender_type | None, None) for spec in registry.specs() if spec.sender_type is not None},  # type: ignore[call-overload]
)
if TYPE_CHECKING:
    UserFieldsModel = UserFieldsBase
    SenderModel = SenderBase
else:  # what pydantic validates against: the models built from the registry
    UserFieldsModel = UserFields
    SenderModel = Sender


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    userFields: UserFieldsModel = Field(default_factory=UserFields)
    # What templates may read of a user besides its id, addresses and clusters: the user document
    # may hold anything (password hashes, tokens), and a message can be copied to its sender.
    templateUserFields: Annotated[list[FieldName], Field(max_length=100)] = []
    activeChannels: Annotated[list[Channel], Field(min_length=1)]
    sender: SenderModel = Field(default_factory=Sender)
    androidIntentAction: NonEmptyStr | None = None
    # The default of a template's `strict` (and the mode of request texts): missing variables are a 400.
    strictTemplates: bool = False
    # The categories a request or template may name (`newsletter`): users refuse them in `preferences`.
    categories: Annotated[list[CategoryName], Field(max_length=MAX_CATEGORIES)] = []
    # Who may mark a request `transactional` (passing opt-outs and preferences): IAM principal ARNs
    # (`identity.userArn`), API key ids, or queue senders' ids (SQS SenderId). Nobody else may.
    transactionalCallers: Annotated[list[NonEmptyStr], Field(max_length=100)] = []

    @field_validator("activeChannels")
    @classmethod
    def _unique(cls, channels: list[Channel]) -> list[Channel]:
        if len(set(channels)) != len(channels):
            raise ValueError("must not repeat a channel")
        return channels

    @field_validator("categories")
    @classmethod
    def _own_topics(cls, categories: list[str]) -> list[str]:
        if len(set(categories)) != len(categories) or "messages" in categories:
            raise ValueError("must not repeat a category nor name `messages` (the unsubscribe topic of every e-mail)")
        return categories

    @model_validator(mode="after")
    def _senders_for_active_channels(self) -> ServiceConfig:
        for channel in self.activeChannels:
            spec = registry.spec(channel)
            if spec.sender_type is not None and spec.sender_required and self.sender_of(channel) is None:
                raise PydanticCustomError(CROSS_FIELD, f"sender.{channel} is required when {channel} is active")
        return self

    def sender_of(self, channel: Channel) -> str | None:
        value = getattr(self.sender, channel, None)
        return None if value is None else str(value)


def service_config(environ: Mapping[str, str]) -> ServiceConfig:
    raw = environ.get("SERVICE_CONFIG", "")
    if not raw:
        raise ConfigurationError("SERVICE_CONFIG is required (the service configuration JSON)")
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"SERVICE_CONFIG is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigurationError("SERVICE_CONFIG must be a JSON object")
    service: ServiceConfig = parse_settings(ServiceConfig, document, "SERVICE_CONFIG")
    return service
