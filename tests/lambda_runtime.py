"""Loads the functions' handler modules and invokes them the way Lambda does: JSON in, JSON out,
a function error or a timeout reported instead of a result."""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from local.lambda_runtime import LambdaContext, load_function
from messaging.dispatch import BatchOutcomeUnknownError, ChannelInvokeError, function_error

__all__ = ["EventQueue", "InProcessInvoker", "LambdaContext", "SandboxCrash", "load_function"]

ROOT = Path(__file__).resolve().parents[1]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class InProcessInvoker:
    """The dispatch seam: serialises the payload exactly as `lambda.invoke` would and enforces a
    function timeout, with the channel functions running in this process."""

    def __init__(self, handlers: Mapping[str, Handler], timeout_s: float = 30.0) -> None:
        self.handlers = dict(handlers)
        self.timeout_s = timeout_s
        self.payloads: list[dict[str, Any]] = []
        self._pool = ThreadPoolExecutor(max_workers=16)

    def __call__(self, function_name: str, payload: bytes) -> bytes:
        event = json.loads(payload)
        self.payloads.append(event)
        handler = self.handlers.get(function_name)
        if handler is None:
            raise ChannelInvokeError(f"ResourceNotFoundException: Function not found: {function_name}")
        future = self._pool.submit(handler, event, LambdaContext(function_name=function_name))
        try:
            result = future.result(timeout=self.timeout_s)
        except FutureTimeout:
            raise BatchOutcomeUnknownError(
                f"Sandbox.Timedout: Task timed out after {self.timeout_s:.2f} seconds"
            ) from None
        except Exception as exc:
            # As LambdaInvoker reads a function error: its errorType decides failed or unknown.
            raise function_error(type(exc).__name__, str(exc)) from exc
        return json.dumps(result).encode()


class SandboxCrash(BaseException):
    """The function's process dies here: nothing in it can catch this (not an Exception)."""


class EventQueue:
    """Lambda's asynchronous (`Event`) invokes, in-process: `__call__` queues an event as
    `InvocationType=Event` would; `drain` runs them in order as Lambda does: an invocation that
    raises is run again (same request id) up to `retries` times, then its event goes to the
    on-failure destination, given to `on_failure` as the SQS record Lambda would write."""

    def __init__(self) -> None:
        self.events: deque[tuple[str, dict[str, Any]]] = deque()
        self.launched: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[BaseException] = []

    def __call__(self, function_name: str, event: dict[str, Any]) -> None:
        copied = json.loads(json.dumps(event))
        self.events.append((function_name, copied))
        self.launched.append((function_name, copied))

    def drain(
        self,
        handler: Handler,
        *,
        limit: int = 10_000,
        retries: int = 2,
        remaining_ms: int = 900_000,
        on_failure: Handler | None = None,
    ) -> int:
        """Runs queued events (and those they queue) until none is left or `limit` ran."""
        ran = 0
        while self.events and ran < limit:
            function_name, event = self.events.popleft()
            request_id = str(uuid.uuid4())
            ran += 1
            for attempt in range(retries + 1):
                context = LambdaContext(
                    function_name=function_name, aws_request_id=request_id, remaining_ms=remaining_ms
                )
                try:
                    handler(event, context)
                    break
                except (Exception, SandboxCrash) as exc:  # noqa: BLE001 - a function error or a crash, as Lambda records it
                    self.errors.append(exc)
                    if attempt == retries and on_failure is not None:
                        body = {
                            "requestContext": {"requestId": request_id, "condition": "RetriesExhausted"},
                            "requestPayload": event,
                            "responsePayload": {"errorType": type(exc).__name__, "errorMessage": str(exc)},
                        }
                        on_failure({"Records": [{"body": json.dumps(body)}]}, context)
        return ran
