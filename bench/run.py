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
    python -m bench.run --async --users 40000 --channels email --rate email=200 --provider-rate email=100 \
        --concurrent-sends 2 --latency-ms 60   # paced against a rate-limited provider (bench/limits.py)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from bench import async_send, cold_start, cost, sync_send
from bench.harness import CHANNELS, ROOT

RESULT = "BENCH_RESULT "


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
    parser.add_argument("--rate", help="--async: paced channels' configured rates, e.g. email=200,sms=50")
    parser.add_argument(
        "--provider-rate", help="--async: the provider stand-ins' own limits where they differ from --rate (email=100)"
    )
    parser.add_argument("--concurrent-sends", type=int, default=1, help="--async: sends at once, sharing the rate (1)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size in this process
    return parser.parse_args(argv)


def _run_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    """One audience size in a fresh process (its peak RSS its own): the row it prints."""
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
        *(["--rate", args.rate] if args.rate else []),
        *(["--provider-rate", args.provider_rate] if args.provider_rate else []),
        "--concurrent-sends",
        str(args.concurrent_sends),
    ]
    output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    result = next(line for line in output.splitlines() if line.startswith(RESULT))
    row: dict[str, Any] = json.loads(result[len(RESULT) :])
    return row


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one is not None:
        runner = async_send.run_one if args.asynchronous else sync_send.run_one
        print(RESULT + json.dumps(runner(args)), flush=True)
        return 0
    rows = []
    for n in (int(value) for value in args.users.split(",") if value):
        rows.append(_run_size(n, args))
        print(f"... N={n} done in {rows[-1]['wall_s']:.1f} s", file=sys.stderr, flush=True)
    if args.asynchronous:
        print(async_send.table(rows, args))
        print(cost.tables(rows, args))
        return 0
    print(sync_send.table(rows, args))
    print(cost.tables(rows, args))
    if not args.skip_imports:
        print(cold_start.table(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
