"""The settings of the channel functions defined apart from their channel module: e-mail's, and
push's, which reads SERVICE_CONFIG's userFields (a model built from the registry, which imports
every channel module)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from messaging.errors import ConfigurationError
from messaging.models.common import NonEmptyStr
from messaging.models.config import UserFields, UserFieldsModel
from messaging.models.function_settings import UsersDatabase
from messaging.models.settings import ChannelSettings, env_values, parse_settings
from messaging.validation import CROSS_FIELD


class EmailSettings(ChannelSettings):
    """Where the request's attachments are staged, and how much memory raw messages may take."""

    attachments_bucket: str | None = None
    idempotency_table: str | None = None
    # toLocale's locale when a template names none (BCP 47).
    default_locale: Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] = "en-US"
    # Set by Lambda from MemorySize; unset (a plain local run) means no memory bound.
    memory_size_mb: Annotated[int, Field(ge=128, le=10_240)] | None = None
    # What the function holds besides the messages in flight (runtime, layer, clients, the batch):
    # bench/email_memory.py measured 91-147 MB with an empty attachment, 160 MB with 1 MB x 16.
    # The rest of memory_size_mb is the messages' budget.
    memory_baseline_mb: Annotated[int, Field(ge=0, le=10_240)] = 160
    # Named on every SendEmail: its event destination publishes the delivery events (empty = none).
    configuration_set: str | None = None
    # SES subscription management: a non-transactional e-mail names this contact list and topic
    # (ListManagementOptions), so SES adds the one-click List-Unsubscribe headers (RFC 8058) and
    # records the unsubscribes itself. Both or neither.
    ses_contact_list: str | None = None
    ses_contact_topic: str | None = None
    # The categories the contact list declares a topic of (the stack's Categories parameter): an
    # e-mail of one names its own topic, so a one-click unsubscribe stops that category only.
    ses_category_topics: str = ""

    ENV: ClassVar[dict[str, str]] = {
        **ChannelSettings.ENV,
        "attachments_bucket": "ATTACHMENTS_BUCKET",
        "configuration_set": "SES_CONFIGURATION_SET",
        "memory_size_mb": "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "memory_baseline_mb": "EMAIL_MEMORY_BASELINE_MB",
        "ses_contact_list": "SES_CONTACT_LIST",
        "ses_contact_topic": "SES_CONTACT_TOPIC",
        "ses_category_topics": "SES_CATEGORY_TOPICS",
    }

    @model_validator(mode="after")
    def _list_and_topic(self) -> EmailSettings:
        if bool(self.ses_contact_list) != bool(self.ses_contact_topic):
            raise PydanticCustomError(CROSS_FIELD, "SES_CONTACT_LIST and SES_CONTACT_TOPIC go together")
        return self

    @property
    def list_management(self) -> dict[str, str] | None:
        """SendEmail's ListManagementOptions for a non-transactional message, if configured."""
        if not (self.ses_contact_list and self.ses_contact_topic):
            return None
        return {"ContactListName": self.ses_contact_list, "TopicName": self.ses_contact_topic}

    @property
    def category_topics(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.ses_category_topics.split(",") if name.strip())

    @property
    def memory_budget_bytes(self) -> int | None:
        """Bytes the raw messages in flight may take; None without a known memory size."""
        if self.memory_size_mb is None:
            return None
        return max(0, self.memory_size_mb - self.memory_baseline_mb) * 1024 * 1024


class PushSettings(ChannelSettings, UsersDatabase):
    """FCM HTTP v1: the project, the service-account secret, and overridable endpoints for local runs;
    and where a token FCM reports stale is recorded (the users collection, through `userFields`)."""

    fcm_project_id: NonEmptyStr
    fcm_credentials_secret_id: NonEmptyStr
    fcm_endpoint: NonEmptyStr = "https://fcm.googleapis.com"
    fcm_token_uri: str | None = None
    # What an UNREGISTERED token does to the user's document: `mark` stores it in
    # userFields.staleDeviceToken (push skips the user until the token changes), `remove` unsets
    # the device token, `keep` changes nothing (every send tries it again).
    stale_tokens: Literal["mark", "remove", "keep"] = "mark"
    # Without a database (UsersDatabase), nothing is recorded (the failure is still answered).
    # SERVICE_CONFIG's userFields (the rest of that document is SendFunction's).
    user_fields: UserFieldsModel = Field(default_factory=UserFields)

    ENV: ClassVar[dict[str, str]] = {
        **ChannelSettings.ENV,
        "fcm_project_id": "FCM_PROJECT_ID",
        "fcm_credentials_secret_id": "FCM_CREDENTIALS_SECRET_ID",
        "fcm_endpoint": "FCM_ENDPOINT",
        "fcm_token_uri": "FCM_TOKEN_URI",
        "stale_tokens": "STALE_TOKENS",
        **UsersDatabase.DATABASE_ENV,
    }

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> PushSettings:
        values: dict[str, Any] = env_values(environ, cls.ENV)
        raw = environ.get("SERVICE_CONFIG", "")
        if raw:
            try:
                document = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigurationError(f"SERVICE_CONFIG is not valid JSON: {exc}") from exc
            if isinstance(document, dict) and document.get("userFields") is not None:
                values["user_fields"] = document["userFields"]
        names = {**cls.ENV, "user_fields": "SERVICE_CONFIG.userFields"}
        settings: PushSettings = parse_settings(cls, values, "", names)
        return settings
