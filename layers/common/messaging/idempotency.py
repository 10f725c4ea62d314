"""`Idempotency-Key`: a retried POST /send answers the first response without sending again.

Powertools Idempotency with a DynamoDB table (records expire after 24 h). Only successful answers
are kept: a request refused with a 4xx/5xx sent nothing, so its retry must run again. Keys are
scoped to the caller (IAM principal or API key), so two callers' keys never meet. An answer too
large for a DynamoDB item (400 KB) is kept in S3 and the record points to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from messaging.errors import BadRequest, Conflict, ServiceUnavailable
from messaging.observability import logger

HEADER = "Idempotency-Key"
TTL_S = 24 * 60 * 60
MAX_KEY_LENGTH = 256
# A record holds the answer plus Powertools' fields; DynamoDB refuses items over 400 KB.
MAX_INLINE_BODY_BYTES = 256 * 1024
ANSWERS_PREFIX = "answers/"
# An unreachable table must become a 503 within the API's 29 s, not after botocore's retries.
_DYNAMODB_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 2})

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


def caller_scope(event: Mapping[str, Any]) -> str:
    """Who is calling, as API Gateway authenticated it: the IAM principal or the API key's id."""
    identity = (event.get("requestContext") or {}).get("identity") or {}
    for field in ("userArn", "apiKeyId", "accessKey", "caller"):
        value = identity.get(field)
        if isinstance(value, str) and value:
            return f"{field}:{value}"
    return "anonymous"


class AnswerStore:
    """Large answers, in S3 under `answers/`; the bucket's lifecycle outlives the 24 h records."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def put(self, record_key: str, body: str) -> str:
        key = f"{ANSWERS_PREFIX}{hashlib.sha256(record_key.encode()).hexdigest()}.json"
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body.encode(), ContentType="application/json")
        return key

    def get(self, key: str) -> str:
        body: bytes = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        return body.decode()


class Idempotency:
    def __init__(self, table_name: str, answers: AnswerStore | None = None) -> None:
        # One persistence layer per config: a shared one keeps the first config's key path.
        self._config = IdempotencyConfig(
            event_key_jmespath="key", payload_validation_jmespath="body", expires_after_seconds=TTL_S
        )
        self._persistence = DynamoDBPersistenceLayer(table_name=table_name, boto_config=_DYNAMODB_CONFIG)
        self._answers = answers
        self._run = idempotent_function(
            data_keyword_argument="request", persistence_store=self._persistence, config=self._config
        )(self._resolve)

    def _resolve(self, request: dict[str, Any], respond: Callable[[], Response]) -> Response:
        response = respond()
        if not 200 <= int(response.get("statusCode", 500)) < 300:
            raise _NotKeptError(response)
        body = response.get("body") or ""
        if self._answers is not None and len(body.encode()) > MAX_INLINE_BODY_BYTES:
            # Kept before the record is saved: a retry finds either the whole answer or an in-progress record.
            try:
                return {**response, "body": None, "bodyKey": self._answers.put(request["key"], body)}
            except (ClientError, BotoCoreError) as exc:
                # Sending ran: the record must still say so, or a retry would send again. The caller
                # gets this answer; a retry gets a 409 saying the answer is lost, never a resend.
                logger.error("idempotency answer not kept", extra={"cause": type(exc).__name__})
                return {**response, "body": None, "bodyLost": True}
        return response

    def _replay(self, stored: Response) -> Response:
        if stored.get("bodyLost"):
            raise Conflict(
                f"{HEADER}: the request with this key was sent, but its answer (over {MAX_INLINE_BODY_BYTES} "
                "bytes) could not be kept; do not send it again"
            )
        key = stored.get("bodyKey")
        if not key:
            return stored
        if self._answers is None:
            raise ServiceUnavailable(f"{HEADER}: the first answer is kept in S3, and no bucket is configured")
        try:
            body = self._answers.get(str(key))
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailable(f"{HEADER}: the first answer cannot be read back ({type(exc).__name__})") from exc
        replayed = {name: value for name, value in stored.items() if name != "bodyKey"}
        return {**replayed, "body": body}

    def respond(
        self, key: str, scope: str, event: Mapping[str, Any], context: Any, respond: Callable[[], Response]
    ) -> Response:
        if len(key) > MAX_KEY_LENGTH:
            raise BadRequest(f"{HEADER}: at most {MAX_KEY_LENGTH} characters")
        self._config.register_lambda_context(context)
        produced: list[Response] = []

        def run() -> Response:
            produced.append(respond())
            return produced[-1]

        try:
            result: Response = self._run(
                request={"key": f"{scope}\n{key}", "body": event.get("body") or ""}, respond=run
            )
        except _NotKeptError as refused:
            return refused.response
        except IdempotencyValidationError as exc:
            raise Conflict(f"{HEADER}: already used with a different body") from exc
        except IdempotencyAlreadyInProgressError as exc:
            raise Conflict(f"{HEADER}: a request with this key is still in progress") from exc
        except IdempotencyPersistenceLayerError as exc:
            if produced:
                # Sending ran: its answer is the truth even though it could not be kept.
                logger.error("idempotency record not saved", extra={"cause": type(exc.__cause__).__name__})
                return produced[-1]
            raise ServiceUnavailable(f"{HEADER}: the idempotency store is unreachable; nothing was sent") from exc
        # The first run answers in full; a replay may point to S3.
        return produced[-1] if produced else self._replay(result)
