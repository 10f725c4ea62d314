"""A loopback stand-in for API Gateway's auth in front of SendFunction: it recomputes each SigV4
signature with botocore (or checks the API key), answers 403 as API Gateway does when it fails,
and otherwise hands the request (any route: POST, GET, DELETE under the stage `/v1`) to the handler as
an API Gateway proxy event."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import api_event
from tests.lambda_runtime import LambdaContext

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def sigv4_problem(
    method: str, path: str, headers: Mapping[str, str], body: bytes, credentials: Credentials, region: str
) -> str | None:
    """Why this request is not validly signed by these credentials for execute-api, or None."""
    found = _AUTHORIZATION.fullmatch(headers.get("authorization", ""))
    if found is None:
        return "Missing Authentication Token"
    if (found["key"], found["region"], found["service"]) != (credentials.access_key, region, "execute-api"):
        return f"Credential should be scoped to {region}/execute-api with the caller's key"
    amz_date = headers.get("x-amz-date", "")
    names = found["signed"].split(";")
    if not amz_date.startswith(found["date"]) or not {"host", "x-amz-date"} <= set(names):
        return "host and x-amz-date must be signed"
    if credentials.token is not None and headers.get("x-amz-security-token") != credentials.token:
        return "The security token included in the request is invalid"
    declared_hash = headers.get("x-amz-content-sha256")
    if declared_hash is not None and declared_hash != hashlib.sha256(body).hexdigest():
        return "x-amz-content-sha256 is not the body's"
    request = AWSRequest(
        method=method, url=f"http://{headers['host']}{path}", data=body, headers={n: headers[n] for n in names}
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(credentials, "execute-api", region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, found["signature"]):
        return "The request signature we calculated does not match the signature you provided"
    return None


class SignedGateway:
    """`mode` is "iam" (SigV4 with `credentials`) or "api_key" (`x-api-key` equal to `api_key`)."""

    def __init__(
        self, handler: Handler, *, credentials: Credentials, region: str, api_key: str, mode: str = "iam"
    ) -> None:
        self.handler, self.credentials, self.region, self.api_key, self.mode = (
            handler,
            credentials,
            region,
            api_key,
            mode,
        )
        self.requests: list[dict[str, str]] = []
        gateway = self

        class _Request(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                gateway._answer(self, body)

            def do_GET(self) -> None:
                gateway._answer(self, b"")

            def do_DELETE(self) -> None:
                gateway._answer(self, b"")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Request)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def send_url(self) -> str:
        return f"{self.base_url}/send"

    def __enter__(self) -> SignedGateway:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, http: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {name.lower(): value for name, value in http.headers.items()}
        self.requests.append(headers)
        identity: dict[str, str]
        if self.mode == "iam":
            problem = sigv4_problem(http.command, http.path, headers, body, self.credentials, self.region)
            identity = {"accessKey": self.credentials.access_key, "userArn": "arn:aws:iam::123456789012:user/client"}
        else:
            problem = None if headers.get("x-api-key") == self.api_key else "Forbidden"
            identity = {"apiKey": self.api_key, "apiKeyId": "key-id"}
        if problem is not None:
            self._write(http, 403, {"Content-Type": "application/json"}, json.dumps({"message": problem}))
            return
        url = urlsplit(http.path)
        path = url.path.removeprefix("/v1")
        query = dict(parse_qsl(url.query)) or None
        context = {"identity": identity, "httpMethod": http.command, "path": url.path, "resourcePath": path}
        event = api_event(None, event={"requestContext": context})
        event.update({"httpMethod": http.command, "path": path, "resource": path, "body": body.decode() or None})
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
        event["headers"] = dict(http.headers.items())
        event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
        response = self.handler(event, LambdaContext())
        answer_headers = dict(response.get("headers") or {})
        for name, values in (response.get("multiValueHeaders") or {}).items():
            answer_headers[name] = ", ".join(values)
        self._write(http, response["statusCode"], answer_headers, response["body"])

    @staticmethod
    def _write(http: BaseHTTPRequestHandler, status: int, headers: Mapping[str, str], body: str) -> None:
        payload = body.encode()
        http.send_response(status)
        for name, value in headers.items():
            http.send_header(name, value)
        http.send_header("Content-Length", str(len(payload)))
        http.end_headers()
        http.wfile.write(payload)
