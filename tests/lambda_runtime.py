"""Loads the functions' handler modules and invokes them the way Lambda does: JSON in, JSON out,
a function error or a timeout reported instead of a result."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from messaging.dispatch import ChannelInvokeError

ROOT = Path(__file__).resolve().parents[1]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def load_function(name: str) -> ModuleType:
    """Imports functions/<name>/app.py under a unique module name (each folder has an app.py)."""
    module_name = f"{name}_function_app"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


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
            raise ChannelInvokeError(f"Sandbox.Timedout: Task timed out after {self.timeout_s:.2f} seconds") from None
        except Exception as exc:
            raise ChannelInvokeError(f"{type(exc).__name__}: {exc}") from exc
        return json.dumps(result).encode()
