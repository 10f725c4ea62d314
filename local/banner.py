"""What `make start` prints once ready: where everything is, for the options it was started with."""

from __future__ import annotations

import argparse
from pathlib import Path

from local.demo_data import FILES


def sent_where(args: argparse.Namespace) -> str:
    """Where the providers' stand-ins keep what was sent: SMS follow --sms-provider."""
    moto = f"http://127.0.0.1:{args.moto_port}/moto-api/data.json"
    eum = f"http://127.0.0.1:{args.eum_port}/messages"
    if args.sms_provider == "end-user-messaging":
        return f"""  sent e-mails       {moto}   (ses.Message, ses.RawMessage)
  SMS and voice      {eum}   (End User Messaging stand-in)"""
    return f"""  sent e-mails, SMS  {moto}   (ses.Message, ses.RawMessage, sns.SMS)
  voice              {eum}   (End User Messaging stand-in)"""


def summary(args: argparse.Namespace, queues: tuple[str, str], logs: Path, ready_s: float) -> str:
    a = args
    return f"""
Messaging service running locally (ready in {ready_s:.0f} s):
  POST /send         http://127.0.0.1:{a.api_port}/send   (Prefer: respond-async -> 202, then GET /sends/<id>)
  the API browsable  http://127.0.0.1:{a.api_port}/swagger   (Swagger UI: every route, its fields and examples)
  scheduled sends    "sendAt" in the body -> 202 scheduled; fired by the local scheduler; DELETE /sends/<id>
  intake queue       {queues[0]}   (a /send body per message: aws sqs send-message)
  lifecycle events   {queues[1]}   (aws sqs receive-message)
  what was sent      make sent   (every channel, readable, newest last)
{sent_where(a)}
  push received      http://127.0.0.1:{a.fcm_port}/messages
  attachments        http://127.0.0.1:{a.files_port}/download/<name>   ({", ".join(FILES)})
  MongoDB            mongodb://127.0.0.1:{a.mongo_port}/messaging   (users, templates)
  logs               {logs}   (start-api.log: SendFunction; start-lambda.log: the others)
Try:
  curl -s -X POST http://127.0.0.1:{a.api_port}/send -H 'Content-Type: application/json' \\
    -d @events/requests/by-recipients.json
Each request is printed below as `[api] METHOD path -> status  send <id>  duration`.
Ctrl-C stops everything."""
