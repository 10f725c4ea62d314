"""POST /send to the deployed API, signed with SigV4 (or with the API key when the stack is deployed
with ApiAuth=API_KEY), through the command-line client's own code (messaging_client: `make venv`
installs it into .venv):

    .venv/bin/python examples/call_signed.py "$SEND_URL" events/requests/by-recipients.json

Credentials come from botocore's usual chain (environment, ~/.aws profiles, SSO, instance role);
the region from the URL. docs/api.md, "Calling the deployed API", quotes messaging_client/signing.py.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from messaging_client.transport import Api


def send(
    send_url: str,
    body: dict[str, Any],
    *,
    region: str | None = None,
    api_key: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST /send; the status and the JSON answer (`{"failures": [...]}` or the error shape)."""
    api = Api(send_url, "api-key" if api_key is not None else "iam", api_key, region)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    answer = api.call("POST", "/send", body, headers=headers)
    return answer.status, dict(answer.body)


def main(argv: list[str]) -> int:
    send_url, body_file = argv
    with open(body_file) as handle:
        status, answer = send(send_url, json.load(handle))
    print(status, json.dumps(answer, indent=2))
    return 0 if status < 400 else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
