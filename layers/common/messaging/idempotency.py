"""`Idempotency-Key`: a retried POST /send answers the first response without sending again.

Powertools Idempotency with a DynamoDB table (records expire after 24 h). Only successful answers
are kept: a request refused with a 4xx/5xx sent nothing, so its retry must run again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from messaging.errors import BadRequest, Conflict

HEADER = "Idempotency-Key"
TTL_S = 24 * 60 * 60
MAX_KEY_LENGTH = 256

Response = dict[str, Any]


class _NotKeptError(Exception):
    """Carries a non-2xx answer out of the idempotent call, so its record is dropped."""

    def __init__(self, response: Response) -> None:
        super().__init__("not kept")
        self.response = response


def idempotency_key(event: Mapping[str, Any]) -> str | None:
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    key = headers.get(HEADER.lower())
    return key if isinstance(key, str) and key.strip() else None


class Idempotency:
    def __init__(self, table_name: str) -> None:
        # One persistence layer per config: a shared one keeps the first config's key path.
        self._config = IdempotencyConfig(
            event_key_jmespath="key", payload_validation_jmespath="body", expires_after_seconds=TTL_S
        )
        self._persistence = DynamoDBPersistenceLayer(table_name=table_name)
        self._run = idempotent_function(
            data_keyword_argument="request", persistence_store=self._persistence, config=self._config
        )(self._resolve)

    @staticmethod
    def _resolve(request: dict[str, Any], respond: Callable[[], Response]) -> Response:
        response = respond()
        if not 200 <= int(response.get("statusCode", 500)) < 300:
            raise _NotKeptError(response)
        return response

    def respond(self, key: str, event: Mapping[str, Any], context: Any, respond: Callable[[], Response]) -> Response:
        if len(key) > MAX_KEY_LENGTH:
            raise BadRequest(f"{HEADER}: at most {MAX_KEY_LENGTH} characters")
        self._config.register_lambda_context(context)
        try:
            result: Response = self._run(request={"key": key, "body": event.get("body") or ""}, respond=respond)
        except _NotKeptError as refused:
            return refused.response
        except IdempotencyValidationError as exc:
            raise Conflict(f"{HEADER}: already used with a different body") from exc
        except IdempotencyAlreadyInProgressError as exc:
            raise Conflict(f"{HEADER}: a request with this key is still in progress") from exc
        return result
