"""What both benchmarks (bench/run.py's synchronous path, bench/async_send.py's asynchronous one)
run on: the layer on the path, the functions' environment, seeded users, stand-ins in their own
processes and the CPU they spend."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]
from messaging.channels import registry  # noqa: E402 - the layer's path first
from messaging.models.common import Channel  # noqa: E402
from messaging.models.request import SendRequest  # noqa: E402

# Every registered channel: its function (logical id, the name the sandboxes answer to).
FUNCTION_NAMES: dict[str, str] = {spec.name: spec.function_id for spec in registry.specs()}
CHANNELS = tuple(FUNCTION_NAMES)
SENDERS = {"email": "noreply@example.com", "sms": "ACME", "voice": "+15550001111"}


def environment(args: argparse.Namespace, providers_url: str, mongo_uri: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SESV2": providers_url,
        "AWS_ENDPOINT_URL_SNS": providers_url,
        "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2": providers_url,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": providers_url,
        "POWERTOOLS_SERVICE_NAME": "messaging",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "SERVICE_CONFIG": json.dumps(
            {
                "activeChannels": list(CHANNELS),
                "sender": {channel: SENDERS[channel] for channel in CHANNELS if channel in SENDERS},
                "templateUserFields": ["name", "surname"],
            }
        ),
        "MONGODB_URI": mongo_uri,
        "MONGODB_TIMEOUT_MS": "20000",
        **{spec.function_env: spec.function_id for spec in registry.specs()},
        # The pipeline is measured past the API's synchronous limit (10,000 users by default).
        "SYNC_MAX_AUDIENCE": "100000",
        "BATCH_MAX_MESSAGES": str(args.batch),
        "MAX_PARALLEL_INVOKES": str(args.parallel),
        "CHANNEL_CONCURRENCY": str(args.concurrency),
        "FCM_PROJECT_ID": "bench",
        "FCM_CREDENTIALS_SECRET_ID": "fcm",
        "FCM_ENDPOINT": providers_url,
        "FCM_TOKEN_URI": f"{providers_url}/token",
    }


def seed(mongo_uri: str, n: int) -> None:
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    users = client["messaging"]["users"]
    users.create_index("clusters")
    for start in range(0, n, 5000):
        users.insert_many(
            [
                {
                    "_id": f"user-{i:07d}",
                    "name": f"User {i}",
                    "surname": "Bench",
                    "emailAddress": f"user{i}@example.com",
                    "phoneNumber": f"+3933{i:08d}",
                    "deviceToken": f"token-{i}",
                    "clusters": ["everyone", "even" if i % 2 == 0 else "odd"],
                }
                for i in range(start, min(n, start + 5000))
            ]
        )
    client.close()


def timed_seed(mongo_uri: str, n: int) -> float:
    """Seeds n users; the seconds it took."""
    started = time.perf_counter()
    seed(mongo_uri, n)
    return time.perf_counter() - started


def appointment_request(channels: list[Channel]) -> SendRequest:
    """The benchmarks' request: a title and a content with a date formatted and a condition."""
    return SendRequest(
        channels=channels,
        clusters=["everyone"],
        messageTitle="Appointment for {{user.name}} {{user.surname}}",
        messageContent=(
            "Hello, {{user.name}}! Your appointment is dated "
            '{{dateFormat data.appointmentDate format="DD/MM/YYYY HH:mm" tz="Europe/Rome"}}. '
            '{{#if (eq data.type "patients")}}Bring your card.{{/if}}'
        ),
        data={"appointmentDate": "2026-12-01T09:30:00Z", "type": "patients"},
    )


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its living descendants."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += tree_cpu_s(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass  # ended meanwhile
    return total


@dataclass
class StandIn:
    url: str
    pid: int


@contextmanager
def standin(*arguments: str, env: dict[str, str] | None = None) -> Iterator[StandIn]:
    """A stand-in in its own process (as providers and channel functions are)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.standins", *arguments],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the functions may log before the server is up
            if line.startswith("URL "):
                break
        else:
            raise RuntimeError(f"stand-in {arguments[0]} did not start")
        yield StandIn(line[4:].strip(), process.pid)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)
