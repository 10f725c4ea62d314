"""The benchmark still runs end to end: SecantusDB, the real invoker path, the warm sandboxes and
the provider stand-ins, every message delivered. Its figures are for reading, never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_benchmark_delivers_every_message_and_prints_its_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--users", "120", "--skip-imports", "--parallel", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    [row] = [line for line in result.stdout.splitlines() if line.startswith("| 120 |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    # users, channels, messages ... invokes, largest KB, resolve s, failures
    assert cells[:3] == ["120", "3", "360"]
    assert cells[-4] == "6"  # 120 users x 3 channels in batches of 100
    assert cells[-1] == "0"


def test_the_asynchronous_benchmark_completes_every_send() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--async",
            "--users",
            "300",
            "--segment-users",
            "100",
            "--skip-imports",
            "--parallel",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    [row] = [line for line in result.stdout.splitlines() if line.startswith("| 300 |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    # users, channels, messages, status ... segments, invocations
    assert cells[:4] == ["300", "3", "900", "completed"]
    assert cells[12:14] == ["3", "4"]  # 3 segments of 100 users, run after the planning invocation
