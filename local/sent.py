"""`make sent`: what `make start`'s providers received, per channel, newest last, one line each.

    E-mail  moto's ses.Message (plain sends), then ses.RawMessage (with attachments: raw MIME)
    SMS     moto's sns.SMS, and the End User Messaging stand-in's SendTextMessage
    push    the FCM stand-in's messages
    voice   the End User Messaging stand-in's SendVoiceMessage

moto keeps no time per message: within a channel each provider's list is in the order it was
received, and plain e-mails are listed before those with attachments.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import html
import json
import re
import sys
import urllib.request
from collections.abc import Iterable, Sequence
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

_WIDTH = 70  # of a message's text, cut with "…"
_TAG = re.compile(r"<[^>]+>")


def _get(url: str) -> dict[str, Any]:
    """The JSON object at `url`; ValueError when something else answers there (not JSON, not an object)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.load(response)
    if not isinstance(answer, dict):
        raise ValueError(f"{url} answered no JSON object")
    return answer


def _first_line(text: str) -> str:
    """The first non-blank line of a text (HTML tags dropped), cut to _WIDTH characters."""
    plain = html.unescape(_TAG.sub("\n", text))
    line = next((each.strip() for each in plain.splitlines() if each.strip()), "")
    return line if len(line) <= _WIDTH else line[: _WIDTH - 1] + "…"


def _once(addresses: Iterable[str]) -> list[str]:
    """Each address once, in order (moto's RawMessage lists To and Cc twice)."""
    return list(dict.fromkeys(address for address in addresses if address))


def _email_line(sender: str, to: Sequence[str], cc: Sequence[str], bcc: Sequence[str], subject: str, body: str) -> str:
    parts = [f"from {sender}", f"to {', '.join(to)}"]
    parts += [f"cc {', '.join(cc)}"] if cc else []
    parts += [f"bcc {', '.join(bcc)}"] if bcc else []
    return f"{'  '.join(parts)}  | {subject} | {_first_line(body)}"


def plain_email(message: dict[str, Any]) -> str:
    """One of moto's ses.Message: addresses as sent."""
    destinations = message.get("destinations") or {}
    return _email_line(
        message.get("source", ""),
        _once(destinations.get("ToAddresses") or []),
        _once(destinations.get("CcAddresses") or []),
        _once(destinations.get("BccAddresses") or []),
        message.get("subject", ""),
        message.get("body", ""),
    )


def _text_of(parsed: EmailMessage) -> str:
    part = parsed.get_body(preferencelist=("plain", "html"))
    return str(part.get_content()) if part is not None else ""


def raw_email(message: dict[str, Any]) -> str:
    """One of moto's ses.RawMessage: From, To, Cc and Subject from its headers; Bcc is what the
    destinations hold beyond To and Cc (a Bcc never appears in the headers); the attachments' names."""
    parsed = email.message_from_string(message.get("raw_data", ""), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    to = _once(address for _, address in getaddresses(parsed.get_all("To", [])))
    cc = _once(address for _, address in getaddresses(parsed.get_all("Cc", [])))
    bcc = [address for address in _once(message.get("destinations") or []) if address not in {*to, *cc}]
    line = _email_line(str(parsed.get("From", "")), to, cc, bcc, str(parsed.get("Subject", "")), _text_of(parsed))
    names = [part.get_filename() for part in parsed.iter_attachments()]
    return line + (f"  [attached: {', '.join(name for name in names if name)}]" if names else "")


def sns_sms(message: dict[str, Any]) -> str:
    return f"{message.get('phone_number', '')}  (SNS)  {_first_line(message.get('message', ''))}"


def eum_message(message: dict[str, Any]) -> str:
    origin = message.get("OriginationIdentity")
    source = f"from {origin}  " if origin else ""
    return f"{message.get('DestinationPhoneNumber', '')}  {source}{_first_line(message.get('MessageBody', ''))}"


def push(message: dict[str, Any]) -> str:
    body = message.get("message") or {}
    notification = body.get("notification") or {}
    data = body.get("data")
    extra = f"  data {json.dumps(data, ensure_ascii=False)}" if data else ""
    text = _first_line(notification.get("body", ""))
    return f"{body.get('token', '')}  | {notification.get('title', '')} | {text}{extra}"


def collect(moto: str, fcm: str, eum: str) -> dict[str, list[str]]:
    """Per channel, one line per message, in the order the providers received them."""
    data = _get(f"{moto}/moto-api/data.json")
    ses = data.get("ses") or {}
    eum_messages = _get(f"{eum}/messages").get("messages", [])
    return {
        "e-mail": [plain_email(m) for m in ses.get("Message", [])] + [raw_email(m) for m in ses.get("RawMessage", [])],
        "SMS": [sns_sms(m) for m in (data.get("sns") or {}).get("SMS", [])]
        + [eum_message(m) + "  (End User Messaging)" for m in eum_messages if m.get("operation") == "SendTextMessage"],
        "push": [push(m) for m in _get(f"{fcm}/messages").get("messages", [])],
        "voice": [eum_message(m) for m in eum_messages if m.get("operation") == "SendVoiceMessage"],
    }


def render(sent: dict[str, list[str]], last: int) -> str:
    """Each channel's count and its last `last` lines (0: all of them)."""
    out: list[str] = []
    for channel, lines in sent.items():
        shown = lines[-last:] if last else lines
        hidden = f", the last {len(shown)} shown" if len(shown) < len(lines) else ""
        out.append(f"{channel}: {len(lines)}{hidden}")
        out += [f"  {line}" for line in shown]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moto", default="http://127.0.0.1:5000")
    parser.add_argument("--fcm", default="http://127.0.0.1:8090")
    parser.add_argument("--eum", default="http://127.0.0.1:8092")
    parser.add_argument("--last", type=int, default=20, help="lines per channel (0: all)")
    args = parser.parse_args(argv)
    try:
        sent = collect(args.moto, args.fcm, args.eum)
    except (OSError, ValueError) as exc:  # ValueError: another program answers on those ports
        print(f"cannot read what was sent ({exc}): is `make start` running?", file=sys.stderr)
        return 1
    print(render(sent, args.last))
    return 0


if __name__ == "__main__":
    sys.exit(main())
