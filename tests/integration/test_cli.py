"""`messaging`, the command-line client, run as a user runs it (its own process, `python -m
messaging_client`) against SendFunction's handler behind the loopback API Gateway stand-in
(tests/signed_gateway.py: SigV4 checked, or the API key), with the asynchronous sends' in-process
dispatcher, SecantusDB and moto behind it."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local import crowd
from tests.conftest import ApiCall, Servers
from tests.integration.async_sends import BODY, Async
from tests.integration.test_calling_the_api import API_KEY, CREDENTIALS, REGION, gateway
from tests.signed_gateway import SignedGateway

__all__ = ["gateway"]  # the signed API Gateway stand-in fixture, shared with the docs' examples

ROOT = Path(__file__).resolve().parents[2]
CLIENT = "arn:aws:iam::123456789012:user/client"  # the stand-in's signed caller, who alone sees its sends


def _status(run: Async, send_id: str) -> dict[str, Any]:
    code, body = run.get(f"/sends/{send_id}", caller=CLIENT)
    assert code == 200, body
    return dict(body)


def _failures(run: Async, send_id: str) -> list[dict[str, Any]]:
    code, body = run.get(f"/sends/{send_id}/failures", {"limit": "1000"}, caller=CLIENT)
    assert code == 200, body
    assert body["nextToken"] is None
    return list(body["failures"])


def _environment(**extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ACCESS_KEY_ID": CREDENTIALS.access_key,
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS.secret_key,
        "AWS_SESSION_TOKEN": str(CREDENTIALS.token),
        "AWS_REGION": REGION,
        "COLUMNS": "120",
        **extra,
    }


def _command(gateway: SignedGateway | None, args: list[str]) -> list[str]:
    connection = ["--url", gateway.base_url, "--auth", "iam" if gateway.mode == "iam" else "api-key"] if gateway else []
    if gateway and gateway.mode == "api_key":
        connection += ["--api-key", API_KEY]
    return [sys.executable, "-m", "messaging_client", *connection, *args]


def messaging(gateway: SignedGateway | None, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(gateway, list(args)),
        cwd=ROOT,
        env=_environment(**environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return json.loads(done.stdout)


def test_send_sync_and_async_and_preview_signed_with_sigv4(
    gateway: SignedGateway, run: Async, servers: Servers
) -> None:
    flags = ["-c", "email,sms", "-r", "u1", "-r", "nobody", "-t", "Hi", "-m", "Hello {{user.name}}"]
    first = _json(messaging(gateway, "send", *flags, "--idempotency-key", "cli-1"))
    assert set(first) == {"sendId", "failures"}  # the X-Send-Id header shown as the sendId
    assert sorted((f["userId"], f["channel"]) for f in first["failures"]) == [("nobody", "email"), ("nobody", "sms")]
    assert _json(messaging(gateway, "send", *flags, "--idempotency-key", "cli-1")) == first  # replayed, not resent
    assert _status(run, first["sendId"])["status"] == "completed"

    preview = _json(
        messaging(
            gateway, "preview", "events/requests/by-recipients.json", "-c", "email", "-r", "u1,u2", "--limit", "1"
        )
    )
    assert len(preview["messages"]) == 1
    assert "***" in json.dumps(preview["messages"])  # the address masked, as the service answers it
    # The documented seed of a large cluster (local/crowd.py), run twice: replaced, not doubled.
    for _ in range(2):
        assert crowd.main(["--users", "30", "--cluster", "big", "--mongo-uri", servers.mongo_uri]) == 0
    big = _json(messaging(gateway, "preview", "-c", "email", "-k", "big", "-t", "t", "-m", "x", "--limit", "100"))
    assert big["audience"] == 30
    assert [s["reason"] for s in big["skipped"]] == ["noAddress"] * 3  # every tenth user has no address

    accepted = _json(messaging(gateway, "send", "--async", "-c", "email", "-k", "patients", "-t", "t", "-m", "x"))
    assert accepted["status"] == "accepted"
    shown = _json(messaging(gateway, "status", accepted["sendId"]))
    assert shown == _status(run, accepted["sendId"])
    # Every call signed, GETs included: the stand-in refused none.
    assert all(
        r["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLECLIENT/") for r in gateway.requests
    )


def _polls(gateway: SignedGateway) -> int:
    return sum(1 for r in gateway.requests if "content-type" not in r)  # the GETs carry no body


def test_status_watch_shows_each_channel_progress_until_completed_and_failures_come_in_every_page(
    gateway: SignedGateway, run: Async, crowd: list[dict[str, Any]], tmp_path: Path
) -> None:
    (tmp_path / "body.json").write_text(json.dumps(BODY))
    send_id = _json(messaging(gateway, "send", str(tmp_path / "body.json"), "--async"))["sendId"]
    handler, gets = gateway.handler, []

    def one_poll_lost(event: dict[str, Any], context: Any) -> dict[str, Any]:
        """The third poll answers as sam local did when its container was removed under it."""
        gets.append(event["httpMethod"])
        if len(gets) == 3:
            return {"statusCode": 502, "headers": {}, "body": json.dumps({"message": "Internal server error"})}
        return handler(event, context)

    gateway.handler = one_poll_lost
    watcher = subprocess.Popen(
        _command(gateway, ["status", send_id, "--watch", "--interval", "0.05"]),
        cwd=ROOT,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # One dispatcher event at a time, each seen by at least one poll: the watch shows the send move.
        while run.queue.events:
            run.drain(limit=1)
            seen = _polls(gateway)
            deadline = time.monotonic() + 60
            while _polls(gateway) < seen + 2 and watcher.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
        out, err = watcher.communicate(timeout=60)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, err
    assert "poll failed (502 Internal server error); trying again" in out  # the watch rode it out
    final = _status(run, send_id)
    assert final["status"] == "completed"
    headlines = [line for line in out.splitlines() if line.startswith(send_id)]
    assert [line.split()[1] for line in headlines][-1] == "completed"
    assert "running" in {line.split()[1] for line in headlines}
    last_block = out.rsplit(send_id, 1)[1]
    for channel, counts in final["channels"].items():
        total = final["audience"] + final["notFound"]
        line = next(line for line in last_block.splitlines() if line.split()[:1] == [channel])
        assert f"{total}/{total}" in line
        assert f"sent {counts['sent']}  failed {counts['failed']}  skipped {counts['skipped']}  pending 0" in line
    # Some block before the end showed e-mail part-way: done less than the audience.
    email_lines = [line.split() for line in out.splitlines() if line.split()[:1] == ["email"]]
    assert any(int(s.split("/")[0]) < int(s.split("/")[1]) for words in email_lines for s in words if "/" in s)

    before = len(gateway.requests)
    done = messaging(gateway, "failures", send_id, "--csv", "--page-size", "2")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert rows == [{k: f[k] for k in ("userId", "channel", "error")} for f in _failures(run, send_id)]
    assert len(rows) == 6  # ghost-1 and ghost-2 on three channels
    assert len(gateway.requests) - before == 3  # three pages of two, nextToken followed to the end


def test_a_scheduled_send_cancelled_with_the_api_key(gateway: SignedGateway, run: Async) -> None:
    gateway.mode = "api_key"
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds")
    body = ["-c", "email", "-k", "patients", "-t", "t", "-m", "Hi {{user.name}}", "--at", at]
    scheduled = _json(messaging(gateway, "send", *body))
    assert scheduled["status"] == "scheduled"
    cancelled = _json(messaging(gateway, "cancel", scheduled["sendId"]))
    assert cancelled["status"] == "cancelled"
    assert _json(messaging(gateway, "cancel", scheduled["sendId"]))["status"] == "cancelled"  # answered again
    watched = messaging(gateway, "status", scheduled["sendId"], "--watch")
    assert watched.returncode == 4  # the watch ends at once: a send that will not complete
    assert " cancelled " in watched.stdout
    assert all(r.get("x-api-key") == API_KEY and "authorization" not in r for r in gateway.requests)


def test_errors_are_the_services_messages_in_one_line_with_an_exit_code(
    gateway: SignedGateway, api: ApiCall, tmp_path: Path
) -> None:
    bad = json.loads((ROOT / "events" / "requests" / "bad-body.json").read_text())
    status, answer = api(bad)
    refused = messaging(gateway, "send", "events/requests/bad-body.json")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == f"messaging: {status} {answer['error']}: {answer['message']}\n"

    unknown = messaging(gateway, "failures", "no-such-send", "--csv")
    assert (unknown.returncode, unknown.stderr) == (1, "messaging: 404 Not Found: sendId: no send no-such-send\n")

    forged = messaging(gateway, "status", "x", AWS_SECRET_ACCESS_KEY="not-the-secret")  # API Gateway's 403 shape
    assert forged.returncode == 1
    assert forged.stderr.startswith("messaging: 403 Forbidden: The request signature we calculated does not match")

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    nobody = messaging(None, "--url", f"http://127.0.0.1:{port}", "status", "x")
    assert (nobody.returncode, nobody.stderr) == (
        3,
        f"messaging: cannot reach http://127.0.0.1:{port}: connection refused\n",
    )

    with socket.socket() as silent:  # accepts and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        late = messaging(None, "status", "x", "--url", url, "--timeout", "0.5")
    assert (late.returncode, late.stderr) == (3, f"messaging: no answer from {url} within 0.5 s\n")

    missing = messaging(gateway, "send", str(tmp_path / "missing.json"))
    assert (missing.returncode, missing.stderr) == (
        2,
        f"messaging: cannot read {tmp_path / 'missing.json'}: No such file or directory\n",
    )
    for done in (refused, unknown, forged, nobody, late, missing):
        assert "Traceback" not in done.stderr
