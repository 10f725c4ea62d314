"""Cold start of each function as deployed: its handler module's imports and whole init in fresh
interpreters that see only the built layer, and the layer's size."""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.harness import CHANNELS, FUNCTION_NAMES, ROOT, environment


def build_layer() -> Path:
    """The layer as `sam build` makes it (same Makefile: pinned wheels, our code, bytecode), built
    into bench/.layer once per change of its requirements or code."""
    from local.lambda_runtime import host_python

    common = ROOT / "layers" / "common"
    sources = [common / "requirements.txt", common / "Makefile", common / "defer_imports.py"]
    sources += sorted((ROOT / "layers" / "common" / "messaging").rglob("*.py"))
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:16]
    artifacts = ROOT / "bench" / ".layer" / digest
    if not (artifacts / "python").is_dir():
        shutil.rmtree(artifacts.parent, ignore_errors=True)
        subprocess.run(
            [shutil.which("make") or "make", "-s", "-C", str(ROOT / "layers" / "common"), "build-MessagingCommonLayer"],
            env={**os.environ, "ARTIFACTS_DIR": str(artifacts), "PYTHON": host_python()},
            check=True,
        )
    return artifacts / "python"


def _import_ms(importtime_log: str) -> float:
    """The total of `python -X importtime`: the cumulative times of the top-level imports."""
    total_us = 0
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|", 2)
            if not name.startswith("  ") and cumulative.strip().isdigit():
                total_us += int(cumulative)
    return total_us / 1000


def lambda_environ(name: str, layer: Path, service: dict[str, str]) -> dict[str, str]:
    """What a fresh interpreter standing in for function `name`'s Lambda sandbox sees: only the
    built layer and the function's folder, the variables Lambda sets, tracing and metrics on."""
    task_root = ROOT / "functions" / name
    env = {
        "PATH": os.environ["PATH"],
        **service,
        "AWS_ENDPOINT_URL_LAMBDA": "http://127.0.0.1:1",
        "PYTHONPATH": os.pathsep.join([str(task_root), str(layer)]),
        "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's /opt and /var/task are read-only
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAMES.get(name, "SendFunction"),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",  # as template.yaml's Globals set it
    }
    # Traced and measured as deployed: the Tracer patches libraries at import.
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
    env.pop("POWERTOOLS_METRICS_DISABLED", None)
    return env


def cold_imports(args: argparse.Namespace, layer: Path) -> dict[str, tuple[float, float, float]]:
    """Per function: the imports of its handler module (`python -X importtime`) and the wall time of
    its whole init (imports, configuration, clients) in wall and in CPU time (what a machine shared
    with other work still measures), medians of 5 fresh interpreters that see only
    the built layer and the function's folder, with the variables Lambda sets: without
    LAMBDA_TASK_ROOT the X-Ray SDK alone would spend 100 ms on a sampling client Lambda never uses."""
    sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]
    from bench.standins import Providers
    from local.lambda_runtime import host_python
    from local.service_account import make_service_account

    providers = Providers(0, make_service_account("bench")).start()
    script = (
        "import importlib.util, sys, time; spec = importlib.util.spec_from_file_location('app', {path!r}); "
        "module = importlib.util.module_from_spec(spec); t, c = time.perf_counter(), time.process_time(); "
        "spec.loader.exec_module(module); print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)"
    )
    times = {}
    for name in ("send", *CHANNELS):
        task_root = ROOT / "functions" / name
        env = lambda_environ(name, layer, environment(args, providers.url, "mongodb://127.0.0.1:1/"))
        runs = [
            subprocess.run(
                [host_python(), "-S", "-X", "importtime", "-c", script.format(path=str(task_root / "app.py"))],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            for _ in range(5)
        ]
        imports = sorted(_import_ms(run.stderr) for run in runs)
        inits = sorted(float(run.stdout.split()[-2]) for run in runs)
        cpus = sorted(float(run.stdout.split()[-1]) for run in runs)
        times[name] = (imports[2], inits[2], cpus[2])
    providers.stop()
    return times


# What SendFunction's POST /send needs of its chosen libraries, and nothing of ours: the least its
# imports can be without dropping or replacing one of them (the target is compared with it).
LIBRARIES_ALONE = """
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
import aws_xray_sdk.core, boto3, botocore.config, bson, handlebarrz, pymongo
from pydantic import BaseModel, ConfigDict, Field, field_validator
"""


def libraries_alone_ms(args: argparse.Namespace, layer: Path) -> float:
    """The imports of LIBRARIES_ALONE in SendFunction's environment: the median of 5 fresh interpreters."""
    from local.lambda_runtime import host_python

    env = lambda_environ("send", layer, environment(args, "http://127.0.0.1:1", "mongodb://127.0.0.1:1/"))
    runs = [
        subprocess.run(
            [host_python(), "-S", "-X", "importtime", "-c", LIBRARIES_ALONE],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stderr
        for _ in range(5)
    ]
    return sorted(_import_ms(run) for run in runs)[2]


def layer_size_mb(layer: Path) -> float:
    return sum(f.stat().st_size for f in layer.rglob("*") if f.is_file()) / 1024 / 1024


def table(args: argparse.Namespace) -> str:
    layer = build_layer()
    times = cold_imports(args, layer)
    lines = [
        "\nCold start of each handler module (built layer only, medians of 5 fresh interpreters):\n",
        "| function | imports (-X importtime) ms | whole init ms | whole init CPU ms |\n|---|---|---|---|",
    ]
    lines += [f"| {name} | {imports:.0f} | {init:.0f} | {cpu:.0f} |" for name, (imports, init, cpu) in times.items()]
    alone = libraries_alone_ms(args, layer)
    lines.append(f"| send's libraries alone (bench/cold_start.py LIBRARIES_ALONE) | {alone:.0f} | | |")
    lines.append(f"Layer size: {layer_size_mb(layer):.1f} MB unzipped (with bytecode)")
    return "\n".join(lines)
