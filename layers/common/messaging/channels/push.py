"""Push through Firebase Cloud Messaging HTTP v1 `messages:send`, one request per device token.

OAuth2 tokens come from a Google service account (google-auth); the endpoint and token URL can be
pointed at local stand-ins. Requests go through urllib3's keep-alive pool: 0.3 ms of CPU per call
where requests + google-auth's AuthorizedSession took 0.6 ms, and a Lambda pays for every one.
google-auth (its service-account code, 160 ms of imports, and its errors) is loaded by PushFunction
only, with its client: SendFunction reads this module for the channel's spec.

A token FCM reports gone for good is recorded in the user's document (messaging.channels.stale_tokens).
"""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import urllib3
from pydantic import BaseModel, Field

from messaging import throttles
from messaging.channels.base import ChannelSpec, Rendered, ServiceView, Source, Texts, Tree
from messaging.channels.common import DeliveryReport, Problem, deliver_all, failures_for
from messaging.models.batch import Envelope

if TYPE_CHECKING:
    from messaging.models.request import SendRequest

# pushData keys that are FCM v1 message blocks rather than custom data.
PUSH_BLOCKS = ("android", "apns")


class PushMessage(BaseModel):
    userId: str
    token: str
    title: str
    body: str
    subtitle: str | None = None
    data: dict[str, str] = Field(default_factory=dict)
    # FCM v1 blocks from the template's pushData; they win over the derived fields.
    android: dict[str, Any] | None = None
    apns: dict[str, Any] | None = None


class PushBatch(Envelope):
    channel: Literal["push"] = "push"
    androidIntentAction: str | None = None
    messages: list[PushMessage]


def _json_default(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)  # ObjectId, Decimal128: as text


def _stringify(value: Any) -> str:
    # FCM data values must be strings.
    if isinstance(value, str):
        return value
    return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"))


class Push(ChannelSpec):
    name = "push"
    user_field = "deviceToken"
    user_field_visible = False  # a credential of the user's device, never message text
    template_fields = MappingProxyType(
        {
            "pushTitle": (str | None, None),
            "pushSubtitle": (str | None, None),
            "pushMessage": (str | None, None),
            "pushData": (dict[str, Any] | None, None),
        }
    )
    required = (("pushTitle",), ("pushMessage",))
    message_model = PushMessage
    batch_model = PushBatch

    def request_texts(self, title: Source, content: Source) -> Texts:
        return {"title": title, "body": content}

    def template_texts(self, template: BaseModel, template_id: str) -> Texts:
        data = getattr(template, "pushData", None)
        return {
            "title": self.template_source(template, template_id, "pushTitle"),
            "body": self.template_source(template, template_id, "pushMessage"),
            "subtitle": self.template_source(template, template_id, "pushSubtitle"),
            "data": Tree(data, f"template {template_id} pushData") if data is not None else None,
        }

    def message(self, user_id: str, address: str, rendered: Rendered) -> PushMessage:
        data = dict(rendered.get("data") or {})
        blocks = {key: data.pop(key) for key in PUSH_BLOCKS if isinstance(data.get(key), dict)}
        return PushMessage(
            userId=user_id,
            token=address,
            title=rendered.get("title") or "",
            body=rendered.get("body") or "",
            subtitle=rendered.get("subtitle"),
            data={str(key): _stringify(value) for key, value in data.items()},
            android=blocks.get("android"),
            apns=blocks.get("apns"),
        )

    def envelope(self, request: SendRequest, service: ServiceView) -> dict[str, object]:
        return {"androidIntentAction": service.androidIntentAction}


CHANNEL = Push()

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
RETRYABLE = {429, 500, 502, 503, 504}
ATTEMPTS = 3
BACKOFF_BASE_S = 0.2
MAX_WAIT_S = 2.0  # a Lambda batch cannot wait long: beyond this, the message is reported failed


def _seconds(retry_after: str | None) -> float | None:
    try:
        return max(0.0, float(retry_after)) if retry_after else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def fcm_message(message: PushMessage, android_intent_action: str | None) -> dict[str, Any]:
    """The FCM v1 message; the template's own android/apns blocks win over derived fields."""
    body: dict[str, Any] = {"token": message.token, "notification": {"title": message.title, "body": message.body}}
    if message.data:
        body["data"] = message.data
    android: dict[str, Any] = {"notification": {"click_action": android_intent_action}} if android_intent_action else {}
    apns: dict[str, Any] = {}
    if message.subtitle:
        alert = {"title": message.title, "subtitle": message.subtitle, "body": message.body}
        apns = {"payload": {"aps": {"alert": alert}}}
    android = _merge(android, message.android or {})
    apns = _merge(apns, message.apns or {})
    if android:
        body["android"] = android
    if apns:
        body["apns"] = apns
    return body


