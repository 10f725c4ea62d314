"""What each command asks of the API and prints: the answer's JSON on standard output (or CSV), the
service's refusal raised as Refused for the entry point to print."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import quote

from rich.console import Console

from messaging_client.body import body_from
from messaging_client.progress import SendProgress
from messaging_client.transport import Answer, Api, Unreachable

# Exit codes besides 0 (done) and 2 (usage, argparse's): docs/api.md lists them.
REFUSED, UNREACHABLE, SEND_DID_NOT_COMPLETE = 1, 3, 4


class Refused(Exception):
    """The API answered 4xx/5xx: its answer, to print as the service said it."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


def _checked(answer: Answer) -> Answer:
    if answer.refused:
        raise Refused(answer)
    return answer


def _print_json(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _send_path(send_id: str) -> str:
    return f"/sends/{quote(send_id, safe='')}"


def send(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    body = body_from(args)
    if args.at:
        body["sendAt"] = args.at
    headers = {"Prefer": "respond-async"} if args.async_ else {}
    if args.idempotency_key:
        headers["Idempotency-Key"] = args.idempotency_key
    answer = _checked(api.call("POST", "/send", body, headers=headers))
    shown = dict(answer.body)
    if "sendId" not in shown and "x-send-id" in answer.headers:
        shown = {"sendId": answer.headers["x-send-id"], **shown}  # a synchronous send's id, from X-Send-Id
    _print_json(shown, out)
    if args.watch and answer.status == 202:
        return watch(api, shown["sendId"], args.interval, Console(file=sys.stderr))
    return 0


def preview(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    body = {**body_from(args), **({"limit": args.limit} if args.limit is not None else {})}
    _print_json(_checked(api.call("POST", "/send/preview", body)).body, out)
    return 0


def status(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    if args.watch:
        return watch(api, args.send_id, args.interval, Console(file=out))
    _print_json(_checked(api.call("GET", _send_path(args.send_id))).body, out)
    return 0


# A watch outlives a few failed polls in a row (a 5xx, no answer): the send goes on meanwhile.
POLL_FAILURES_TOLERATED = 5


def watch(
    api: Api, send_id: str, interval_s: float, console: Console, sleep: Callable[[float], None] = time.sleep
) -> int:
    """Polls the status until the send ends: 0 when it completed, SEND_DID_NOT_COMPLETE when it failed or
    was cancelled."""
    failed_polls = 0
    with SendProgress(console) as progress:
        while True:
            try:
                current = _checked(api.call("GET", _send_path(send_id))).body
            except (Refused, Unreachable) as error:
                transient = isinstance(error, Unreachable) or error.answer.status >= 500
                failed_polls += 1
                if not transient or failed_polls > POLL_FAILURES_TOLERATED:
                    raise
                console.print(f"poll failed ({_said(error)}); trying again", style="yellow")
                sleep(interval_s)
                continue
            failed_polls = 0
            if progress.show(current):
                return 0 if current["status"] == "completed" else SEND_DID_NOT_COMPLETE
            sleep(interval_s)


def _said(error: Exception) -> str:
    if isinstance(error, Refused):
        body = error.answer.body
        return f"{error.answer.status} {body.get('message', '') if isinstance(body, dict) else ''}".strip()
    return str(error)


def failures(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    everything: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        query = {"limit": str(args.page_size), **({"nextToken": token} if token else {})}
        page = _checked(api.call("GET", _send_path(args.send_id) + "/failures", query=query)).body
        everything += page["failures"]
        token = page.get("nextToken")
        if not token:
            break
    if args.csv:
        writer = csv.DictWriter(out, fieldnames=["userId", "channel", "error"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(everything)
    else:
        _print_json({"failures": everything}, out)
    return 0


def cancel(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    _print_json(_checked(api.call("DELETE", _send_path(args.send_id))).body, out)
    return 0
