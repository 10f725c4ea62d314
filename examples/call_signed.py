"""POST /send to the deployed API, signed with SigV4 by botocore (nothing else to install), or
with the API key when the stack is deployed with ApiAuth=API_KEY.

    python examples/call_signed.py "$SEND_URL" events/requests/by-recipients.json

Credentials come from botocore's usual chain (environment, ~/.aws profiles, SSO, instance role);
the region from the URL. docs/api.md, "Calling the deployed API", quotes `send` below.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.session import Session


def send(
    send_url: str,
    body: dict[str, Any],
    *,
    region: str | None = None,
    api_key: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST /send; the status and the JSON answer (`{"failures": [...]}` or the error shape)."""
    url = urlsplit(send_url)
    if url.scheme not in ("https", "http"):
        raise ValueError(f"not an HTTP URL: {send_url}")
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    if api_key is not None:
        headers["x-api-key"] = api_key
    else:
        credentials = Session().get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials found (environment, profile, SSO or role)")
        # {api-id}.execute-api.{region}.amazonaws.com
        region = region or str(url.hostname).split(".")[2]
        signed = AWSRequest(method="POST", url=send_url, data=data, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(signed)
        headers = dict(signed.headers.items())
    request = urllib.request.Request(send_url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def main(argv: list[str]) -> int:
    send_url, body_file = argv
    with open(body_file) as handle:
        status, answer = send(send_url, json.load(handle))
    print(status, json.dumps(answer, indent=2))
    return 0 if status < 400 else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
