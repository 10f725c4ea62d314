"""Loading a function's handler module and calling it as the Lambda runtime would."""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    remaining_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def load_function(name: str, variant: str = "") -> ModuleType:
    """Imports functions/<name>/app.py under a unique module name (each folder has an app.py); a
    `variant` is another cold start of it (another container, read from the current environment)."""
    module_name = f"{name}_function_app{variant}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@functools.cache
def host_python() -> str:
    """The interpreter that builds the layer and stands in for Lambda's (scripts/find-python.sh)."""
    found = subprocess.run(
        [str(ROOT / "scripts" / "find-python.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()
    return found
