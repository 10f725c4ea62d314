"""One audience size of the synchronous path (POST /send's fan-out), SendFunction in this process,
and the table of the sizes run."""

from __future__ import annotations

import argparse
import math
import os
import resource
import time
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from bench.cost import TimedInvoker
from bench.harness import ROOT, appointment_request, environment, standin, timed_seed, tree_cpu_s

if TYPE_CHECKING:
    from messaging.models.request import SendRequest

RENDER_SAMPLE = 2000  # users whose messages are rendered apart, to time rendering alone


@dataclass
class _Measured:
    """What one run measured, besides the outcome's counts."""

    seed_s: float
    resolve_s: float
    render_cpu_s: float
    rendered: int
    wall_s: float
    cpu_s: float
    others: dict[str, float]  # CPU seconds of the channel functions' and the stand-ins' processes
    invokes: list[int]  # the payload size of each invoke
    invoke_s: dict[str, tuple[int, float]]  # per channel function: invokes, their seconds


def _resolve_and_render(app: Any, request: SendRequest, n: int) -> tuple[float, float, int]:
    """Resolution alone (the same cursor walk send() does), keeping a sample to time rendering on:
    holding every user here would inflate the peak RSS this run reports."""
    # The layer's modules are imported once the function is loaded, in its environment.
    from messaging.audience import Audience
    from messaging.templates.compose import Composer, texts_from_request

    started = time.perf_counter()
    audience = iter(Audience(app.store, app.settings.service, None, ["everyone"]))
    sample = list(islice(audience, RENDER_SAMPLE))
    resolved = len(sample) + sum(1 for _ in audience)
    resolve_s = time.perf_counter() - started
    assert resolved == n, f"resolved {resolved} of {n} users"
    composer = Composer(texts_from_request(request), request.channels, request.data, app.renderer)
    cpu_started = time.process_time()
    rendered = sum(1 for recipient in sample for _ in composer.messages(recipient))
    return resolve_s, time.process_time() - cpu_started, rendered


def _measure(app: Any, request: SendRequest, pids: dict[str, int], n: int, seed_s: float) -> tuple[Any, _Measured]:
    from messaging.service import Sender, send

    invokes: list[int] = []
    real_invoker = TimedInvoker(app.invoker)

    def recording_invoker(function_name: str, payload: bytes) -> bytes:
        invokes.append(len(payload))
        return bytes(real_invoker(function_name, payload))

    warm = request.model_copy(update={"clusters": None, "recipients": ["user-0000000"]})
    send(warm, Sender(app.settings, app.store, app.renderer, recording_invoker))
    invokes.clear()
    real_invoker.totals.clear()
    resolve_s, render_cpu_s, rendered = _resolve_and_render(app, request, n)
    others_before = {name: tree_cpu_s(pid) for name, pid in pids.items()}
    cpu_started, started = time.process_time(), time.perf_counter()
    outcome = send(request, Sender(app.settings, app.store, app.renderer, recording_invoker))
    wall_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    others = {name: tree_cpu_s(pid) - others_before[name] for name, pid in pids.items()}
    measured = _Measured(seed_s, resolve_s, render_cpu_s, rendered, wall_s, cpu_s, others, invokes, real_invoker.totals)
    return outcome, measured


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    """One audience size, SendFunction in this (fresh) process."""
    from local.lambda_runtime import load_function
    from local.servers import secantus_process

    n = int(args.one)
    channels = [c for c in args.channels.split(",") if c]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)])
    with ExitStack() as stack:
        providers = stack.enter_context(standin("providers", str(args.latency_ms)))
        mongo_uri, mongo_process = stack.enter_context(secantus_process())
        seed_s = timed_seed(mongo_uri, n)
        os.environ.update(environment(args, providers.url, mongo_uri))
        sandboxes = stack.enter_context(standin("lambda", str(args.parallel), env=dict(os.environ)))
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] = sandboxes.url
        send_app = load_function("send").parts
        pids = {"channels": sandboxes.pid, "providers": providers.pid, "mongo": mongo_process.pid}
        outcome, measured = _measure(send_app, appointment_request(channels), pids, n, seed_s)
    return _row(n, channels, args, outcome, measured)


def _row(n: int, channels: list[str], args: argparse.Namespace, outcome: Any, m: _Measured) -> dict[str, Any]:
    messages = sum(outcome.messages.values())
    in_flight = args.parallel * args.concurrency
    bound_s = math.ceil(n * len(channels) / in_flight) * args.latency_ms / 1000
    return {
        "users": n,
        "channels": len(channels),
        "messages": messages,
        "failures": len(outcome.response.failures),
        "first_failure": outcome.response.failures[0].error if outcome.response.failures else "",
        "wall_s": m.wall_s,
        "messages_per_s": messages / m.wall_s,
        "bound_s": bound_s,
        "ratio": bound_s / m.wall_s,
        "render_cpu_us": m.render_cpu_s / max(m.rendered, 1) * 1e6,
        "send_cpu_us": m.cpu_s / max(messages, 1) * 1e6,
        "channel_cpu_us": m.others["channels"] / max(messages, 1) * 1e6,
        "standin_cpu_us": (m.others["providers"] + m.others["mongo"]) / max(messages, 1) * 1e6,
        # What the CPUs of this machine allow, whatever the latency: all CPU spent / CPUs.
        "cpu_floor_s": (m.cpu_s + sum(m.others.values())) / (os.cpu_count() or 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "invokes": len(m.invokes),
        "largest_payload_kb": max(m.invokes, default=0) / 1024,
        "resolve_s": m.resolve_s,
        "seed_s": m.seed_s,
        "invoke_s": m.invoke_s,
    }


def table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"\nL = {args.latency_ms:g} ms per provider call; P = {args.parallel} invokes x {args.concurrency} calls "
        f"= {args.parallel * args.concurrency} in flight; {args.batch} messages per invoke; "
        f"{os.cpu_count()} CPUs\n",
        "| N | channels | messages | wall s | msg/s | bound s | bound/wall | CPU floor s | render µs/msg "
        "| send CPU µs/msg | channel fn CPU µs/msg | stand-ins CPU µs/msg | peak RSS MB | invokes "
        "| largest invoke KB | Mongo resolve s | failures |",
        "|" + "---|" * 17,
    ]
    for r in rows:
        lines.append(
            f"| {r['users']} | {r['channels']} | {r['messages']} | {r['wall_s']:.2f} | {r['messages_per_s']:.0f} "
            f"| {r['bound_s']:.2f} | {r['ratio']:.0%} | {r['cpu_floor_s']:.2f} | {r['render_cpu_us']:.1f} "
            f"| {r['send_cpu_us']:.0f} | {r['channel_cpu_us']:.0f} | {r['standin_cpu_us']:.0f} "
            f"| {r['peak_rss_mb']:.0f} | {r['invokes']} | {r['largest_payload_kb']:.1f} | {r['resolve_s']:.2f} "
            f"| {r['failures']} |"
        )
    return "\n".join(lines)
