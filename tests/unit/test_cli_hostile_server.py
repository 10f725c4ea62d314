"""`messaging` against a server that answers what the API never would: HTML, truncated JSON, a status
without its counts, a nextToken that never ends, a redirect elsewhere, an endless body. Each ends in one
line on standard error and an exit code, never a traceback, a hang, or a credential sent elsewhere."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from messaging_client import cli, commands

Reply = tuple[int, dict[str, str], bytes]


class Hostile:
    """A loopback HTTP server whose answer to each call is `reply(method, path)`; it records the calls."""

    def __init__(self) -> None:
        self.reply: Callable[[str, str], Reply] = lambda method, path: (200, {}, b"{}")
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                hostile.calls.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers, body = hostile.reply(self.command, self.path)
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _any  # noqa: N815 - http.server's names

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Hostile:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    with Hostile() as server:
        yield server


def run(hostile: Hostile, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["--url", hostile.url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def _json_reply(value: Any, status: int = 200) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(value).encode()


STATUS = {"sendId": "s1", "status": "running", "audience": 2, "notFound": 0}


def test_answers_that_are_not_the_apis_end_in_one_line_and_exit_3(
    hostile: Hostile, capsys: pytest.CaptureFixture[str]
) -> None:
    html = b"<html>\n<body>\n<h1>Welcome to nginx</h1>\n</body>\n</html>\n"
    cases: list[tuple[list[str], Reply]] = [
        (["failures", "s1"], (200, {"Content-Type": "text/html"}, html)),
        (["failures", "s1", "--csv"], _json_reply({"nextToken": None})),  # no failures
        (["failures", "s1"], _json_reply({"failures": [{"userId": "u"}], "nextToken": 7})),  # a token not a string
        (["failures", "s1"], _json_reply(["not", "an", "object"])),
        (["status", "s1", "--watch", "--interval", "0"], _json_reply(STATUS)),  # no channels
        (["status", "s1", "--watch", "--interval", "0"], (200, {}, html)),
        (["status", "s1", "--watch", "--interval", "0"], _json_reply({**STATUS, "channels": {"email": "x"}})),
        (["send", "-c", "email", "-r", "u", "-m", "x"], (200, {}, b"OK")),  # not the send's JSON
        (["send", "--async", "--watch", "-c", "email", "-r", "u", "-m", "x"], _json_reply({"status": "accepted"}, 202)),
    ]
    for args, reply in cases:
        hostile.reply = lambda method, path, reply=reply: reply  # type: ignore[misc]
        code, out, err = run(hostile, capsys, *args)
        assert code == commands.UNREACHABLE, (args, code, out, err)
        assert err.startswith("messaging: "), (args, err)
        assert err.count("\n") == 1, (args, err)
        assert "not what the API answers" in err, (args, err)


def test_a_next_token_that_comes_back_ends_the_failures_instead_of_looping(
    hostile: Hostile, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile.reply = lambda method, path: _json_reply(
        {"failures": [{"userId": "u", "channel": "sms", "error": "e"}], "nextToken": "again"}
    )
    code, out, err = run(hostile, capsys, "failures", "s1")
    assert (code, out) == (commands.UNREACHABLE, "")
    assert "nextToken" in err
    assert err.count("\n") == 1
    assert len(hostile.calls) == 2  # the first page, then the repeated token seen once more


def test_an_html_error_page_is_one_line(hostile: Hostile, capsys: pytest.CaptureFixture[str]) -> None:
    page = b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<center>nginx</center>\n</body>\n</html>\n"
    hostile.reply = lambda method, path: (502, {"Content-Type": "text/html"}, page)
    code, out, err = run(hostile, capsys, "status", "s1")
    assert (code, out) == (commands.REFUSED, "")
    assert (
        err == "messaging: 502 Bad Gateway: <html> <head><title>502 Bad Gateway</title></head> <body> "
        "<center>nginx</center> </body> </html>\n"
    )


def test_a_redirect_is_not_followed_and_the_api_key_goes_nowhere_else(
    hostile: Hostile, capsys: pytest.CaptureFixture[str]
) -> None:
    with Hostile() as elsewhere:
        hostile.reply = lambda method, path: (302, {"Location": f"{elsewhere.url}/steal"}, b"")
        code, out, err = run(hostile, capsys, "--api-key", "the-secret-key", "status", "s1")
        assert elsewhere.calls == []  # neither followed nor the key handed on
    assert (code, out) == (commands.REFUSED, "")
    assert err == "messaging: 302 Found\n"
    assert "the-secret-key" not in err


def test_an_endless_answer_is_cut_not_read_into_memory(
    hostile: Hostile, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from messaging_client import transport

    monkeypatch.setattr(transport, "MAX_ANSWER_BYTES", 1000)
    hostile.reply = lambda method, path: _json_reply({"sendId": "s1", "padding": "x" * 5000})
    code, out, err = run(hostile, capsys, "status", "s1")
    assert (code, out) == (commands.UNREACHABLE, "")
    assert err == f"messaging: the answer from {hostile.url} is over 1000 bytes: not what the API answers\n"


def test_failures_csv_cells_a_spreadsheet_would_run_as_formulas_are_quoted(
    hostile: Hostile, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"userId": '=HYPERLINK("http://evil","x")', "channel": "email", "error": "+1"},
        {"userId": "-2+3", "channel": "sms", "error": "@SUM(A1)"},
        {"userId": "\tx", "channel": "push", "error": "\r=1"},
        {"userId": "plain", "channel": "voice", "error": "Throttling: 3 tries"},
    ]
    hostile.reply = lambda method, path: _json_reply({"failures": rows, "nextToken": None})
    code, out, err = run(hostile, capsys, "failures", "s1", "--csv")
    assert (code, err) == (0, "")
    read = list(csv.DictReader(io.StringIO(out)))
    assert [row["userId"] for row in read] == ['\'=HYPERLINK("http://evil","x")', "'-2+3", "'\tx", "plain"]
    assert [row["error"] for row in read] == ["'+1", "'@SUM(A1)", "'\r=1", "Throttling: 3 tries"]
    # The JSON output stays as the API said it.
    code, out, err = run(hostile, capsys, "failures", "s1")
    assert json.loads(out) == {"failures": rows}


def test_negative_or_missing_counts_do_not_break_the_watch(
    hostile: Hostile, capsys: pytest.CaptureFixture[str]
) -> None:
    status = {**STATUS, "status": "completed", "audience": -5, "channels": {"email": {"sent": -3, "pending": -1}}}
    hostile.reply = lambda method, path: _json_reply(status)
    code, out, err = run(hostile, capsys, "status", "s1", "--watch", "--interval", "0")
    assert (code, err) == (0, "")
    assert "s1  completed" in out


def test_a_url_carrying_credentials_is_refused_without_printing_them(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--url", "http://admin:hunter2@127.0.0.1:9/v1", "status", "s1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "hunter2" not in err
    assert err == "messaging: the URL carries credentials (user:password@): give --api-key or sign with --auth iam\n"


def test_a_watch_of_a_send_that_never_ends_stops_cleanly_on_ctrl_c(hostile: Hostile) -> None:
    running = {**STATUS, "channels": {"email": {"sent": 1, "failed": 0, "skipped": 0, "pending": 1}}}
    hostile.reply = lambda method, path: _json_reply(running)
    watching = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "messaging_client",
            "--url",
            hostile.url,
            "status",
            "s1",
            "--watch",
            "--interval",
            "0.1",
        ],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(hostile.calls) < 3 and time.monotonic() < deadline:  # watching, poll after poll
            time.sleep(0.05)
        watching.send_signal(signal.SIGINT)
        out, err = watching.communicate(timeout=30)
    finally:
        watching.kill()
    assert watching.returncode == 130
    assert "Traceback" not in err
    assert "s1  running" in out
