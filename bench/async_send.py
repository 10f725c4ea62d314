"""The asynchronous path (`Prefer: respond-async`) under `make bench ARGS=--async`.

One audience size per fresh process, as for the synchronous path: N users seeded in SecantusDB, the
send accepted as SendFunction accepts it, then DispatchFunction's events (planning, segments,
continuations) run in this process on `SEGMENT_PARALLEL` threads, each as its own invocation,
with the real invoker path (boto3 `lambda.invoke` over HTTP to --parallel warm sandbox processes
running the channel functions) against the provider stand-ins, and the sends table and segments in
a moto server of its own process. Each dispatcher keeps MAX_PARALLEL_INVOKES = --parallel invokes
in flight, as deployed; the --parallel sandboxes run them, so the concurrency bound is the
synchronous benchmark's: --parallel sandboxes x --concurrency provider calls.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import resource
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from bench.cost import TimedInvoker
from bench.harness import ROOT, appointment_request, environment, standin, timed_seed, tree_cpu_s
from bench.rates import failed_for_throttling, pacing_rows, provider_rates, rate_lines, rates

SEGMENT_PARALLEL = 4
BUCKET = "bench-sends"
TABLE = "bench-sends"


@contextmanager
def moto_process() -> Iterator[tuple[str, int]]:
    from local.servers import free_port, wait_for_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=open(os.environ.get("BENCH_MOTO_LOG", os.devnull), "wb"),  # noqa: SIM115 - the process's
    )
    try:
        wait_for_port(port, 30)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def provision(endpoint: str) -> None:
    import boto3

    # The environment's (fake) credentials and region, as the functions see them.
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    boto3.client("dynamodb", endpoint_url=endpoint).create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )


class Lambda:
    """Lambda's asynchronous invokes of DispatchFunction: a queue and `workers` concurrent sandboxes."""

    def __init__(self, handler: Any, workers: int, max_segments: int | None = None) -> None:
        self._handler = handler
        self._max_segments = max_segments  # later segments' events are dropped (a partial run)
        self.dropped = 0
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._outstanding = 0
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._workers = workers
        self.invocations = 0
        self.busy_s = 0.0  # the invocations' durations (bench/cost.py)
        self.retries = 0
        self.errors: list[BaseException] = []
        self.invoker: TimedInvoker | None = None  # the dispatchers' channel invokes, timed

    def __call__(self, function_name: str, event: dict[str, Any]) -> None:
        if self._max_segments is not None and int(event.get("segment", -1)) >= self._max_segments:
            self.dropped += 1
            return
        with self._lock:
            self._outstanding += 1
            self._idle.clear()
        self._events.put(event)

    def _work(self) -> None:
        from local.lambda_runtime import LambdaContext

        while True:
            event = self._events.get()
            try:
                context = LambdaContext(function_name="DispatchFunction", aws_request_id=str(uuid.uuid4()))
                context.remaining_ms = 900_000
                for attempt in range(3):  # as Lambda does: two retries of a failed invocation
                    try:
                        started = time.perf_counter()
                        self._handler(event, context)
                        self.busy_s += time.perf_counter() - started
                        self.invocations += 1
                        break
                    except Exception as exc:  # noqa: BLE001 - reported at the end
                        self.errors.append(exc)
                        self.retries += attempt < 2
            finally:
                with self._lock:
                    self._outstanding -= 1
                    if self._outstanding == 0:
                        self._idle.set()

    def run_until_idle(self) -> None:
        for _ in range(self._workers):
            threading.Thread(target=self._work, daemon=True).start()
        self._idle.wait()


def _dispatch_environment(args: argparse.Namespace, sandboxes_url: str, moto_url: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_LAMBDA": sandboxes_url,
        "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
        "AWS_ENDPOINT_URL_S3": moto_url,
        "SENDS_TABLE": TABLE,
        "ATTACHMENTS_BUCKET": BUCKET,
        "DISPATCH_FUNCTION_NAME": "DispatchFunction",
        "SEGMENT_PARALLEL": str(SEGMENT_PARALLEL),
        "SEGMENT_USERS": str(args.segment_users),
        "MAX_PARALLEL_INVOKES": str(args.parallel),
        "EMAIL_MAX_RATE": "0",  # unpaced unless --rate says: the engine's own speed
        **{f"{channel.upper()}_MAX_RATE": str(rate) for channel, rate in rates(args.rate).items()},
    }


