"""What 1,000,000 messages cost in AWS charges, estimated from what a benchmark run used: Lambda
GB-seconds (the measured invocation durations x each function's MemorySize in template.yaml) and
requests, DynamoDB, S3, EventBridge and API Gateway requests; the providers' own per-message fees
(SES, SMS, FCM) are not included. Prices: bench/prices.py.

Counted per run, besides what the benchmarks measure:
- each channel invoke's batch guard (messaging.channels.once): a conditional put when the batch is
  claimed and an update when it completes, 2 writes (the benchmarks' sandboxes run without its table);
- each send's own record: the synchronous path opens and closes it (2 writes), both paths publish
  2 lifecycle events (accepted, then its end state) and answer 1 API Gateway request.
"""

from __future__ import annotations

import argparse
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.prices import PRICED_ON, REGION, unit_price

MILLION = 1_000_000
BATCH_GUARD_WRITES = 2  # per channel invoke
SYNC_RECORD_WRITES = 2  # per synchronous send
EVENTS_PER_SEND = 2
TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


@dataclass(frozen=True)
class Invocations:
    """One function's invocations in a run: how many, and their durations' total."""

    function: str  # the logical id in template.yaml: SendFunction, EmailFunction...
    count: int
    seconds: float


@dataclass(frozen=True)
class Usage:
    """What one run used, in totals."""

    messages: int
    invocations: tuple[Invocations, ...]
    dynamodb_writes: float = 0
    dynamodb_reads: float = 0
    s3_puts: float = 0
    s3_gets: float = 0
    events: float = 0  # EventBridge events published and Scheduler invocations
    api_requests: float = 0
    notes: tuple[str, ...] = field(default=())


def memory_mb(template: str) -> dict[str, int]:
    """Each function's MemorySize (MB) in a SAM template: its own, else the Globals one."""
    default = 128  # Lambda's own
    section, current = "", ""
    functions: set[str] = set()
    sizes: dict[str, int] = {}
    for line in template.splitlines():
        if top := re.match(r"^(\w+):", line):
            section, current = top.group(1), ""
        elif resource := re.match(r"^  (\w+):", line):
            current = resource.group(1)
        elif size := re.match(r"^\s+MemorySize:\s*(\d+)\s*$", line):
            if section == "Globals":
                default = int(size.group(1))
            elif section == "Resources" and current:
                sizes[current] = int(size.group(1))
        elif section == "Resources" and current and re.match(r"^\s+Type:\s*AWS::Serverless::Function\s*$", line):
            functions.add(current)
    return {name: sizes.get(name, default) for name in sorted(functions)}


def per_million(usage: Usage, memory: Mapping[str, int]) -> dict[str, float]:
    """Dollars per 1,000,000 messages, by line of the bill."""
    if usage.messages <= 0:
        raise ValueError("a run without messages has no cost per message")
    gb_s = sum(i.seconds * memory[i.function] / 1024 for i in usage.invocations)
    lines = {
        "Lambda GB-seconds": gb_s * unit_price("lambda_gb_s"),
        "Lambda requests": sum(i.count for i in usage.invocations) * unit_price("lambda_request"),
        "DynamoDB": usage.dynamodb_writes * unit_price("dynamodb_write")
        + usage.dynamodb_reads * unit_price("dynamodb_read"),
        "S3": usage.s3_puts * unit_price("s3_put") + usage.s3_gets * unit_price("s3_get"),
        "EventBridge": usage.events * unit_price("eventbridge_event"),
        "API Gateway": usage.api_requests * unit_price("api_request"),
    }
    scale = MILLION / usage.messages
    return {name: dollars * scale for name, dollars in lines.items()}


def sync_usage(messages: int, send_s: float, invokes: Mapping[str, tuple[int, float]]) -> Usage:
    """One synchronous send: SendFunction for the whole send, the channel invokes as timed."""
    channel = tuple(Invocations(function, count, seconds) for function, (count, seconds) in sorted(invokes.items()))
    count = sum(i.count for i in channel)
    return Usage(
        messages=messages,
        invocations=(Invocations("SendFunction", 1, send_s), *channel),
        dynamodb_writes=count * BATCH_GUARD_WRITES + SYNC_RECORD_WRITES,
        events=EVENTS_PER_SEND,
        api_requests=1,
    )


