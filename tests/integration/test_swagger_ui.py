"""The API browsable (issue 26): GET /swagger renders Swagger UI in a real browser (Debian's headless
Chromium) from SendFunction's handler on loopback, with every route listed and nothing fetched
from beyond loopback; its screenshot's path is printed. Off (SWAGGER_UI unset or `disabled`) it is
a 404, and the route is never in openapi.json."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from local.lambda_runtime import load_function
from local.openapi import document
from tests.conftest import get_event
from tests.lambda_runtime import LambdaContext

ROUTES = {
    ("POST", "/send"),
    ("POST", "/send/preview"),
    ("GET", "/sends/{sendId}"),
    ("GET", "/sends/{sendId}/failures"),
    ("DELETE", "/sends/{sendId}"),
}
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
# What an operation's summary row renders: its method, then its path.
_OPERATION = re.compile(
    r'class="opblock-summary-method">(?P<method>[A-Z]+)</span>.*?data-path="(?P<path>[^"]+)"', re.DOTALL
)


class LoopbackGateway:
    """API Gateway in front of SendFunction on loopback, and the browser's only proxy: a request for
    any other host is recorded in `outside` and refused."""

    def __init__(self, handler: Handler) -> None:
        self.outside: list[str] = []
        gateway = self

        class _Request(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                gateway._answer(self)

            def do_POST(self) -> None:
                gateway._answer(self)

            def do_CONNECT(self) -> None:  # HTTPS through the proxy: never to loopback here
                gateway.outside.append(f"CONNECT {self.path}")
                self.send_error(403)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._handler = handler
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Request)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LoopbackGateway:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, http: BaseHTTPRequestHandler) -> None:
        url = urlsplit(http.path)
        if url.netloc and f"{url.scheme}://{url.netloc}" != self.origin:
            self.outside.append(f"{http.command} {http.path}")
            http.send_error(502)
            return
        event = get_event(url.path, dict(parse_qsl(url.query)) or None)
        event["httpMethod"] = http.command
        event["requestContext"] = {**event["requestContext"], "path": url.path, "httpMethod": http.command}
        response = self._handler(event, LambdaContext())
        payload = str(response.get("body") or "").encode()
        http.send_response(response["statusCode"])
        headers = {name: ", ".join(values) for name, values in (response.get("multiValueHeaders") or {}).items()}
        for name, value in {**headers, **(response.get("headers") or {})}.items():
            http.send_header(name, value)
        http.send_header("Content-Length", str(len(payload)))
        http.end_headers()
        http.wfile.write(payload)


@pytest.fixture(scope="module")
def browsable(servers: Any) -> ModuleType:
    """SendFunction in a container of its own, deployed with SwaggerUi=enabled."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SWAGGER_UI", "enabled")
        return load_function("send", variant="_swagger")


def chromium(url: str, proxy: str, profile: Path, *outputs: str) -> str:
    """Headless Chromium's rendered DOM of `url`, every request through `proxy` (loopback too)."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)")
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        # The browser's autofill asks Google about the page's form fields (the filter box), as the page.
        "--disable-features=AutofillServerCommunication",
        f"--user-data-dir={profile}",
        f"--proxy-server={proxy}",
        "--proxy-bypass-list=<-loopback>",  # loopback through the proxy too: it sees every request
        "--window-size=1280,1600",
        "--virtual-time-budget=30000",
        *outputs,
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def page_requests(netlog: Path, site: str) -> list[str]:
    """The URLs the page asked for, from Chromium's NetLog: the requests whose network isolation key
    is the page's own site (the browser's own update, time and account checks have another)."""
    text = netlog.read_text()
    try:
        log = json.loads(text)
    except ValueError:  # a log whose end was not written
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    types = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    return [
        event["params"]["url"]
        for event in log["events"]
        if types.get(event["type"]) == "URL_REQUEST_START_JOB"
        and str(event.get("params", {}).get("network_isolation_key", "")).startswith(site)
    ]


def test_swagger_ui_renders_every_route_in_a_browser_with_nothing_from_beyond_loopback(
    browsable: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    screenshot = tmp_path / "swagger-ui.png"
    with LoopbackGateway(browsable.lambda_handler) as gateway:
        page = f"{gateway.origin}/swagger"
        netlog = tmp_path / "netlog.json"
        dom = chromium(page, gateway.origin, tmp_path / "profile", "--dump-dom", f"--log-net-log={netlog}")
        chromium(page, gateway.origin, tmp_path / "profile-2", f"--screenshot={screenshot}")

    rendered = {(m["method"], html.unescape(m["path"])) for m in _OPERATION.finditer(dom)}
    assert rendered == ROUTES, dom[:2000]
    asked = page_requests(netlog, "http://127.0.0.1")
    assert f"{page}" in asked
    # Swagger UI's script and stylesheet are in the page: it asks loopback only (a CDN would show here).
    assert [url for url in asked if not url.startswith(f"{gateway.origin}/")] == []
    # Nothing left loopback at all: the proxy refused whatever the browser itself tried (its updates).
    assert not [seen for seen in gateway.outside if "127.0.0.1" in seen]
    assert screenshot.stat().st_size > 10_000
    record_property("screenshot", str(screenshot))
    with capsys.disabled():
        print(f"\nSwagger UI screenshot: {screenshot} (the page asked for: {sorted(set(asked))})")


def test_the_document_behind_it_has_every_route_with_examples_and_never_itself(browsable: ModuleType) -> None:
    event = get_event("/swagger", {"format": "json"})
    answer = browsable.lambda_handler(event, LambdaContext())
    served = json.loads(answer["body"])

    assert answer["statusCode"] == 200
    assert {(method.upper(), path) for path, item in served["paths"].items() for method in item} == ROUTES
    body = served["paths"]["/send"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    request = served["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert request["properties"]["emailSender"]["examples"] == ["clinic@example.com"]
    # openapi.json, the contract, is generated from a resolver with the route: it is not in it.
    assert "/swagger" not in document(browsable.app)["paths"]


def test_switched_off_it_is_a_404(functions: dict[str, ModuleType]) -> None:
    answer = functions["send"].lambda_handler(get_event("/swagger"), LambdaContext())

    assert (answer["statusCode"], json.loads(answer["body"])["message"]) == (404, "no such resource")
