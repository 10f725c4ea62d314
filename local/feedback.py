"""`make feedback` (with `make start` running): a provider's delivery event for a real send, through
FeedbackFunction on `sam local start-lambda`, as SNS would deliver it deployed.

moto publishes no delivery events, so this makes one: a send through the local API (or the one
`--send-id` names), the documented sample `events/feedback-<event>.json` re-aimed at that send and
user (SES: the message's tags; End User Messaging: its context), invoked on FeedbackFunction; then
the send's counts for the channel, where the event shows (`delivered`, `bounced`...). Nothing is
written to disk.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
REGION = "us-east-1"
SAMPLES = sorted(path.stem.removeprefix("feedback-") for path in EVENTS.glob("feedback-*.json"))


def channel_of(sample: str) -> str:
    """SES's samples are e-mail events, End User Messaging's (`eum-text-*`) SMS ones."""
    return "email" if sample.startswith("ses-") else "sms"


def _tag_value(value: str) -> str | None:
    layer = str(ROOT / "layers" / "common")
    if layer not in sys.path:
        sys.path.insert(0, layer)
    from messaging.channels.email_tags import tag_value

    return tag_value(value)


def aimed(sample: str, send_id: str, user_id: str) -> dict[str, Any]:
    """The sample's SNS-wrapped event naming this send and user, as the provider would send it."""
    wrapped: dict[str, Any] = json.loads((EVENTS / f"feedback-{sample}.json").read_text())
    record = wrapped["Records"][0]["Sns"]
    message = json.loads(record["Message"])
    if "mail" in message:
        message["mail"]["tags"]["sendId"] = [send_id]
        message["mail"]["tags"]["userId"] = [_tag_value(user_id)]
    else:
        message["context"].update({"sendId": send_id, "userId": user_id})
    record["Message"] = json.dumps(message)
    return wrapped


def _call(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), _json_or_text(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), _json_or_text(error.read())


def _json_or_text(raw: bytes) -> Any:
    """The answer's JSON, or its text when something else answered (an HTML error page, sam local's 502)."""
    text = raw.decode(errors="replace")
    try:
        return json.loads(text) if text else None
    except ValueError:
        return " ".join(text.split())[:300]


def real_send(api: str, channel: str, user_id: str) -> str:
    """A synchronous send to one user on one channel; its X-Send-Id."""
    body = {"channels": [channel], "recipients": [user_id], "messageTitle": "Feedback", "messageContent": "Hi"}
    status, headers, answer = _call("POST", f"{api}/send", body)
    send_id = {name.lower(): value for name, value in headers.items()}.get("x-send-id")
    if status != 200 or not send_id:
        raise RuntimeError(f"POST /send answered {status} {answer}")
    print(f"POST /send {json.dumps(body)}\n  -> {status} {json.dumps(answer)}  X-Send-Id: {send_id}")
    return send_id


def invoke_feedback(endpoint: str, event: dict[str, Any]) -> dict[str, Any]:
    """FeedbackFunction on sam local start-lambda (any credentials do)."""
    client = boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(read_timeout=120, retries={"max_attempts": 1}),
    )
    answer = client.invoke(FunctionName="FeedbackFunction", Payload=json.dumps(event).encode())
    result: dict[str, Any] = json.loads(answer["Payload"].read())
    if "FunctionError" in answer:
        raise RuntimeError(f"FeedbackFunction failed: {result}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--event", default="ses-bounce", choices=SAMPLES, help="events/feedback-<event>.json")
    parser.add_argument("--user", default="alice", help="the demo user the event is about")
    parser.add_argument("--send-id", help="an earlier send of that user (default: a new send)")
    parser.add_argument("--api", default="http://127.0.0.1:3000")
    parser.add_argument("--lambda-endpoint", default="http://127.0.0.1:3001")
    args = parser.parse_args(argv)
    channel = channel_of(args.event)
    try:
        send_id = args.send_id or real_send(args.api, channel, args.user)
        answer = invoke_feedback(args.lambda_endpoint, aimed(args.event, send_id, args.user))
        print(f"FeedbackFunction <- events/feedback-{args.event}.json (send {send_id}, user {args.user})")
        print(f"  -> {json.dumps(answer)}")
        status, _, record = _call("GET", f"{args.api}/sends/{send_id}")
    except (OSError, RuntimeError) as exc:
        print(f"failed: {exc} (is `make start` running?)", file=sys.stderr)
        return 1
    channels = record.get("channels") if isinstance(record, dict) else None
    counts = {name: value for name, value in ((channels or {}).get(channel) or {}).items() if value}
    print(f"GET /sends/{send_id} -> {status}, {channel}: {json.dumps(counts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
