"""One line per request `make start`'s API answered (method, path, status, send id, duration),
read from `sam local start-api`'s log: its own access line (every request, those API Gateway itself
refuses included), SendFunction's `answered` log line (the send id) and Lambda's REPORT (the
duration). sam local runs one request of a function at a time, so each access line closes the
function's lines before it."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

# `... "POST /send HTTP/1.1" 200 -`, the request sometimes between terminal colour codes.
_ACCESS = re.compile(r'"(?:\x1b\[[0-9;]*m)*([A-Z]+) (\S+) HTTP/[0-9.]+(?:\x1b\[[0-9;]*m)*" (\d{3})')
_REPORT = re.compile(r"^REPORT RequestId: \S+\s+Duration: ([0-9.]+) ms")


class RequestLines:
    """Fed start-api's log line by line; answers a request's line once its access line comes."""

    def __init__(self) -> None:
        self._send_id: str | None = None
        self._duration_ms: float | None = None

    def feed(self, line: str) -> str | None:
        if report := _REPORT.match(line):
            self._duration_ms = float(report.group(1))
            return None
        if line.startswith("{"):
            try:
                logged = json.loads(line)
            except ValueError:
                return None
            if isinstance(logged, dict) and logged.get("message") == "answered" and logged.get("sendId"):
                self._send_id = str(logged["sendId"])
            return None
        access = _ACCESS.search(line)
        if access is None:
            return None
        method, path, status = access.groups()
        send = f"  send {self._send_id}" if self._send_id else ""
        took = f"  {self._duration_ms:.0f} ms" if self._duration_ms is not None else ""
        self._send_id = self._duration_ms = None
        return f"{method} {path} -> {status}{send}{took}"


def follow(path: Path, stop: threading.Event, emit: Callable[[str], None]) -> None:
    """Emits a line per request written to `path` from now on, until `stop` is set."""
    lines = RequestLines()
    with path.open(errors="replace") as log:
        log.seek(0, 2)
        pending = ""
        while not stop.is_set():
            chunk = log.readline()
            if not chunk:
                time.sleep(0.2)
                continue
            pending += chunk
            if not pending.endswith("\n"):
                continue  # a line still being written
            if (request := lines.feed(pending.rstrip("\n"))) is not None:
                emit(request)
            pending = ""


def start_following(path: Path, stop: threading.Event, emit: Callable[[str], None]) -> None:
    threading.Thread(target=follow, args=(path, stop, emit), daemon=True).start()
