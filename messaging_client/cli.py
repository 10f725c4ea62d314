"""`messaging`: the arguments, which API to call and how to authenticate, and what reaches the user when
something goes wrong: the service's own message, or one line saying why the API could not be reached,
never a traceback; the exit code says which (commands.py lists them)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from http import HTTPStatus
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from messaging_client import commands
from messaging_client.body import BadBody, add_body_flags
from messaging_client.signing import CannotSign
from messaging_client.transport import LOCAL_URL, Answer, Api, Auth, BadAnswer, Unreachable

_USAGE = 2


def _connection_options() -> argparse.ArgumentParser:
    # Accepted before or after the command; SUPPRESS lets a subcommand's absence keep the main parser's value.
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("connection")
    group.add_argument(
        "--url",
        default=argparse.SUPPRESS,
        help=f"the API's base URL or its SendUrl (env MESSAGING_URL; default {LOCAL_URL}, `make start`)",
    )
    group.add_argument(
        "--auth",
        choices=["auto", "iam", "api-key", "none"],
        default=argparse.SUPPRESS,
        help="auto (default; env MESSAGING_AUTH): api-key with a key, none on 127.0.0.1/localhost, else iam (SigV4)",
    )
    group.add_argument("--api-key", default=argparse.SUPPRESS, help="the API key (env MESSAGING_API_KEY)")
    group.add_argument("--region", default=argparse.SUPPRESS, help="the region to sign for (default: from the URL)")
    group.add_argument("--timeout", type=float, default=argparse.SUPPRESS, help="seconds per call (default 30)")
    return options


def parser() -> argparse.ArgumentParser:
    options = _connection_options()
    main = argparse.ArgumentParser(prog="messaging", parents=[options], description="The messaging service's client.")
    subs = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    send = subs.add_parser("send", parents=[options], help="POST /send: send a message")
    add_body_flags(send)
    send.add_argument("--async", dest="async_", action="store_true", help="Prefer: respond-async (a 202 and a sendId)")
    send.add_argument("--at", metavar="SEND_AT", help="sendAt: an RFC 3339 date-time with an offset (scheduled)")
    send.add_argument("--idempotency-key", help="Idempotency-Key: a retry with it sends nothing again")
    send.add_argument("--watch", action="store_true", help="then watch an asynchronous send to its end")
    send.add_argument("--interval", type=float, default=2.0, help="seconds between polls with --watch (default 2)")
    send.set_defaults(run=commands.send)

    preview = subs.add_parser("preview", parents=[options], help="POST /send/preview: what /send would send")
    add_body_flags(preview)
    preview.add_argument("--limit", type=int, help="users to render (default 10, at most 100)")
    preview.set_defaults(run=commands.preview)

    status = subs.add_parser("status", parents=[options], help="GET /sends/{sendId}: a send's status")
    status.add_argument("send_id", metavar="SEND_ID")
    status.add_argument("--watch", action="store_true", help="a progress bar per channel until the send ends")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    status.set_defaults(run=commands.status)

    failures = subs.add_parser("failures", parents=[options], help="GET /sends/{sendId}/failures, every page")
    failures.add_argument("send_id", metavar="SEND_ID")
    failures.add_argument("--csv", action="store_true", help="CSV (userId,channel,error) instead of JSON")
    failures.add_argument("--page-size", type=int, default=1000, help="entries per call (1-1000, default 1000)")
    failures.set_defaults(run=commands.failures)

    cancel = subs.add_parser("cancel", parents=[options], help="DELETE /sends/{sendId}: cancel a send")
    cancel.add_argument("send_id", metavar="SEND_ID")
    cancel.set_defaults(run=commands.cancel)
    return main


def api_from(args: argparse.Namespace) -> Api:
    url = getattr(args, "url", None) or os.environ.get("MESSAGING_URL") or LOCAL_URL
    api_key = getattr(args, "api_key", None) or os.environ.get("MESSAGING_API_KEY")
    auth: str = getattr(args, "auth", None) or os.environ.get("MESSAGING_AUTH") or "auto"
    if auth == "auto":
        auth = "api-key" if api_key else "none" if _is_loopback(url) else "iam"
    if auth not in ("iam", "api-key", "none"):
        raise BadBody(f"MESSAGING_AUTH: {auth} is none of auto, iam, api-key, none")
    if auth == "api-key" and not api_key:
        raise BadBody("--auth api-key needs --api-key or MESSAGING_API_KEY")
    chosen: Auth = auth  # type: ignore[assignment]  # one of argparse's choices
    return Api(url, chosen, api_key, getattr(args, "region", None), getattr(args, "timeout", 30.0))


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(answer: Answer) -> str:
    """The service's error shape (statusCode, error, message) or API Gateway's ({"message"}), as one line."""
    body: Any = answer.body
    try:
        phrase = HTTPStatus(answer.status).phrase
    except ValueError:
        phrase = ""
    if isinstance(body, dict) and "message" in body:
        return f"{answer.status} {body.get('error') or phrase}: {body['message']}"
    # An HTML error page (a proxy's, a load balancer's) on one line too.
    text = " ".join(str(body or "").split())[:500]
    return f"{answer.status} {phrase}: {text}".rstrip(": ")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(api_from(args), args, sys.stdout))
    except commands.Refused as refused:
        print(f"messaging: {refusal(refused.answer)}", file=sys.stderr)
        return commands.REFUSED
    except (BadBody, ValueError) as error:
        print(f"messaging: {error}", file=sys.stderr)
        return _USAGE
    except (Unreachable, CannotSign, BadAnswer) as error:
        print(f"messaging: {error}", file=sys.stderr)
        return commands.UNREACHABLE
    except KeyboardInterrupt:
        return 130
