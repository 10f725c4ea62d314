"""The API as client teams' contract tests see it (issue 28): schemathesis, from outside, against
the running sam local chain with openapi.json, every route and the links from a send's answer to
its own routes (stateful), bounded in examples and time. Every answer must be documented: its status,
its content type and its schema; and none is a 5xx."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from local.openapi import DOCUMENT
from tests.e2e.conftest import ROOT, Stack

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = 25
# The whole run's budget: fuzzing and the stateful phase repeat until it is spent.
MAX_TIME_S = 120


def test_every_route_answers_as_openapi_json_documents(e2e: Stack, tmp_path: Path) -> None:
    junit = tmp_path / "schemathesis.xml"
    started = time.monotonic()
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            str(DOCUMENT),
            f"--url={e2e.api}",
            f"--checks={CHECKS}",
            "--phases=examples,coverage,fuzzing,stateful",
            f"--max-examples={MAX_EXAMPLES}",
            f"--max-time={MAX_TIME_S}",
            "--workers=1",
            "--seed=28",
            "--request-timeout=60",
            "--generation-database=none",
            "--suppress-health-check=all",
            "--no-color",
            "--report=junit",
            f"--report-junit-path={junit}",
        ],
        cwd=ROOT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.e2e.contract_hooks", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=MAX_TIME_S + 240,
        check=False,
    )
    output = run.stdout + run.stderr
    print(f"schemathesis ran {time.monotonic() - started:.0f} s:\n{output}")
    assert run.returncode == 0, f"schemathesis found answers openapi.json does not document:\n{output}"
    generated = re.search(r"(\d+) generated", output)
    assert generated, output
    assert int(generated.group(1)) >= 100, output
    assert re.search(r"Selected: 5/5\s+Tested: 5\b", output), output  # every route
