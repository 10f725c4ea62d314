"""Benchmark of POST /send's fan-out against the concurrency bound.

For each audience size N it seeds N users in SecantusDB, then runs SendFunction's pipeline with the
real invoker path (boto3 `lambda.invoke` over HTTP to --parallel warm "sandbox" processes that run
the channel functions' handlers) and the channel functions against provider stand-ins that answer
after --latency-ms. No dispatch can beat the bound ceil(N*C / P) * L, with P = invokes in flight x
provider calls in flight inside each channel function. Each N runs in a fresh process, so peak RSS
is its own. All of it shares this machine's CPUs, so the table also gives the CPU floor: the CPU
time every process spent, over the number of CPUs; no run can be faster than that either.

    python -m bench.run                     # N = 1000, 10000, 100000; 3 channels; L = 20 ms (5 min)
    python -m bench.run --users 100000 --channels sms
    python -m bench.run --async --users 100000,1000000   # Prefer: respond-async (bench/async_send.py)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]
from messaging.channels import registry  # noqa: E402 - the layer's path first

# Every registered channel: its function (logical id, the name the sandboxes answer to).
FUNCTION_NAMES: dict[str, str] = {spec.name: spec.function_id for spec in registry.specs()}
CHANNELS = tuple(FUNCTION_NAMES)
SENDERS = {"email": "noreply@example.com", "sms": "ACME", "voice": "+15550001111"}
RESULT = "BENCH_RESULT "
RENDER_SAMPLE = 2000  # users whose messages are rendered apart, to time rendering alone


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--users", default="1000,10000,100000", help="audience sizes, comma-separated (default 1000,10000,100000)"
    )
    parser.add_argument(
        "--channels",
        default="email,sms,push",
        help=f"channels to send on, of {','.join(CHANNELS)} (default email,sms,push)",
    )
    parser.add_argument("--latency-ms", type=float, default=20.0, help="provider latency per call (default 20)")
    parser.add_argument("--batch", type=int, default=100, help="messages per invoke (BATCH_MAX_MESSAGES, 100)")
    parser.add_argument("--parallel", type=int, default=8, help="invokes in flight (MAX_PARALLEL_INVOKES, 8)")
    parser.add_argument("--concurrency", type=int, default=8, help="provider calls in flight per function (8)")
    parser.add_argument("--skip-imports", action="store_true", help="do not measure cold imports and layer size")
    parser.add_argument(
        "--async", dest="asynchronous", action="store_true", help="the asynchronous path (Prefer: respond-async)"
    )
    parser.add_argument("--segment-users", type=int, default=10_000, help="users per segment (--async; 10000)")
    parser.add_argument(
        "--max-segments", type=int, help="--async: run only the planning and this many segments (a partial run)"
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size in this process
    return parser.parse_args(argv)


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


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    """One audience size, SendFunction in this (fresh) process."""
    sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]
    from local.lambda_runtime import load_function
    from local.servers import secantus_process

    n = int(args.one)
    channels = [c for c in args.channels.split(",") if c]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)])
    with ExitStack() as stack:
        providers = stack.enter_context(standin("providers", str(args.latency_ms)))
        mongo_uri, mongo_process = stack.enter_context(secantus_process())
        seed_started = time.perf_counter()
        seed(mongo_uri, n)
        seed_s = time.perf_counter() - seed_started
        os.environ.update(environment(args, providers.url, mongo_uri))
        sandboxes = stack.enter_context(standin("lambda", str(args.parallel), env=dict(os.environ)))
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] = sandboxes.url
        parts = load_function("send").parts

        from messaging.audience import Audience
        from messaging.compose import Composer, texts_from_request
        from messaging.models.request import SendRequest
        from messaging.service import Sender, send

        invokes: list[int] = []
        real_invoker = parts.invoker

        def recording_invoker(function_name: str, payload: bytes) -> bytes:
            invokes.append(len(payload))
            return bytes(real_invoker(function_name, payload))

        request = SendRequest(
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
        warm = request.model_copy(update={"clusters": None, "recipients": ["user-0000000"]})
        send(warm, Sender(parts.settings, parts.store, parts.renderer, recording_invoker))
        invokes.clear()

        # Resolution alone (the same cursor walk send() does), keeping a sample to time rendering on:
        # holding every user here would inflate the peak RSS this run reports.
        started = time.perf_counter()
        audience = iter(Audience(parts.store, parts.settings.service, None, ["everyone"]))
        sample = list(islice(audience, RENDER_SAMPLE))
        resolved = len(sample) + sum(1 for _ in audience)
        resolve_s = time.perf_counter() - started
        assert resolved == n, f"resolved {resolved} of {n} users"

        composer = Composer(texts_from_request(request), request.channels, request.data, parts.renderer)
        cpu_started = time.process_time()
        rendered = sum(1 for recipient in sample for _ in composer.messages(recipient))
        render_cpu_s = time.process_time() - cpu_started
        del sample

        pids = {"channels": sandboxes.pid, "providers": providers.pid, "mongo": mongo_process.pid}
        others_before = {name: tree_cpu_s(pid) for name, pid in pids.items()}
        cpu_started, started = time.process_time(), time.perf_counter()
        outcome = send(request, Sender(parts.settings, parts.store, parts.renderer, recording_invoker))
        wall_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started
        others = {name: tree_cpu_s(pid) - others_before[name] for name, pid in pids.items()}

    messages = sum(outcome.messages.values())
    in_flight = args.parallel * args.concurrency
    bound_s = math.ceil(n * len(channels) / in_flight) * args.latency_ms / 1000
    return {
        "users": n,
        "channels": len(channels),
        "messages": messages,
        "failures": len(outcome.response.failures),
        "first_failure": outcome.response.failures[0].error if outcome.response.failures else "",
        "wall_s": wall_s,
        "messages_per_s": messages / wall_s,
        "bound_s": bound_s,
        "ratio": bound_s / wall_s,
        "render_cpu_us": render_cpu_s / max(rendered, 1) * 1e6,
        "send_cpu_us": cpu_s / max(messages, 1) * 1e6,
        "channel_cpu_us": others["channels"] / max(messages, 1) * 1e6,
        "standin_cpu_us": (others["providers"] + others["mongo"]) / max(messages, 1) * 1e6,
        # What the CPUs of this machine allow, whatever the latency: all CPU spent / CPUs.
        "cpu_floor_s": (cpu_s + sum(others.values())) / (os.cpu_count() or 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "invokes": len(invokes),
        "largest_payload_kb": max(invokes, default=0) / 1024,
        "resolve_s": resolve_s,
        "seed_s": seed_s,
    }


def build_layer() -> Path:
    """The layer as `sam build` makes it (same Makefile: pinned wheels, our code, bytecode), built
    into bench/.layer once per change of its requirements or code."""
    from local.lambda_runtime import host_python

    sources = [ROOT / "layers" / "common" / "requirements.txt", ROOT / "layers" / "common" / "Makefile"]
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


def cold_imports(args: argparse.Namespace, layer: Path) -> dict[str, tuple[float, float]]:
    """Per function: the imports of its handler module (`python -X importtime`) and the wall time of
    its whole init (imports, configuration, clients), medians of 5 fresh interpreters that see only
    the built layer and the function's folder, with the variables Lambda sets: without
    LAMBDA_TASK_ROOT the X-Ray SDK alone would spend 100 ms on a sampling client Lambda never uses."""
    sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]
    from bench.standins import Providers
    from local.lambda_runtime import host_python
    from local.service_account import make_service_account

    providers = Providers(0, make_service_account("bench")).start()
    script = (
        "import importlib.util, sys, time; spec = importlib.util.spec_from_file_location('app', {path!r}); "
        "module = importlib.util.module_from_spec(spec); t = time.perf_counter(); spec.loader.exec_module(module); "
        "print((time.perf_counter() - t) * 1000)"
    )
    times = {}
    for name in ("send", *CHANNELS):
        task_root = ROOT / "functions" / name
        env = {
            "PATH": os.environ["PATH"],
            **environment(args, providers.url, "mongodb://127.0.0.1:1/"),
            "AWS_ENDPOINT_URL_LAMBDA": "http://127.0.0.1:1",
            "PYTHONPATH": os.pathsep.join([str(task_root), str(layer)]),
            "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's /opt and /var/task are read-only
            "LAMBDA_TASK_ROOT": str(task_root),
            "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAMES.get(name, "SendFunction"),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        }
        # Traced and measured as deployed: the Tracer patches libraries at import.
        del env["POWERTOOLS_TRACE_DISABLED"], env["POWERTOOLS_METRICS_DISABLED"]
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
        inits = sorted(float(run.stdout.split()[-1]) for run in runs)
        times[name] = (imports[2], inits[2])
    providers.stop()
    return times


def layer_size_mb(layer: Path) -> float:
    return sum(f.stat().st_size for f in layer.rglob("*") if f.is_file()) / 1024 / 1024


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one is not None:
        if args.asynchronous:
            from bench import async_send

            print(RESULT + json.dumps(async_send.run_one(args)), flush=True)
        else:
            print(RESULT + json.dumps(run_one(args)), flush=True)
        return 0
    rows = []
    for n in (int(value) for value in args.users.split(",") if value):
        command = [
            sys.executable,
            "-m",
            "bench.run",
            "--one",
            str(n),
            "--channels",
            args.channels,
            "--latency-ms",
            str(args.latency_ms),
            "--batch",
            str(args.batch),
            "--parallel",
            str(args.parallel),
            "--concurrency",
            str(args.concurrency),
            *(["--async", "--segment-users", str(args.segment_users)] if args.asynchronous else []),
            *(["--max-segments", str(args.max_segments)] if args.max_segments is not None else []),
        ]
        output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(next(line for line in output.splitlines() if line.startswith(RESULT))[len(RESULT) :]))
        print(f"... N={n} done in {rows[-1]['wall_s']:.1f} s", file=sys.stderr, flush=True)
    if args.asynchronous:
        from bench import async_send

        print(async_send.table(rows, args))
        return 0

    print(
        f"\nL = {args.latency_ms:g} ms per provider call; P = {args.parallel} invokes x {args.concurrency} calls "
        f"= {args.parallel * args.concurrency} in flight; {args.batch} messages per invoke; "
        f"{os.cpu_count()} CPUs\n"
    )
    print(
        "| N | channels | messages | wall s | msg/s | bound s | bound/wall | CPU floor s | render µs/msg "
        "| send CPU µs/msg | channel fn CPU µs/msg | stand-ins CPU µs/msg | peak RSS MB | invokes "
        "| largest invoke KB | Mongo resolve s | failures |"
    )
    print("|" + "---|" * 17)
    for r in rows:
        print(
            f"| {r['users']} | {r['channels']} | {r['messages']} | {r['wall_s']:.2f} | {r['messages_per_s']:.0f} "
            f"| {r['bound_s']:.2f} | {r['ratio']:.0%} | {r['cpu_floor_s']:.2f} | {r['render_cpu_us']:.1f} "
            f"| {r['send_cpu_us']:.0f} | {r['channel_cpu_us']:.0f} | {r['standin_cpu_us']:.0f} "
            f"| {r['peak_rss_mb']:.0f} | {r['invokes']} | {r['largest_payload_kb']:.1f} | {r['resolve_s']:.2f} "
            f"| {r['failures']} |"
        )
    if not args.skip_imports:
        layer = build_layer()
        times = cold_imports(args, layer)
        print("\nCold start of each handler module (built layer only, medians of 5 fresh interpreters):\n")
        print("| function | imports (-X importtime) ms | whole init ms |\n|---|---|---|")
        for name, (imports_ms, init_ms) in times.items():
            print(f"| {name} | {imports_ms:.0f} | {init_ms:.0f} |")
        print(f"Layer size: {layer_size_mb(layer):.1f} MB unzipped (with bytecode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
