"""docs/api.md, "Calling the deployed API": its curl and Python examples run as written against a loopback
stand-in for API Gateway that checks each SigV4 signature (or API key) and hands the call to
SendFunction's handler, so the examples cannot rot."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from botocore.credentials import Credentials

from examples import call_signed
from tests.conftest import ApiCall
from tests.signed_gateway import SignedGateway

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
CREDENTIALS = Credentials("AKIDEXAMPLECLIENT", "client-secret-key", "client-session-token")
API_KEY = "k3y-for-the-usage-plan"


def _blocks(language: str) -> list[str]:
    page = (ROOT / "docs" / "api.md").read_text()
    section = page.split("## Calling the deployed API", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


@pytest.fixture
def gateway(api: ApiCall, functions: dict[str, ModuleType]) -> Iterator[SignedGateway]:
    with SignedGateway(
        functions["send"].lambda_handler, credentials=CREDENTIALS, region=REGION, api_key=API_KEY
    ) as running:
        yield running


def _curl(block: str, gateway: SignedGateway, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "SEND_URL": gateway.send_url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": CREDENTIALS.access_key,
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS.secret_key,
        "AWS_SESSION_TOKEN": str(CREDENTIALS.token),
        "API_KEY": API_KEY,
        **environ,
    }
    return subprocess.run(["bash", "-c", block], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def _block_with(text: str) -> str:
    (block,) = [block for block in _blocks("bash") if text in block]
    return block


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_signed_curl_example_is_accepted_and_a_wrong_secret_is_not(gateway: SignedGateway) -> None:
    block = _block_with("--aws-sigv4")
    done = _curl(block, gateway)
    assert done.returncode == 0, done.stderr + done.stdout
    assert set(json.loads(done.stdout)) == {"failures"}
    assert gateway.requests[-1]["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={CREDENTIALS.access_key}/")
    refused = _curl(block, gateway, AWS_SECRET_ACCESS_KEY="not-the-secret")
    assert refused.returncode == 22  # --fail-with-body: the 403
    assert "signature" in json.loads(refused.stdout)["message"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_api_key_curl_example_is_accepted(gateway: SignedGateway) -> None:
    gateway.mode = "api_key"
    done = _curl(_block_with("x-api-key"), gateway)
    assert done.returncode == 0, done.stderr + done.stdout
    assert set(json.loads(done.stdout)) == {"failures"}
    assert _curl(_block_with("x-api-key"), gateway, API_KEY="another").returncode == 22


def test_the_python_example_is_the_documented_one_and_signs_what_it_sends(
    gateway: SignedGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    (block,) = _blocks("python")
    assert block in (ROOT / "messaging_client" / "signing.py").read_text()  # what call_signed.send signs with
    for name, value in {
        "AWS_ACCESS_KEY_ID": CREDENTIALS.access_key,
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS.secret_key,
        "AWS_SESSION_TOKEN": str(CREDENTIALS.token),
    }.items():
        monkeypatch.setenv(name, value)
    body = json.loads((ROOT / "events" / "requests" / "by-recipients.json").read_text())
    body["recipients"] = ["u1"]
    status, answer = call_signed.send(gateway.send_url, body, region=REGION, idempotency_key="readme-python-1")
    assert (status, answer) == (200, {"failures": []})
    # Bad credentials never reach the service.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    status, answer = call_signed.send(gateway.send_url, body, region=REGION)
    assert status == 403
    gateway.mode = "api_key"
    assert call_signed.send(gateway.send_url, body, api_key=API_KEY)[0] == 200
    assert call_signed.send(gateway.send_url, body, api_key="another")[0] == 403


def _installed_client(bin_dir: Path) -> Path:
    """`messaging` on PATH as `make venv` installs it: pyproject's [project.scripts] entry, run by this Python."""
    (entry,) = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"].items()
    name, target = entry
    module, function = target.split(":")
    script = bin_dir / name
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom {module} import {function}\nsys.exit({function}())\n")
    script.chmod(0o755)
    return bin_dir


def test_the_command_line_example_signs_and_prints_the_services_refusal(gateway: SignedGateway, tmp_path: Path) -> None:
    block = _block_with("messaging --url")
    path = f"{_installed_client(tmp_path)}:{os.environ['PATH']}"
    done = _curl(block, gateway, PATH=path, MESSAGING_AUTH="iam", PYTHONPATH=str(ROOT))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) == {"sendId", "failures"}
    assert gateway.requests[-1]["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={CREDENTIALS.access_key}/")
    refused = _curl(block, gateway, PATH=path, MESSAGING_AUTH="iam", PYTHONPATH=str(ROOT), AWS_SECRET_ACCESS_KEY="x")
    assert refused.returncode == 1
    assert refused.stderr.startswith("messaging: 403 Forbidden: The request signature we calculated does not match")


def test_only_http_urls_are_called() -> None:
    with pytest.raises(ValueError, match="not an HTTP URL"):
        call_signed.send("file:///etc/passwd", {})
