"""One call of the API: the URL, the auth (SigV4, an API key, or none for `make start`), the JSON both
ways. A refusal is an Answer like any other; only an unreachable API is an exception."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

from messaging_client.signing import sigv4_headers

Auth = Literal["iam", "api-key", "none"]
LOCAL_URL = "http://127.0.0.1:3000"


class Unreachable(Exception):
    """No HTTP answer at all: refused, unknown host, timed out, or a connection cut."""


class BadAnswer(Exception):
    """An answer the API never gives (not its JSON, not its shape, endless): a proxy, a wrong --url, or a
    hostile server."""


# The API's largest answer (a preview of 100 users) is a few MB; past this it is not the API talking.
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """The API never redirects: following one would hand the API key or the signed headers (the session
    token) to wherever it points. The 3xx is answered as it came."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any  # the JSON answer, or the text when it is not JSON

    @property
    def refused(self) -> bool:
        return self.status >= 300  # a 3xx too: never followed (_NoRedirects)


@dataclass(frozen=True)
class Api:
    """`url` is the API's base (`https://<id>.execute-api.<region>.amazonaws.com/v1`) or its SendUrl."""

    url: str = LOCAL_URL
    auth: Auth = "none"
    api_key: str | None = None
    region: str | None = None
    timeout_s: float = 30.0
    base: str = field(init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.username is not None or parts.password is not None:
            # Never echoed: the URL then holds a secret, which every message below would print.
            raise ValueError("the URL carries credentials (user:password@): give --api-key or sign with --auth iam")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an HTTP URL: {self.url}")
        object.__setattr__(self, "base", self.url.rstrip("/").removesuffix("/send"))

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        url = self.base + path + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        sent = {
            "Accept": "application/json",
            **({"Content-Type": "application/json"} if data else {}),
            **(headers or {}),
        }
        if self.auth == "api-key":
            sent["x-api-key"] = str(self.api_key)
        elif self.auth == "iam":
            sent = sigv4_headers(method, url, data, sent, self.region)
        request = urllib.request.Request(url, data=data, headers=sent, method=method)
        try:
            with _OPENER.open(request, timeout=self.timeout_s) as response:
                return _answer(response.status, dict(response.headers.items()), self._read(response))
        except urllib.error.HTTPError as error:
            return _answer(error.code, dict(error.headers.items()), self._read(error))
        except TimeoutError:
            raise Unreachable(f"no answer from {self.base} within {self.timeout_s:g} s") from None
        except (urllib.error.URLError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise Unreachable(f"cannot reach {self.base}: {_reason(reason)}") from None

    def _read(self, response: Any) -> bytes:
        raw: bytes = response.read(MAX_ANSWER_BYTES + 1)
        if len(raw) > MAX_ANSWER_BYTES:
            raise BadAnswer(f"the answer from {self.base} is over {MAX_ANSWER_BYTES} bytes: not what the API answers")
        return raw


def _answer(status: int, headers: dict[str, str], raw: bytes) -> Answer:
    text = raw.decode(errors="replace")
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = text
    return Answer(status, {name.lower(): value for name, value in headers.items()}, body)


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "unknown host"
    return str(getattr(reason, "strerror", None) or reason)
