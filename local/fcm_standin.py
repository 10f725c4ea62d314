"""A local stand-in for Firebase Cloud Messaging HTTP v1 and Google's OAuth2 token endpoint.

    POST /token                               -> an access token for any JWT-bearer grant
    POST /v1/projects/<project>/messages:send -> accepts the message (Bearer token required)
    GET  /messages                            -> every message accepted so far
    DELETE /messages                          -> forget them

Device tokens starting with "unregistered" are answered 404 UNREGISTERED, as FCM does for an
uninstalled app; tokens starting with "invalid" get 400 INVALID_ARGUMENT; "flaky-N" gets 503 for
its first N attempts, "throttled" always 429 and "throttled-N" 429 for its first N attempts (all with
Retry-After: 0). Run it alone with
`python -m local.fcm_standin --port 8090`.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from local.servers import HttpStandIn, standin_main

ACCESS_TOKEN = "local-fcm-access-token"  # a stand-in's fixed value, not a secret
_SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


def _error(code: int, status: str, message: str, fcm_code: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "status": status,
            "details": [{"@type": _FCM_ERROR, "errorCode": fcm_code}],
        }
    }


class FcmStandIn(HttpStandIn):
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.messages: list[dict[str, Any]] = []
        self.token_requests = 0
        self.attempts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests read the recorded messages instead

            def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                if self.path == "/messages":
                    with standin._lock:
                        self._reply(200, {"messages": list(standin.messages)})
                else:
                    self._reply(404, {"error": "not found"})

            def do_DELETE(self) -> None:
                standin.clear()
                self._reply(200, {})

            def do_POST(self) -> None:
                if self.path == "/token":
                    form = parse_qs(self._body().decode())
                    # The JWT's audience is always Google's URL, so it is not checked here.
                    if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"] or not form.get(
                        "assertion"
                    ):
                        self._reply(400, {"error": "invalid_grant", "error_description": "bad grant"})
                        return
                    with standin._lock:
                        standin.token_requests += 1
                    self._reply(200, {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"})
                    return
                match = _SEND_PATH.match(self.path)
                if not match:
                    self._reply(404, {"error": "not found"})
                    return
                if self.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
                    self._reply(
                        401,
                        _error(401, "UNAUTHENTICATED", "Request had invalid credentials.", "THIRD_PARTY_AUTH_ERROR"),
                    )
                    return
                message = json.loads(self._body() or b"{}").get("message") or {}
                token = str(message.get("token", ""))
                if token.startswith(("flaky", "throttled")):
                    # "flaky-N": unavailable for the first N attempts; "throttled": always over quota;
                    # "throttled-N": over quota for the first N attempts.
                    with standin._lock:
                        standin.attempts[token] += 1
                        attempt = standin.attempts[token]
                    limit = int(token.split("-")[1]) if token.startswith(("flaky-", "throttled-")) else 10**9
                    if attempt <= limit:
                        status, code = (503, "UNAVAILABLE") if token.startswith("flaky") else (429, "QUOTA_EXCEEDED")
                        self._reply(status, _error(status, code, "Try again later.", code), {"Retry-After": "0"})
                        return
                if token.startswith("unregistered"):
                    self._reply(404, _error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"))
                    return
                if not token or token.startswith("invalid"):
                    self._reply(
                        400,
                        _error(
                            400,
                            "INVALID_ARGUMENT",
                            "The registration token is not a valid FCM registration token",
                            "INVALID_ARGUMENT",
                        ),
                    )
                    return
                with standin._lock:
                    standin.messages.append({"project": match.group(1), "message": message})
                    count = len(standin.messages)
                self._reply(200, {"name": f"projects/{match.group(1)}/messages/{count}"})

        return Handler


def main() -> None:
    standin_main(
        __doc__, 8090, FcmStandIn, lambda standin: f"FCM stand-in on {standin.url} (token URL {standin.token_uri})"
    )


if __name__ == "__main__":
    main()
