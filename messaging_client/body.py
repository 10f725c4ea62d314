"""The body of POST /send and /send/preview: a JSON file (or `-` for standard input) with the command's
flags laid over it, so a quick send needs no file and a file can be varied from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# API Gateway takes no body over 10 MB: a larger file is refused before it is read whole.
MAX_BODY_FILE_BYTES = 10 * 1024 * 1024


class BadBody(Exception):
    """The file or a flag is not what the body needs (said before anything is called)."""


def add_body_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("body", nargs="?", help="a JSON body file (`-`: standard input); flags below override it")
    parser.add_argument(
        "-c",
        "--channel",
        action="append",
        dest="channels",
        metavar="CHANNEL",
        help="email, sms, push or voice (repeat, or comma-separated)",
    )
    parser.add_argument(
        "-r",
        "--recipient",
        action="append",
        dest="recipients",
        metavar="USER_ID",
        help="a user id (repeat, or comma-separated)",
    )
    parser.add_argument(
        "-k",
        "--cluster",
        action="append",
        dest="clusters",
        metavar="CLUSTER",
        help="a cluster (repeat, or comma-separated)",
    )
    parser.add_argument("-t", "--title", dest="messageTitle", help="messageTitle (Handlebars)")
    parser.add_argument("-m", "--content", dest="messageContent", help="messageContent (Handlebars)")
    parser.add_argument("--template", dest="templateId", help="a stored template's id")
    parser.add_argument("--data", help="the `data` object, as JSON")
    parser.add_argument("--category", help="one of the configuration's categories")
    parser.add_argument("--reference", help="your own reference, echoed in the status")


def body_from(args: argparse.Namespace) -> dict[str, Any]:
    body = _read(args.body) if args.body else {}
    for name in ("channels", "recipients", "clusters"):
        values = getattr(args, name)
        if values:
            body[name] = [item.strip() for value in values for item in value.split(",") if item.strip()]
    for name in ("messageTitle", "messageContent", "templateId", "category", "reference"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    if args.data is not None:
        body["data"] = _json(args.data, "--data")
    if not body:
        raise BadBody("no body: give a JSON file or the flags (-c, -r/-k, -t, -m or --template)")
    return body


def _read(name: str) -> dict[str, Any]:
    try:
        if name == "-":
            raw = sys.stdin.buffer.read(MAX_BODY_FILE_BYTES + 1)
        else:
            with Path(name).open("rb") as file:
                raw = file.read(MAX_BODY_FILE_BYTES + 1)
    except OSError as error:
        raise BadBody(f"cannot read {name}: {error.strerror}") from None
    if len(raw) > MAX_BODY_FILE_BYTES:
        raise BadBody(f"{name}: larger than {MAX_BODY_FILE_BYTES} bytes, more than the API takes")
    try:
        text = raw.decode("utf-8-sig")  # an editor's byte order mark is no part of the JSON
    except UnicodeDecodeError:
        raise BadBody(f"{name}: not UTF-8 text") from None
    body = _json(text, name)
    if not isinstance(body, dict):
        raise BadBody(f"{name}: the body must be a JSON object")
    return body


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise BadBody(f"{where}: not JSON ({error})") from None
