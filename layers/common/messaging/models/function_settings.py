"""The functions' settings (SendFunction's and DispatchFunction's, FeedbackFunction's), read from the
environment once per cold start."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from messaging.channels import registry
from messaging.models.common import Channel, NonEmptyStr
from messaging.models.config import ServiceConfig, service_config
from messaging.models.settings import env_values, parse_settings
from messaging.validation import CROSS_FIELD


class UsersDatabase(BaseModel):
    """Where the users collection is: every function that reads or writes user documents."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mongodb_uri: str | None = None
    mongodb_uri_secret_id: str | None = None
    mongodb_database: NonEmptyStr = "messaging"
    users_collection: NonEmptyStr = "users"
    mongodb_timeout_ms: Annotated[int, Field(gt=0)] = 5000

    DATABASE_ENV: ClassVar[dict[str, str]] = {
        "mongodb_uri": "MONGODB_URI",
        "mongodb_uri_secret_id": "MONGODB_URI_SECRET_ID",
        "mongodb_database": "MONGODB_DATABASE",
        "users_collection": "USERS_COLLECTION",
        "mongodb_timeout_ms": "MONGODB_TIMEOUT_MS",
    }

    @property
    def has_database(self) -> bool:
        return bool(self.mongodb_uri or self.mongodb_uri_secret_id)