def async_usage(
    messages: int,
    accept_s: float,
    dispatch: tuple[int, float],
    invokes: Mapping[str, tuple[int, float]],
    dynamodb_requests: int,
    s3_requests: int,
) -> Usage:
    """One asynchronous send: SendFunction accepts it, DispatchFunction's invocations plan and run
    it, the channel invokes as timed; the sends table's and segments' requests as counted (all
    counted as writes, and S3's as PUTs: an upper bound, most of them are)."""
    channel = tuple(Invocations(function, count, seconds) for function, (count, seconds) in sorted(invokes.items()))
    count = sum(i.count for i in channel)
    return Usage(
        messages=messages,
        invocations=(Invocations("SendFunction", 1, accept_s), Invocations("DispatchFunction", *dispatch), *channel),
        dynamodb_writes=dynamodb_requests + count * BATCH_GUARD_WRITES,
        s3_puts=s3_requests,
        events=EVENTS_PER_SEND,
        api_requests=1,
    )


def table(title: str, usage: Usage, memory: Mapping[str, int] | None = None) -> str:
    memory = memory if memory is not None else memory_mb(TEMPLATE.read_text())
    lines = per_million(usage, memory)
    gb_s = sum(i.seconds * memory[i.function] / 1024 for i in usage.invocations) * MILLION / usage.messages
    rows = [
        f"\n{title}: AWS cost per 1,000,000 messages ({REGION} list prices of {PRICED_ON}, bench/prices.py; "
        "the providers' per-message fees excluded)\n",
        "| line | USD per 1M messages |",
        "|---|---|",
        *(f"| {name} | {dollars:.3f} |" for name, dollars in lines.items()),
        f"| **total** | **{sum(lines.values()):.3f}** |",
        f"Lambda: {gb_s:,.0f} GB-s per 1M messages; "
        + ", ".join(f"{i.function} {i.count} x {i.seconds / max(i.count, 1):.2f} s" for i in usage.invocations),
    ]
    return "\n".join(rows)


_HANDED_BACK = re.compile(rb'"batchId": ?"[^"]*-l\d+"')  # messaging.sends.keys.late_batch_id


class TimedInvoker:
    """An invoker (messaging.invoker.Invoker) that adds up each function's invoke durations."""

    def __init__(self, invoke: Callable[[str, bytes], bytes]) -> None:
        self._invoke = invoke
        self._lock = threading.Lock()
        self.totals: dict[str, tuple[int, float]] = {}  # function -> (invokes, seconds)
        self.handed_back = [0, 0]  # batches, messages: those sent again after a channel function handed them back late

    def __call__(self, function_name: str, payload: bytes) -> bytes:
        if _HANDED_BACK.search(payload):
            with self._lock:
                self.handed_back[0] += 1
                self.handed_back[1] += payload.count(b'"userId"')
        started = time.perf_counter()
        try:
            return self._invoke(function_name, payload)
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                count, seconds = self.totals.get(function_name, (0, 0.0))
                self.totals[function_name] = (count + 1, seconds + elapsed)


def tables(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """The cost table of each benchmark row (bench/run.py)."""
    out = []
    for r in rows:
        title = f"{'Asynchronous' if args.asynchronous else 'Synchronous'} path, N = {r['users']} x {r['channels']}"
        invokes = {name: (int(count), float(seconds)) for name, (count, seconds) in r["invoke_s"].items()}
        if args.asynchronous:
            usage = async_usage(
                r["messages"],
                r["accepted_s"],
                (int(r["dispatch"][0]), float(r["dispatch"][1])),
                invokes,
                round(r["dynamodb_per_1000"] * r["messages"] / 1000),
                round(r["s3_per_1000"] * r["messages"] / 1000),
            )
        else:
            usage = sync_usage(r["messages"], r["wall_s"], invokes)
        out.append(table(title, usage))
    return "\n".join(out)
