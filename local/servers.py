"""Real servers for tests, local runs and benchmarks: SecantusDB (MongoDB wire protocol), moto's outbox."""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import HTTPServer
from typing import Any, Self


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


@contextmanager
def secantus_server() -> Iterator[str]:
    """A SecantusDB process with in-memory storage; yields its MongoDB URI."""
    with secantus_process() as (uri, _):
        yield uri


@contextmanager
def secantus_process() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The same, yielding the process too (for tests that make the server go away)."""
    port = free_port()
    # Its errors go to a file: a pipe nobody reads fills up and blocks the server mid-write.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "secantus",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--storage-path",
                ":memory:",
            ],
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            try:
                wait_for_port(port)
            except RuntimeError as exc:
                process.kill()
                errors.seek(0)
                raise RuntimeError(f"SecantusDB did not start: {errors.read().decode()[-2000:]}") from exc
            yield f"mongodb://127.0.0.1:{port}/", process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class MotoOutbox:
    """What moto recorded as sent, read over its HTTP API like any client would."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._emails_seen = 0
        self._sms_seen = 0
        self._raw_seen = 0

    def _data(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=10) as response:
            data: dict[str, Any] = json.load(response)
            return data

    def _all(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        data = self._data()
        ses = data.get("ses", {})
        return ses.get("Message", []), data.get("sns", {}).get("SMS", []), ses.get("RawMessage", [])

    def reset(self) -> None:
        """Forgets everything moto holds (a 15 MB e-mail makes every later read slow)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=30).close()
        self._emails_seen = self._sms_seen = self._raw_seen = 0

    def mark(self) -> None:
        emails, sms, raw = self._all()
        self._emails_seen, self._sms_seen, self._raw_seen = len(emails), len(sms), len(raw)

    def emails(self) -> list[dict[str, Any]]:
        """E-mails sent since the last mark."""
        return self._all()[0][self._emails_seen :]

    def sms(self) -> list[dict[str, Any]]:
        return self._all()[1][self._sms_seen :]

    def raw_emails(self) -> list[dict[str, Any]]:
        """Raw MIME e-mails (those with attachments) sent since the last mark."""
        return self._all()[2][self._raw_seen :]


class HttpStandIn:
    """A stand-in HTTP server run on a background thread; subclasses set `_server`."""

    _server: HTTPServer

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def standin_main(
    doc: str | None, default_port: int, make: Callable[[str, int], HttpStandIn], banner: Callable[[Any], str]
) -> None:
    """`python -m local.<stand-in> [--host H] [--port P]`: serves one stand-in until Ctrl-C."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    args = parser.parse_args()
    standin = make(args.host, args.port)
    print(banner(standin), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        standin._server.serve_forever()
