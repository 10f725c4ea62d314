"""Starts the offline stack (`python -m local.stack`, what `make start` runs) on ports of its own,
so a developer's running stack is left alone, and stops it after the session."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from local.demo_data import USERS
from local.servers import MotoOutbox

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"api": 3100, "lambda": 3101, "mongo": 27117, "moto": 5100, "fcm": 8190, "files": 8191, "eum": 8192}


@dataclass
class Stack:
    api: str
    fcm: str
    eum: str  # the End User Messaging SMS and Voice v2 stand-in
    outbox: MotoOutbox
    last_headers: dict[str, str] = field(default_factory=dict)

    def post(self, body: Any, headers: dict[str, str] | None = None, path: str = "/send") -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{self.api}{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                self.last_headers = dict(response.headers)
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            self.last_headers = dict(error.headers)
            return error.code, json.load(error)

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        """GET on the API (the status of an asynchronous send, its failures)."""
        try:
            with urllib.request.urlopen(f"{self.api}{path}", timeout=60) as response:
                self.last_headers = dict(response.headers)
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            self.last_headers = dict(error.headers)
            return error.code, json.load(error)

    def invoke(self, function: str, payload: Any) -> Any:
        """A function invoked on the stack's `sam local start-lambda` endpoint, as SNS would."""
        import boto3
        from botocore.config import Config

        lambdas = boto3.client(
            "lambda",
            endpoint_url=f"http://127.0.0.1:{PORTS['lambda']}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # sam local accepts any
            config=Config(read_timeout=120, retries={"max_attempts": 1}),
        )
        answer = lambdas.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
        return json.loads(answer["Payload"].read())

    def send_id(self) -> str:
        """The X-Send-Id of the last answer."""
        return {name.lower(): value for name, value in self.last_headers.items()}["x-send-id"]

    def pushes(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.fcm}/messages", timeout=10) as response:
            messages: list[dict[str, Any]] = json.load(response)["messages"]
            return messages

    def voice_calls(self) -> list[dict[str, Any]]:
        """SendVoiceMessage requests the End User Messaging stand-in accepted."""
        with urllib.request.urlopen(f"{self.eum}/messages", timeout=10) as response:
            messages: list[dict[str, Any]] = json.load(response)["messages"]
            return [message for message in messages if message["operation"] == "SendVoiceMessage"]

    def reset(self) -> None:
        """Nothing sent yet, and the demo users as seeded: a send may record a stale token or an opt-out."""
        client: MongoClient[dict[str, Any]] = MongoClient(
            f"mongodb://127.0.0.1:{PORTS['mongo']}/?directConnection=true"
        )
        users = client["messaging"]["users"]
        for user in USERS:
            users.replace_one({"_id": user["_id"]}, dict(user), upsert=True)
        client.close()
        self.reset_sent()

    def reset_sent(self) -> None:
        """Forget what was sent so far (moto's outbox mark, the stand-ins' records)."""
        self.outbox.mark()
        for standin in (self.fcm, self.eum):
            urllib.request.urlopen(urllib.request.Request(f"{standin}/messages", method="DELETE"), timeout=10).close()


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    docker = subprocess.run([str(ROOT / "scripts" / "ensure-docker.sh")], capture_output=True, text=True, check=False)
    if docker.returncode != 0:
        pytest.fail(f"the end-to-end tests need Docker for sam local: {docker.stderr.strip()}")
    log_path = ROOT / ".aws-sam" / "e2e-stack.log"
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local.stack",
                *(arg for name, port in PORTS.items() for arg in (f"--{name}-port", str(port))),
                # A machine shared by several runs builds sam local's images slowly.
                "--start-timeout",
                "600",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 900  # a first run builds the Lambda image
        while b"[stack] ready" not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the local stack did not start:\n{log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(0.5)
        yield Stack(
            api=f"http://127.0.0.1:{PORTS['api']}",
            fcm=f"http://127.0.0.1:{PORTS['fcm']}",
            eum=f"http://127.0.0.1:{PORTS['eum']}",
            outbox=MotoOutbox(f"http://127.0.0.1:{PORTS['moto']}"),
        )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def e2e(stack: Stack) -> Stack:
    stack.reset()
    return stack
