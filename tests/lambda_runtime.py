"""Loads the functions' handler modules and invokes them the way Lambda does: JSON in, JSON out,
a function error or a timeout reported instead of a result."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from local.lambda_runtime import LambdaContext, load_function
from messaging.dispatch import BatchOutcomeUnknownError, ChannelInvokeError, function_error

__all__ = ["InProcessInvoker", "LambdaContext", "load_function"]

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
