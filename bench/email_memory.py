"""Peak memory of EmailFunction sending one batch with a large attachment.

For each attachment size it stages the file in S3 (moto, in this process), then runs EmailFunction's
handler in a fresh child process on a batch of --messages e-mails at CHANNEL_CONCURRENCY
--concurrency, against a loopback stand-in of SES v2 (in this process) that reads each request body
whole and answers after --latency-ms. The child reports its own peak RSS (ru_maxrss) and the most
SendEmail calls the stand-in saw in flight at once.

    python -m bench.email_memory                          # 1, 5, 15 MB x 16 messages, concurrency 8
    python -m bench.email_memory --sizes 15 --memory-size 1024
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "bench-attachments"
RESULT = "BENCH_RESULT "
MB = 1024 * 1024


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,5,15", help="attachment sizes in MB, comma-separated (1,5,15)")
    parser.add_argument("--messages", type=int, default=16, help="e-mails in the batch (16)")
    parser.add_argument("--concurrency", type=int, default=8, help="CHANNEL_CONCURRENCY (8)")
    parser.add_argument("--memory-size", type=int, default=512, help="AWS_LAMBDA_FUNCTION_MEMORY_SIZE in MB (512)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="SES stand-in latency per call (50)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: one size in this process
    return parser.parse_args(argv)


class SesStandIn:
    """SES v2 SendEmail: reads the body (as SES would), counts calls in flight, answers a MessageId."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.in_flight = 0
        self.peak_in_flight = 0
        self.calls = 0
        self.largest_body = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def reset(self) -> None:
        with self._lock:
            self.peak_in_flight = self.calls = self.largest_body = 0

    def stop(self) -> None:
        self._server.shutdown()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                with standin._lock:
                    standin.in_flight += 1
                    standin.calls += 1
                    standin.peak_in_flight = max(standin.peak_in_flight, standin.in_flight)
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                    remaining = length
                    while remaining > 0:
                        chunk = self.rfile.read(min(remaining, 1 << 20))
                        remaining = remaining - len(chunk) if chunk else 0
                    time.sleep(standin.latency_s)
                    body = b'{"MessageId": "m"}'
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with standin._lock:
                        standin.in_flight -= 1
                        standin.largest_body = max(standin.largest_body, length)

        return Handler


def run_one(size_mb: int, args: argparse.Namespace) -> None:
    """In the child: one batch through EmailFunction's handler, then the peak RSS."""
    from local.lambda_runtime import LambdaContext, load_function

    app = load_function("email")
    event = {
        "channel": "email",
        "sender": "noreply@example.com",
        "attachments": [
            {
                "name": "big.bin",
                "key": f"big/{size_mb}",
                "contentType": "application/octet-stream",
                "size": size_mb * MB,
            }
        ],
        "messages": [
            {"userId": f"u{i}", "to": f"user{i}@example.com", "subject": "Report", "text": "See attached."}
            for i in range(args.messages)
        ],
    }
    started = time.perf_counter()
    result = app.lambda_handler(event, LambdaContext(function_name="EmailFunction"))
    elapsed = time.perf_counter() - started
    print(
        RESULT
        + json.dumps(
            {
                "failures": len(result["failures"]),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "seconds": elapsed,
            }
        ),
        flush=True,
    )


@contextmanager
def moto_s3() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    from local.servers import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.one is not None:
        run_one(args.one, args)
        return
    import boto3

    sizes = [int(size) for size in args.sizes.split(",")]
    env_aws = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    os.environ.update(env_aws)
    ses = SesStandIn(args.latency_ms / 1000)
    with moto_s3() as s3_url:
        s3 = boto3.client("s3", endpoint_url=s3_url)
        s3.create_bucket(Bucket=BUCKET)
        for size in sizes:
            s3.put_object(Bucket=BUCKET, Key=f"big/{size}", Body=os.urandom(size * MB))
        env = {
            **os.environ,
            **env_aws,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]),
            "AWS_ENDPOINT_URL_S3": s3_url,
            "AWS_ENDPOINT_URL_SESV2": ses.url,
            "ATTACHMENTS_BUCKET": BUCKET,
            "CHANNEL_CONCURRENCY": str(args.concurrency),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(args.memory_size),
            "POWERTOOLS_SERVICE_NAME": "messaging",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        print(
            f"EmailFunction, {args.messages} messages, CHANNEL_CONCURRENCY {args.concurrency}, "
            f"MemorySize {args.memory_size} MB, SES latency {args.latency_ms:g} ms"
        )
        print(
            f"{'attachment':>10} | {'peak RSS':>9} | {'SES calls in flight':>19} | {'request body':>12} | "
            f"{'failed':>6} | {'time':>6}"
        )
        for size in sizes:
            ses.reset()
            output = subprocess.run(
                [sys.executable, "-m", "bench.email_memory", "--one", str(size), *(argv or sys.argv[1:])],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            line = next(line for line in output.splitlines() if line.startswith(RESULT))
            result = json.loads(line[len(RESULT) :])
            print(
                f"{size:>7} MB | {result['peak_rss_mb']:>6.0f} MB | {ses.peak_in_flight:>19} | "
                f"{ses.largest_body / MB:>9.1f} MB | {result['failures']:>6} | {result['seconds']:>5.1f}s",
                flush=True,
            )
    ses.stop()


if __name__ == "__main__":
    main()