def fcm_problem(status: int, body: bytes) -> Problem:
    """FCM's error code (`UNREGISTERED`, `INVALID_ARGUMENT`, ...) and message."""
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        error = None
    if not isinstance(error, dict):  # not FCM's answer (a proxy's): its status and words
        return Problem(f"HTTP{status}", f"HTTP {status}: {body[:200].decode(errors='replace')}")
    details = error.get("details") or []
    code = next(
        (detail["errorCode"] for detail in details if isinstance(detail, dict) and detail.get("errorCode")), None
    )
    code = str(code or error.get("status") or f"HTTP{status}")[:64]
    return Problem(code, f"{code}: {error.get('message', '')}")


def auth_failure(exc: Exception) -> Problem:
    return Problem("FcmAuthFailed", f"FCM authentication failed: {type(exc).__name__}: {exc}".splitlines()[0])


class FcmClient:
    """One per container: the OAuth2 token and the keep-alive connections are reused."""

    def __init__(
        self,
        service_account_info: dict[str, Any],
        project_id: str,
        endpoint: str,
        token_uri: str | None,
        timeout_s: float,
        pool_size: int,
    ) -> None:
        from google.auth.transport.urllib3 import Request
        from google.oauth2 import service_account

        info = dict(service_account_info)
        if token_uri:
            info["token_uri"] = token_uri
        self._credentials = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
        # retries=False: what to retry is decided below, from FCM's answer.
        self._pool = urllib3.PoolManager(maxsize=pool_size, retries=False)
        self._url = f"{endpoint.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._timeout = urllib3.Timeout(connect=min(timeout_s, 5.0), read=timeout_s)
        self._token_request = Request(self._pool)
        self._refreshing = threading.Lock()

    def authorize(self, rejected_token: str | None = None) -> None:
        """Fetches the OAuth2 token once for a batch, rather than once per concurrent send; with the
        token FCM rejected, fetches a new one unless another send has done so meanwhile."""
        with self._refreshing:
            if not self._credentials.valid or (rejected_token and rejected_token == self._credentials.token):
                self._credentials.refresh(self._token_request)

    def send(self, message: dict[str, Any]) -> Problem | None:
        """Retries what FCM asks to retry (429, 5xx: honouring Retry-After) and connections that
        failed before sending, with exponential backoff and full jitter. A read timeout is not
        retried: the notification may already be on its way. A 401 refreshes the token once."""
        problem = Problem("Other", "")
        body = json.dumps({"message": message}).encode()
        refreshed = False
        for attempt in range(ATTEMPTS):
            retry_after: float | None = None
            token = self._credentials.token
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            try:
                response = self._pool.request("POST", self._url, body=body, headers=headers, timeout=self._timeout)
            except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
                problem = Problem("ConnectionError", f"ConnectionError: {exc}")
            except urllib3.exceptions.HTTPError as exc:
                return Problem(type(exc).__name__, f"{type(exc).__name__}: {exc}")
            else:
                if response.status < 300:
                    return None
                problem = fcm_problem(response.status, response.data)
                if response.status == 401 and not refreshed:
                    from google.auth.exceptions import GoogleAuthError  # loaded with the client

                    refreshed = True
                    try:
                        self.authorize(rejected_token=token)
                    except GoogleAuthError as exc:
                        return auth_failure(exc)
                    continue
                if response.status not in RETRYABLE:
                    return problem
                throttles.seen(response.status == 429)
                if response.status == 429 and not throttles.retried_here():
                    return problem  # the dispatcher sends it again in a slot of its pace
                retry_after = _seconds(response.headers.get("Retry-After"))
            if attempt + 1 < ATTEMPTS:
                backoff = random.uniform(0, BACKOFF_BASE_S * 2**attempt)  # noqa: S311 - jitter, not crypto
                time.sleep(min(MAX_WAIT_S, retry_after if retry_after is not None else backoff))
        return problem


def send_batch(batch: PushBatch, client: FcmClient, concurrency: int) -> DeliveryReport:
    from google.auth.exceptions import GoogleAuthError  # loaded with the client

    try:
        client.authorize()
    except (GoogleAuthError, urllib3.exceptions.HTTPError) as exc:
        return failures_for("push", batch.messages, auth_failure(exc))

    def deliver(message: PushMessage) -> Problem | None:
        return client.send(fcm_message(message, batch.androidIntentAction))

    return deliver_all("push", batch.messages, deliver, concurrency)