class SendSettings(UsersDatabase):
    """SendFunction's settings: where users and templates live, where the channel functions are."""

    service: ServiceConfig
    templates_collection: NonEmptyStr = "templates"
    # Each channel's function, from its spec's variable (EMAIL_FUNCTION_NAME, ...; set by the template).
    function_names: dict[Channel, NonEmptyStr] = Field(default_factory=dict)
    batch_max_messages: Annotated[int, Field(gt=0, le=10_000)] = 100
    # Lambda's synchronous payload limit is 6 MB; stay well under it with the envelope.
    batch_max_bytes: Annotated[int, Field(ge=10_000, le=5_000_000)] = 4_000_000
    max_parallel_invokes: Annotated[int, Field(gt=0, le=64)] = 8
    # The read timeout of an invoke: past the channel functions' 25 s timeout, inside SendFunction's
    # 29 s. Dispatch stops waiting at the deadline anyway; this only frees an abandoned thread.
    invoke_timeout_s: Annotated[int, Field(gt=0, le=900)] = 27
    # No batch starts with less time left than this: it could not finish before the API gives up.
    # Rendering stops there too (503, nothing sent): no batch could be launched after it.
    deadline_margin_s: Annotated[float, Field(ge=0, le=60)] = 5.0
    # Kept to answer (serialise the failures, metrics, the idempotency record): batches still
    # running when only this much is left are reported `unknown: deadline ...`.
    answer_reserve_s: Annotated[float, Field(ge=0, le=60)] = 1.5
    # The rendered messages (uncompressed JSON) one request may hold. They wait compressed, but
    # content that does not compress (or is not yet compressed: the open batches) can keep almost
    # all of it in memory: 128 MiB, with the ~100 MB of the runtime and its libraries and up to
    # max_parallel_invokes payloads in flight, fits a 512 MB SendFunction with room to spare, and
    # renders in a few seconds of the 29.
    render_budget_bytes: Annotated[int, Field(ge=1_000, le=1024**3)] = 128 * 1024 * 1024
    file_service_url: str | None = None
    file_service_timeout_s: Annotated[float, Field(gt=0, le=60)] = 10.0
    attachments_bucket: str | None = None
    idempotency_table: str | None = None
    # toLocale's locale when a template names none (BCP 47).
    default_locale: Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] = "en-US"
    # No rendered text (one field of one message) is longer than this; a template that could
    # write more for the request's data is refused with a 400.
    max_message_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 1024 * 1024
    # Estimated native memory of the compiled templates kept warm, per engine (text, HTML).
    template_cache_bytes: Annotated[int, Field(ge=1024 * 1024, le=1024 * 1024 * 1024)] = 64 * 1024 * 1024
    # Asynchronous sends (`Prefer: respond-async`): where their state lives, who dispatches them.
    # A synchronous send to more users than this is refused (400) before anything is sent.
    sync_max_audience: Annotated[int, Field(gt=0, le=100_000)] = 10_000
    # SendFunction's own Lambda timeout (template.yaml): a synchronous send's record still open
    # past it (and a margin) was killed with the function, and reads `failed`, outcome unknown.
    send_timeout_s: Annotated[int, Field(gt=0, le=900)] = 29
    sends_table: str | None = None
    # The request, its segments' user ids (S3, under `sends/`): the attachments bucket.
    dispatch_function_name: str | None = None
    # Users per segment: each segment is one dispatcher's work (resumed by a continuation if its
    # 15 minutes run short); at most `segment_parallel` segments of one send run at once.
    segment_users: Annotated[int, Field(ge=100, le=100_000)] = 10_000
    segment_parallel: Annotated[int, Field(gt=0, le=100)] = 4
    # A dispatcher with less than this left launches no batch and hands the rest to a new invocation.
    dispatch_margin_s: Annotated[float, Field(ge=1, le=600)] = 60.0
    sends_ttl_days: Annotated[int, Field(gt=0, le=365)] = 7
    # Messages per second per channel (<CHANNEL>_MAX_RATE), shared by every dispatcher of every
    # send; unset is unpaced, except e-mail: SES GetAccount's SendQuota.MaxSendRate.
    max_rates: dict[Channel, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(default_factory=dict)
    # VoiceFunction's VOICE_BODY_TYPE: with SSML, values inserted into voice texts are XML-escaped.
    voice_body_type: Literal["TEXT", "SSML"] = "TEXT"
    # Throttled messages (provider Throttling/429) are sent again this many times, with backoff.
    throttle_retries: Annotated[int, Field(ge=0, le=20)] = 6
    # Scheduled sends (`sendAt`): EventBridge Scheduler's group, its target (DispatchFunction), the
    # role it invokes the target as and its dead-letter queue; unset group: `sendAt` is refused.
    schedule_group: str | None = None
    schedule_target_arn: str | None = None
    schedule_role_arn: str | None = None
    schedule_dlq_arn: str | None = None
    # `sendAt` at most this far ahead (the bucket keeps a scheduled send's objects a year and 9 days).
    schedule_max_days: Annotated[int, Field(gt=0, le=365)] = 365
    # GET /swagger (Swagger UI and the OpenAPI document): the stack's SwaggerUi parameter.
    swagger_ui: Literal["enabled", "disabled"] = "disabled"

    ENV: ClassVar[dict[str, str]] = {
        **UsersDatabase.DATABASE_ENV,
        "templates_collection": "TEMPLATES_COLLECTION",
        "batch_max_messages": "BATCH_MAX_MESSAGES",
        "batch_max_bytes": "BATCH_MAX_BYTES",
        "max_parallel_invokes": "MAX_PARALLEL_INVOKES",
        "invoke_timeout_s": "INVOKE_TIMEOUT_S",
        "deadline_margin_s": "DEADLINE_MARGIN_S",
        "answer_reserve_s": "ANSWER_RESERVE_S",
        "render_budget_bytes": "RENDER_BUDGET_BYTES",
        "file_service_url": "FILE_SERVICE_URL",
        "file_service_timeout_s": "FILE_SERVICE_TIMEOUT_S",
        "attachments_bucket": "ATTACHMENTS_BUCKET",
        "idempotency_table": "IDEMPOTENCY_TABLE",
        "default_locale": "DEFAULT_LOCALE",
        "max_message_bytes": "MAX_MESSAGE_BYTES",
        "template_cache_bytes": "TEMPLATE_CACHE_BYTES",
        "sync_max_audience": "SYNC_MAX_AUDIENCE",
        "send_timeout_s": "SEND_TIMEOUT_S",
        "sends_table": "SENDS_TABLE",
        "dispatch_function_name": "DISPATCH_FUNCTION_NAME",
        "segment_users": "SEGMENT_USERS",
        "segment_parallel": "SEGMENT_PARALLEL",
        "dispatch_margin_s": "DISPATCH_MARGIN_S",
        "sends_ttl_days": "SENDS_TTL_DAYS",
        "throttle_retries": "THROTTLE_RETRIES",
        "schedule_group": "SCHEDULE_GROUP",
        "schedule_target_arn": "SCHEDULE_TARGET_ARN",
        "schedule_role_arn": "SCHEDULE_ROLE_ARN",
        "schedule_dlq_arn": "SCHEDULE_DLQ_ARN",
        "schedule_max_days": "SCHEDULE_MAX_DAYS",
        "voice_body_type": "VOICE_BODY_TYPE",
        "swagger_ui": "SWAGGER_UI",
    }

    @model_validator(mode="after")
    def _complete(self) -> SendSettings:
        if not (self.mongodb_uri or self.mongodb_uri_secret_id):
            raise PydanticCustomError(CROSS_FIELD, "MONGODB_URI or MONGODB_URI_SECRET_ID is required")
        for channel in self.service.activeChannels:
            if not self.function_name(channel):
                raise PydanticCustomError(
                    CROSS_FIELD, f"{registry.spec(channel).function_env} is required when {channel} is active"
                )
        if self.answer_reserve_s > self.deadline_margin_s:
            raise PydanticCustomError(CROSS_FIELD, "ANSWER_RESERVE_S must not exceed DEADLINE_MARGIN_S")
        if self.file_service_url and not self.attachments_bucket:
            raise PydanticCustomError(CROSS_FIELD, "ATTACHMENTS_BUCKET is required with FILE_SERVICE_URL")
        return self

    def function_name(self, channel: Channel) -> str:
        return self.function_names.get(channel, "")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> SendSettings:
        service = service_config(environ)
        functions = {
            spec.name: environ[spec.function_env] for spec in registry.specs() if environ.get(spec.function_env)
        }
        rates = {spec.name: environ[spec.max_rate_env] for spec in registry.specs() if environ.get(spec.max_rate_env)}
        values = {"service": service, "function_names": functions, "max_rates": rates, **env_values(environ, cls.ENV)}
        names = {**cls.ENV, "max_rates": "<CHANNEL>_MAX_RATE"}
        settings: SendSettings = parse_settings(cls, values, "", names)
        return settings


class FeedbackSettings(UsersDatabase):
    """FeedbackFunction's: where sends are recorded, and the users collection opt-outs are written to."""

    model_config = ConfigDict(defer_build=True)  # built by FeedbackFunction's cold start, not by others'

    service: ServiceConfig
    sends_table: NonEmptyStr

    ENV: ClassVar[dict[str, str]] = {**UsersDatabase.DATABASE_ENV, "sends_table": "SENDS_TABLE"}

    @model_validator(mode="after")
    def _complete(self) -> FeedbackSettings:
        if not self.has_database:
            raise PydanticCustomError(CROSS_FIELD, "MONGODB_URI or MONGODB_URI_SECRET_ID is required")
        return self

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> FeedbackSettings:
        values = {"service": service_config(environ), **env_values(environ, cls.ENV)}
        settings: FeedbackSettings = parse_settings(cls, values, "", cls.ENV)
        return settings
