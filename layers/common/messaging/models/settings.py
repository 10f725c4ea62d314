"""What every function reads from its environment, once per cold start: the shared parsing and
the channel functions' common settings (a channel module subclasses them for its own)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from messaging.errors import ConfigurationError
from messaging.validation import describe_errors


def parse_settings(
    model: type[BaseModel], values: Mapping[str, Any], prefix: str = "", names: Mapping[str, str] | None = None
) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        detail = describe_errors(exc.errors(), prefix=prefix, rename=names)
        raise ConfigurationError(f"invalid configuration: {detail}") from exc


def env_values(environ: Mapping[str, str], fields: Mapping[str, str]) -> dict[str, str]:
    """Picks the set (non-empty) variables: SAM declares every variable, empty by default."""
    return {field: environ[name] for field, name in fields.items() if environ.get(name)}


def prefixed(prefix: str, *fields: str) -> dict[str, str]:
    """Each field's variable: `prefixed("SMS", "provider")` = {"provider": "SMS_PROVIDER"}."""
    return {field: f"{prefix}_{field.upper()}" for field in fields}


class ChannelSettings(BaseModel):
    """What every channel function reads: how many provider calls it keeps in flight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: Annotated[int, Field(gt=0, le=64)] = 8
    provider_timeout_s: Annotated[float, Field(gt=0, le=60)] = 10.0
    # Where each batchId is recorded, so a repeated invoke never sends again (off when unset).
    idempotency_table: str | None = None

    ENV: ClassVar[dict[str, str]] = {
        "concurrency": "CHANNEL_CONCURRENCY",
        "provider_timeout_s": "PROVIDER_TIMEOUT_S",
        "idempotency_table": "IDEMPOTENCY_TABLE",
    }

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Self:
        settings: Self = parse_settings(cls, env_values(environ, cls.ENV), "", cls.ENV)
        return settings
