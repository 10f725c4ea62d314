"""HTTP stand-ins for the benchmark: providers that answer after a fixed latency, and a Lambda
invoke endpoint whose warm sandbox processes run the channel functions' handlers.

Providers (one server): SES v2 `SendEmail`, SNS `Publish`, End User Messaging `SendVoiceMessage`
and `SendTextMessage`, Secrets Manager `GetSecretValue` (the FCM service account), Google's OAuth2
token endpoint and FCM `messages:send`; each channel's send rate limited as its provider limits it
(bench/limits.py), with what they saw at `GET /stats`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Self

from bench.limits import THROTTLED_ANSWERS, Limits
from local.fcm_standin import ACCESS_TOKEN
from local.servers import HttpStandIn

_SNS_OK = (
    b'<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m'
    b"</MessageId></PublishResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
    b"</PublishResponse>"
)


def _channel(path: str, target: str) -> str:
    if path.startswith("/v2/email/"):
        return "email"
    if path.endswith("messages:send"):
        return "push"
    if target.endswith("SendVoiceMessage"):
        return "voice"
    return "sms"  # End User Messaging SendTextMessage, SNS Publish


class _Sandbox(HTTPServer):
    """One connection at a time; every worker process accepts on the same listening socket."""

    request_queue_size = 256


class Providers:
    """One asyncio server for every provider: its own CPU competes with the functions' for this
    machine's cores, so it parses just enough HTTP/1.1 (keep-alive, Content-Length) and waits out
    the latency without a thread per connection."""

    def __init__(self, latency_ms: float, secret: Mapping[str, Any], limits: Limits | None = None) -> None:
        self.latency_s = latency_ms / 1000
        self.limits = limits or Limits({})
        self._secret = json.dumps({"Name": "fcm", "SecretString": json.dumps(dict(secret))}).encode()
        self._token = json.dumps({"access_token": ACCESS_TOKEN, "expires_in": 3600}).encode()
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=256)
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def _answer(self, path: str, headers: dict[str, str]) -> tuple[bool, int, dict[str, str], bytes, str]:
        """(after the latency?, status, extra headers, body, content type)"""
        target = headers.get("x-amz-target", "")
        if target.endswith("GetSecretValue"):
            return False, 200, {}, self._secret, "application/x-amz-json-1.1"
        if path == "/token":
            return False, 200, {}, self._token, "application/json"
        if path == "/stats":
            return False, 200, {}, json.dumps(self.limits.stats()).encode(), "application/json"
        channel = _channel(path, target)
        if not self.limits.admit(channel):
            status, extra, body, content_type = THROTTLED_ANSWERS[channel]
            return True, status, extra, body, content_type
        if target.startswith("PinpointSMSVoiceV2."):
            return True, 200, {}, b'{"MessageId": "m"}', "application/x-amz-json-1.0"
        if channel in ("email", "push"):
            return True, 200, {}, b'{"MessageId": "m", "name": "projects/p/messages/m"}', "application/json"
        return True, 200, {}, _SNS_OK, "text/xml"  # SNS Publish

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                request_line, *lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                await reader.readexactly(int(headers.get("content-length") or 0))
                delayed, status, extra, body, content_type = self._answer(request_line.split(" ", 2)[1], headers)
                if delayed:
                    await asyncio.sleep(self.latency_s)
                more = "".join(f"{name}: {value}\r\n" for name, value in extra.items())
                writer.write(
                    f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\nContent-Type: {content_type}\r\n"
                    f"{more}Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed its keep-alive connection
        finally:
            writer.close()

    def serve_forever(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(asyncio.start_server(self._serve, sock=self._sock))
        self._loop.run_forever()

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)


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
    `python -m bench.standins providers LATENCY_MS [RATES]` or `python -m bench.standins lambda SANDBOXES`;
    prints its URL."""
    import sys

    from local.lambda_runtime import LambdaContext, load_function
    from local.service_account import make_service_account

    kind = sys.argv[1]
    server: Providers | LambdaEndpoint
    if kind == "providers":
        # `providers LATENCY_MS [email=200,sms=50]`: the providers' own limits
        rates = dict(pair.split("=", 1) for pair in (sys.argv[3] if len(sys.argv) > 3 else "").split(",") if pair)
        limits = Limits({channel: float(rate) for channel, rate in rates.items()})
        server = Providers(float(sys.argv[2]), make_service_account("bench"), limits)
    else:
        from messaging.channels import registry

        handlers = {spec.function_id: load_function(spec.name).lambda_handler for spec in registry.specs()}
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
