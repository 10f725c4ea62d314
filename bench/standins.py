"""HTTP stand-ins for the benchmark: providers that answer after a fixed latency, and a Lambda
invoke endpoint that runs the channel functions' handlers in this process.

Providers (one server): SES v2 `SendEmail`, SNS `Publish`, Secrets Manager `GetSecretValue`
(the FCM service account), Google's OAuth2 token endpoint and FCM `messages:send`.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Any, Self

from local.fcm_standin import ACCESS_TOKEN
from local.servers import HttpStandIn

_SNS_OK = (
    b'<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m'
    b"</MessageId></PublishResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
    b"</PublishResponse>"
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


class _Sandbox(HTTPServer):
    """One connection at a time; every worker process accepts on the same listening socket."""

    request_queue_size = 256


class Providers(HttpStandIn):
    def __init__(self, latency_ms: float, secret: Mapping[str, Any]) -> None:
        self.latency_s = latency_ms / 1000
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._secret = json.dumps({"Name": "fcm", "SecretString": json.dumps(dict(secret))}).encode()
        self._server = _Server(("127.0.0.1", 0), self._handler())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        providers = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real endpoints
            disable_nagle_algorithm = True  # else headers and body wait out the client's delayed ACK (40 ms)

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target", "")
                if target.endswith("GetSecretValue"):
                    self._reply(providers._secret, "application/x-amz-json-1.1")
                    return
                if self.path == "/token":
                    self._reply(json.dumps({"access_token": ACCESS_TOKEN, "expires_in": 3600}).encode())
                    return
                kind = (
                    "email"
                    if self.path.startswith("/v2/email/")
                    else "push"
                    if self.path.endswith("messages:send")
                    else "sms"
                )
                time.sleep(providers.latency_s)
                with providers._lock:
                    providers.calls[kind] += 1
                if kind == "sms":
                    self._reply(_SNS_OK, "text/xml")
                else:
                    self._reply(b'{"MessageId": "m", "name": "projects/p/messages/m"}')

        return Handler


class LambdaEndpoint(HttpStandIn):
    """`POST /2015-03-31/functions/<name>/invocations`, answered by the named handler.

    Like Lambda's warm sandboxes: a fixed set of worker processes, each running one invoke at a time
    and keeping its module state (clients, connection pools, FCM token) from one invoke to the next.
    """

    def __init__(
        self,
        handlers: Mapping[str, Callable[[dict[str, Any], Any], dict[str, Any]]],
        context_factory: Callable[[str], Any],
        sandboxes: int,
    ) -> None:
        self._handlers = dict(handlers)
        self._context = context_factory
        self._sandboxes = sandboxes
        self._workers: list[int] = []
        self._server = _Sandbox(("127.0.0.1", 0), self._handler())

    def start(self) -> Self:
        for _ in range(self._sandboxes):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the worker's life ends here
                try:
                    self._server.serve_forever()
                finally:
                    os._exit(0)
            self._workers.append(pid)
        return self

    def stop(self) -> None:
        for pid in self._workers:
            os.kill(pid, signal.SIGTERM)
        for pid in self._workers:
            os.waitpid(pid, 0)
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one invoke per connection, so any idle worker takes the next
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                name = self.path.split("/functions/", 1)[1].split("/", 1)[0]
                event = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                try:
                    body = json.dumps(endpoint._handlers[name](event, endpoint._context(name))).encode()
                    error = None
                except Exception as exc:  # noqa: BLE001 - reported as Lambda reports it
                    body = json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
                    error = "Unhandled"
                self.send_response(200)
                if error:
                    self.send_header("X-Amz-Function-Error", error)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def main() -> None:
    """Runs one stand-in in its own process (so it does not share the benchmark's interpreter lock):
    `python -m bench.standins providers LATENCY_MS` or `python -m bench.standins lambda SANDBOXES`; prints its URL."""
    import sys

    from local.lambda_runtime import LambdaContext, load_function
    from local.service_account import make_service_account

    kind = sys.argv[1]
    server: Providers | LambdaEndpoint
    if kind == "providers":
        server = Providers(float(sys.argv[2]), make_service_account("bench"))
    else:
        names = {"email": "EmailFunction", "sms": "SmsFunction", "push": "PushFunction"}
        handlers = {names[channel]: load_function(channel).lambda_handler for channel in names}
        server = LambdaEndpoint(handlers, lambda name: LambdaContext(function_name=name), int(sys.argv[2]))
    print(f"URL {server.url}", flush=True)  # the socket listens already; requests wait for start()
    # Nobody reads on: the functions' log lines (in this process and the forked sandboxes) must not
    # fill the pipe and block them.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    server.start()
    try:
        sys.stdin.read()  # until the benchmark closes our stdin
    finally:
        server.stop()
        os._exit(0)


if __name__ == "__main__":
    main()