@dataclass
class _Measured:
    """What one run measured, besides the send's record."""

    seed_s: float
    accepted_s: float
    wall_s: float
    cpu_s: float
    others: dict[str, float]  # CPU seconds of the channel functions', the stand-ins' and moto's processes
    sends_requests: dict[str, int]
    pacing_requests: int
    late_slots: int  # slots given up: their batch woke over LATE_MS late
    handed_back: list[int]  # batches and messages sent again: their channel function got them late
    leads_ms: dict[str, float]  # per paced channel, how far ahead of its slot a batch was invoked at the end
    failed_throttled: dict[str, int]  # per channel, over every send
    provider: dict[str, dict[str, Any]]  # what the provider stand-ins saw (bench/limits.py)


def _measure(
    app: Any, runtime: Lambda, channels: list[Any], pids: dict[str, int], seed_s: float, sends: int, providers_url: str
) -> tuple[list[Any], _Measured]:
    # The layer's modules are imported once the function is loaded, in its environment.
    from messaging.sends.accept import accept

    request = appointment_request(channels)
    others_before = {name: tree_cpu_s(pid) for name, pid in pids.items()}
    cpu_started, started, started_at = time.process_time(), time.perf_counter(), time.monotonic()
    send_ids = [accept(request, app.settings, app.store, app.renderer, app.sends, runtime) for _ in range(sends)]
    accepted_s = time.perf_counter() - started
    runtime.run_until_idle()
    wall_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    others = {name: tree_cpu_s(pid) - others_before[name] for name, pid in pids.items()}
    records = [app.sends.records.get(send_id) for send_id in send_ids]
    assert all(record is not None for record in records)
    with urllib.request.urlopen(f"{providers_url}/stats", timeout=10) as answer:  # noqa: S310 - the stand-in's
        provider = json.loads(answer.read())
    for seen in provider.values():  # where the wall time goes: before the first message, after the last
        if seen.get("first") is not None:
            seen["first_after_s"] = seen["first"] - started_at
            seen["tail_s"] = started_at + wall_s - seen["last"]
    measured = _Measured(
        seed_s,
        accepted_s,
        wall_s,
        cpu_s,
        others,
        dict(app.sends.requests),
        app.dispatcher.pacer.requests,
        app.dispatcher.pacer.late,
        list(app.dispatcher.invoker.handed_back),
        {channel: app.dispatcher.pacer.lead_ms(channel) for channel in app.dispatcher.pacer.rates},
        failed_for_throttling(app, send_ids),
        provider,
    )
    return records, measured


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    from local.lambda_runtime import load_function
    from local.servers import secantus_process

    n = int(args.one)
    channels = [c for c in args.channels.split(",") if c]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)])
    with ExitStack() as stack:
        limits = ",".join(f"{channel}={rate:g}" for channel, rate in provider_rates(args).items())
        providers = stack.enter_context(standin("providers", str(args.latency_ms), limits))
        mongo_uri, mongo_process = stack.enter_context(secantus_process())
        moto_url, moto_pid = stack.enter_context(moto_process())
        seed_s = timed_seed(mongo_uri, n)
        os.environ.update(environment(args, providers.url, mongo_uri))
        provision(moto_url)
        sandboxes = stack.enter_context(standin("lambda", str(args.parallel), env=dict(os.environ)))
        os.environ.update(_dispatch_environment(args, sandboxes.url, moto_url))
        dispatch_app = load_function("dispatch")
        sends = args.concurrent_sends
        runtime = Lambda(dispatch_app.lambda_handler, SEGMENT_PARALLEL * sends, args.max_segments)
        dispatch_app.dispatcher.launcher = runtime
        dispatch_app.dispatcher.invoker = runtime.invoker = TimedInvoker(dispatch_app.dispatcher.invoker)
        pids = {"channels": sandboxes.pid, "providers": providers.pid, "mongo": mongo_process.pid, "moto": moto_pid}
        records, measured = _measure(dispatch_app, runtime, channels, pids, seed_s, sends, providers.url)
    row = _row(n, channels, args, records[0], runtime, measured)
    row["rates"] = pacing_rows(channels, args, records, measured)
    pacer = dispatch_app.dispatcher.pacer
    row["pacer"] = {"late": pacer.late, "waits": pacer.waits, "changes": pacer.changes[-40:]}
    return row


