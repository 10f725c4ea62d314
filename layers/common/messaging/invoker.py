"""Invoking a channel function: the Invoker seam, what its errors mean, and the Lambda one.

An invoke is never repeated by botocore. What cannot be known (a connection lost after the request
left, a function that timed out or crashed while sending) is BatchOutcomeUnknownError, never a
failure: only a refusal before anything was sent is (ChannelInvokeError).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ProxyConnectionError,
)

from messaging.channels.once import BatchRefusedError
from messaging.validation import InvalidPayloadError


class ChannelInvokeError(Exception):
    """The channel function did not run, or refused the batch before sending any of it."""


class InvokeThrottledError(ChannelInvokeError):
    """Lambda refused the invoke before running the function (429): it may be tried again."""


class BatchOutcomeUnknownError(Exception):
    """The batch may have been sent, in part or whole: the request left and no answer came back."""


# Raised by a channel function before it sends anything: an invalid payload, no batch record.
_NOTHING_SENT_ERRORS = {InvalidPayloadError.__name__, BatchRefusedError.__name__}


def function_error(error_type: str, message: str) -> Exception:
    """A function error, as the invoker should raise it: only a refusal before sending is a failure."""
    text = f"{error_type}: {message}"
    return ChannelInvokeError(text) if error_type in _NOTHING_SENT_ERRORS else BatchOutcomeUnknownError(text)


# (function name, JSON payload) -> the function's JSON answer, or ChannelInvokeError /
# BatchOutcomeUnknownError.
Invoker = Callable[[str, bytes], bytes]


_NOT_SENT = (EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError)


class LambdaInvoker:
    """Synchronous `lambda.invoke`, never repeated by botocore; endpoints come from boto3's
    AWS_ENDPOINT_URL_LAMBDA."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def connect(cls, read_timeout: float, endpoint_url: str | None = None) -> LambdaInvoker:
        """A client that never retries: botocore would re-invoke after a dropped connection or a
        read timeout, sending the batch again. Throttling is retried by `dispatch` instead."""
        config = Config(
            connect_timeout=5,
            read_timeout=read_timeout,
            retries={"mode": "standard", "total_max_attempts": 1},
            max_pool_connections=64,
        )
        return cls(boto3.client("lambda", config=config, endpoint_url=endpoint_url))

    def __call__(self, function_name: str, payload: bytes) -> bytes:
        try:
            response = self._client.invoke(
                FunctionName=function_name, InvocationType="RequestResponse", Payload=payload
            )
            body: bytes = response["Payload"].read()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            reason = f"{error.get('Code', 'Error')}: {error.get('Message', '')}"
            if error.get("Code") == "TooManyRequestsException" or status == 429:
                raise InvokeThrottledError(reason) from exc
            if error.get("Code") == "ServiceException":  # Lambda's own 500: the function may have run
                raise BatchOutcomeUnknownError(reason) from exc
            raise ChannelInvokeError(reason) from exc  # refused before running: not found, denied, too large...
        except _NOT_SENT as exc:
            raise ChannelInvokeError(f"{type(exc).__name__}: {exc}") from exc
        except BotoCoreError as exc:  # read timeout, connection dropped after the request left...
            raise BatchOutcomeUnknownError(f"{type(exc).__name__}: {exc}") from exc
        # Some emulators (sam local) answer a crashed function without the FunctionError field.
        if response.get("FunctionError") or _is_error_object(body):
            raise _function_error(body)
        return body


def _is_error_object(body: bytes) -> bool:
    return body.lstrip().startswith(b"{") and b'"errorMessage"' in body and b'"failures"' not in body


def _function_error(body: bytes) -> Exception:
    try:
        error = json.loads(body)
        return function_error(str(error.get("errorType", "Error")), str(error.get("errorMessage", "")))
    except (ValueError, AttributeError):
        return BatchOutcomeUnknownError(body[:200].decode(errors="replace"))
