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
from messaging_client.transport import Answer, Api, BadAnswer, Unreachable

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


def _not_the_apis(what: str, why: str) -> BadAnswer:
    return BadAnswer(f"the answer to {what} is not what the API answers ({why})")


def _object(answer: Answer, what: str) -> dict[str, Any]:
    if not isinstance(answer.body, dict):
        raise _not_the_apis(what, "not a JSON object")
    return answer.body


def _a_status(body: Any, what: str) -> dict[str, Any]:
    """A send's status as the progress bars read it: its state, audience and counts per channel."""
    ok = (
        isinstance(body, dict)
        and isinstance(body.get("status"), str)
        and isinstance(body.get("audience"), int)
        and isinstance(body.get("notFound", 0), int)
        and isinstance(body.get("channels"), dict)
        and all(
            isinstance(counts, dict) and all(isinstance(n, int) for n in counts.values())
            for counts in body["channels"].values()
        )
    )
    if not ok:
        raise _not_the_apis(what, "no status, audience or counts per channel")
    return dict(body)


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
    shown = dict(_object(answer, "POST /send"))
    if "sendId" not in shown and "x-send-id" in answer.headers:
        shown = {"sendId": answer.headers["x-send-id"], **shown}  # a synchronous send's id, from X-Send-Id
    _print_json(shown, out)
    if args.watch and answer.status == 202:
        if not isinstance(shown.get("sendId"), str):
            raise _not_the_apis("POST /send", "a 202 without a sendId")
        return watch(api, shown["sendId"], args.interval, Console(file=sys.stderr))
    return 0


def preview(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    body = {**body_from(args), **({"limit": args.limit} if args.limit is not None else {})}
    _print_json(_object(_checked(api.call("POST", "/send/preview", body)), "POST /send/preview"), out)
    return 0


def status(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    if args.watch:
        return watch(api, args.send_id, args.interval, Console(file=out))
    what = f"GET {_send_path(args.send_id)}"
    _print_json(_object(_checked(api.call("GET", _send_path(args.send_id))), what), out)
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
                current = _a_status(_checked(api.call("GET", _send_path(send_id))).body, f"GET {_send_path(send_id)}")
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
    seen: set[str] = set()
    what = f"GET {_send_path(args.send_id)}/failures"
    while True:
        query = {"limit": str(args.page_size), **({"nextToken": token} if token else {})}
        page = _object(_checked(api.call("GET", _send_path(args.send_id) + "/failures", query=query)), what)
        entries, token = page.get("failures"), page.get("nextToken")
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise _not_the_apis(what, "no failures list")
        if token is not None and not isinstance(token, str):
            raise _not_the_apis(what, "a nextToken that is not a string")
        everything += entries
        if not token:
            break
        # A token that comes back would page for ever (each token of the API moves past the last page).
        if token in seen:
            raise _not_the_apis(what, "a nextToken that came back: the pages would never end")
        seen.add(token)
    if args.csv:
        writer = csv.DictWriter(out, fieldnames=["userId", "channel", "error"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(
            {name: _cell(entry.get(name)) for name in ("userId", "channel", "error")} for entry in everything
        )
    else:
        _print_json({"failures": everything}, out)
    return 0


# A spreadsheet runs a cell starting with one of these as a formula (CSV injection): a userId or an
# error message is data the caller does not control, so such a cell gets a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def cancel(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    what = f"DELETE {_send_path(args.send_id)}"
    _print_json(_object(_checked(api.call("DELETE", _send_path(args.send_id))), what), out)
    return 0
