"""A queued message taken once per `IdempotencyKey` and sender: Powertools Idempotency on the
idempotency table, as POST /send's `Idempotency-Key` is (records expire after 24 h). An outcome is
kept whether accepted or refused (a refused message is not retried); an outage keeps nothing, so
the redelivery runs again; a delivery that meets one still in progress raises (SQS retries it).
A key used again with a different body is refused (409), as over HTTP; an outcome that ran but could
not be kept is answered all the same: raising would have SQS deliver it again, and send twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from messaging.idempotency import _DYNAMODB_CONFIG, TTL_S
from messaging.intake import Taken
from messaging.observability import logger


class IntakeOnce:
    def __init__(self, table_name: str) -> None:
        self._config = IdempotencyConfig(
            event_key_jmespath="key", payload_validation_jmespath="body", expires_after_seconds=TTL_S
        )
        self._persistence = DynamoDBPersistenceLayer(table_name=table_name, boto_config=_DYNAMODB_CONFIG)
        self._run = idempotent_function(
            data_keyword_argument="message", persistence_store=self._persistence, config=self._config
        )(self._take)

    def register(self, context: Any) -> None:
        self._config.register_lambda_context(context)

    @staticmethod
    def _take(message: dict[str, str], take: Callable[[], Taken]) -> dict[str, Any]:
        taken = take()
        return {"statusCode": taken.status_code, "sendId": taken.send_id, "message": taken.message}

    def __call__(self, scope: str, key: str, body: str, take: Callable[[], Taken]) -> Taken:
        produced: list[Taken] = []

        def run() -> Taken:
            produced.append(take())
            return produced[-1]

        try:
            kept = self._run(message={"key": f"queue\n{scope}\n{key}", "body": body}, take=run)
        except IdempotencyValidationError:
            return Taken(409, message="IdempotencyKey: already used with a different body")
        except IdempotencyPersistenceLayerError as exc:
            if not produced:
                raise  # nothing ran: the redelivery takes it
            logger.error("idempotency record not saved", extra={"cause": type(exc.__cause__).__name__})
            return produced[-1]
        return Taken(int(kept["statusCode"]), kept.get("sendId"), str(kept.get("message") or ""))
