"""boto3 clients with explicit timeouts and retries; endpoints come from boto3's standard
AWS_ENDPOINT_URL_<SERVICE> variables, so the same code reaches AWS, moto or sam local.

A provider call that sends a message (SES SendEmail, SNS Publish, End User Messaging
SendTextMessage/SendVoiceMessage) is not idempotent: botocore retries it only when the message
provably did not leave (no connection was made, or the provider answered with an error it would
retry), and only while another attempt still fits the call's time budget. A call that may have
reached the provider (a read timeout, a connection dropped mid-request, a gateway timeout) is never
retried: its caller reports that user `unknown: ...`.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProxyConnectionError,
)

from messaging import throttles

CONNECT_TIMEOUT_S = 5.0
# The most one message's provider call may take, retries and backoff included: the channel
# functions run 25 s, and the function still has to record and answer the batch.
SEND_BUDGET_S = 20.0
# The operations that send a message, by botocore's event name of their service.
SENDS: dict[str, frozenset[str]] = {
    "sesv2": frozenset({"SendEmail"}),
    "ses": frozenset({"SendEmail", "SendRawEmail"}),
    "sns": frozenset({"Publish"}),
    "pinpoint-sms-voice-v2": frozenset({"SendTextMessage", "SendVoiceMessage"}),
}
# Raised before a byte of the request left: the connection was never made.
_NEVER_CONNECTED = (EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError)
# Raised while the request was being built or signed: nothing was sent, the user's send failed.
_NEVER_SENT = (
    *_NEVER_CONNECTED,
    ParamValidationError,
    NoCredentialsError,
    PartialCredentialsError,
    CredentialRetrievalError,
    NoRegionError,
)
# A gateway that gave up waiting on a backend that had the request.
_GATEWAY_TIMEOUT = 504
_STARTED = "messaging_send_started"


def may_have_sent(exc: BaseException) -> bool:
    """Whether a failed send call may still have delivered its message (the outcome is unknown)."""
    if isinstance(exc, ClientError):
        status: object = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status == _GATEWAY_TIMEOUT
    return isinstance(exc, BotoCoreError) and not isinstance(exc, _NEVER_SENT)


class _SendRetryGuard:
    """Runs before botocore's standard retry handler for a sending operation: False forbids the
    retry, None leaves the decision (throttling, transient errors, attempts left) to botocore."""

    def __init__(self, attempt_s: float, budget_s: float) -> None:
        self._attempt_s = attempt_s  # the longest one attempt can take: connect plus read
        self._budget_s = budget_s

    def started(self, context: dict[str, Any], **_: Any) -> None:
        context[_STARTED] = time.monotonic()

    def needs_retry(
        self,
        attempts: int,
        response: tuple[Any, dict[str, Any]] | None,
        caught_exception: BaseException | None,
        request_dict: dict[str, Any],
        **_: Any,
    ) -> bool | None:
        if throttles.note_aws_answer(response) and not throttles.retried_here():
            return False  # the pace adapts to them (messaging.pacing), and sends the message again
        if caught_exception is not None and not isinstance(caught_exception, _NEVER_CONNECTED):
            return False  # the request may have reached the provider
        if response is not None and getattr(response[0], "status_code", None) == _GATEWAY_TIMEOUT:
            return False
        elapsed = time.monotonic() - request_dict.get("context", {}).get(_STARTED, time.monotonic())
        longest_backoff = min(2.0 ** (attempts - 1), 20.0)  # botocore's standard (throttling) backoff bound
        if elapsed + longest_backoff + self._attempt_s > self._budget_s:
            return False
        return None


def client(
    service: str,
    *,
    read_timeout: float = 10,
    max_attempts: int = 3,
    send_budget_s: float = SEND_BUDGET_S,
    validate: bool = True,
) -> Any:
    """`validate=False` skips botocore's parameter validation (bench/provider_calls.py measures it)."""
    config = Config(
        parameter_validation=validate,
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": max_attempts},
        max_pool_connections=64,
    )
    made = boto3.client(service, config=config)
    name = made.meta.service_model.service_id.hyphenize()
    guard = _SendRetryGuard(CONNECT_TIMEOUT_S + read_timeout, send_budget_s)
    for operation in SENDS.get(name, ()):
        # Events name the operation after the service: these run before botocore's own handler.
        made.meta.events.register(f"before-call.{name}.{operation}", guard.started)
        made.meta.events.register(f"needs-retry.{name}.{operation}", guard.needs_retry)
    return made