def _row(
    n: int, channels: list[str], args: argparse.Namespace, record: Any, runtime: Lambda, m: _Measured
) -> dict[str, Any]:
    counts = {channel: record.channel_counts(channel) for channel in channels}
    messages = sum(c["sent"] + c["failed"] for c in counts.values())
    in_flight = args.parallel * args.concurrency
    bound_s = math.ceil(messages / in_flight) * args.latency_ms / 1000
    dynamodb = m.sends_requests["dynamodb"] + m.pacing_requests
    return {
        "users": n,
        "channels": len(channels),
        "status": record.status if not runtime.dropped else f"{record.segments_done} of {record.segments} segments run",
        "messages": messages,
        "sent": sum(c["sent"] for c in counts.values()),
        "failed": sum(c["failed"] for c in counts.values()),
        "pending": sum(c["pending"] for c in counts.values()),
        "errors": [repr(error)[:200] for error in runtime.errors[:3]],
        "retries": runtime.retries,
        "accepted_s": m.accepted_s,
        "wall_s": m.wall_s,
        "messages_per_s": messages / m.wall_s,
        "bound_s": bound_s,
        "ratio": bound_s / m.wall_s,
        "cpu_floor_s": (m.cpu_s + sum(m.others.values())) / (os.cpu_count() or 1),
        "dispatch_cpu_us": m.cpu_s / max(messages, 1) * 1e6,
        "moto_cpu_s": m.others["moto"],
        "cpu_s": {"dispatchers": m.cpu_s, **m.others},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "segments": record.segments,
        "invocations": runtime.invocations,
        "dynamodb_per_1000": dynamodb / max(messages, 1) * 1000,
        "s3_per_1000": m.sends_requests["s3"] / max(messages, 1) * 1000,
        "seed_s": m.seed_s,
        "dispatch": (runtime.invocations, runtime.busy_s),
        "invoke_s": runtime.invoker.totals if runtime.invoker else {},
    }


def table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"\nAsynchronous path: up to {SEGMENT_PARALLEL} dispatchers x {args.parallel} invokes, run by "
        f"{args.parallel} sandboxes x {args.concurrency} calls in flight; {args.segment_users} users per segment; "
        f"L = {args.latency_ms:g} ms; "
        f"{os.cpu_count()} CPUs\n",
        "| N | channels | messages | status | wall s | msg/s | bound s | bound/wall | CPU floor s | wall/CPU floor "
        "| dispatch CPU µs/msg | dispatchers' peak RSS MB | segments | invocations | DynamoDB req/1000 msg "
        "| S3 req/1000 msg | 202 after s |",
        "|" + "---|" * 17,
    ]
    paced: list[str] = []
    for r in rows:
        paced.extend(rate_lines(r))
        lines.append(
            f"| {r['users']} | {r['channels']} | {r['messages']} | {r['status']} | {r['wall_s']:.1f} "
            f"| {r['messages_per_s']:.0f} | {r['bound_s']:.1f} | {r['ratio']:.0%} | {r['cpu_floor_s']:.1f} "
            f"| {r['wall_s'] / max(r['cpu_floor_s'], 1e-9):.2f} | {r['dispatch_cpu_us']:.0f} | {r['peak_rss_mb']:.0f} "
            f"| {r['segments']} | {r['invocations']} | {r['dynamodb_per_1000']:.1f} | {r['s3_per_1000']:.2f} "
            f"| {r['accepted_s']:.2f} |"
        )
    return "\n".join(lines + paced)
