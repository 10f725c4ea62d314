"""A local stand-in for AWS End User Messaging SMS and Voice v2 (`pinpoint-sms-voice-v2`), which
moto does not have: boto3 reaches it through AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2.

The real API's JSON 1.0 protocol: `POST /` with `X-Amz-Target: PinpointSMSVoiceV2.<Operation>` and
a JSON body; answers `{"MessageId": ...}`, errors as `{"__type": ..., "Message": ..., ...}` with the
fields of the botocore service model (ValidationException: Reason, Fields; ConflictException:
Reason, ResourceType, ResourceId).

    SendVoiceMessage, SendTextMessage  -> accepted and recorded, unless a trigger below applies
    PutOptedOutNumber                  -> adds a number to an opt-out list
    GET    /messages                   -> every message accepted so far
    DELETE /messages                   -> forget them (opt-outs stay)

Triggers, by destination number: ending in 0000 -> 400 ValidationException (INVALID_PARAMETER, the
field DestinationPhoneNumber); ending in 9999, or put in an opt-out list -> 400 ConflictException
(DESTINATION_PHONE_NUMBER_OPTED_OUT); ending in 4290 -> 400 ThrottlingException. An origination
identity starting with "unknown" -> 400 ResourceNotFoundException; none at all on SendVoiceMessage
-> ValidationException (MISSING_PARAMETER). A `Context` beyond its documented limits (5 entries;
keys 1-100 characters without whitespace; values 1-800 characters, no whitespace at either end)
-> ValidationException (INVALID_PARAMETER, the field Context).
Run it alone with `python -m local.eum_standin --port 8092`.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.servers import HttpStandIn, standin_main

TARGET_PREFIX = "PinpointSMSVoiceV2."
CONTENT_TYPE = "application/x-amz-json-1.0"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
SENDS = ("SendVoiceMessage", "SendTextMessage")
# Context's documented limits (the API reference's ContextMap, ContextKey, ContextValue), kept here
# on their own so that the service's encoding is checked against them, not against itself.
_CONTEXT_KEY = re.compile(r"\S{1,100}")
_CONTEXT_VALUE = re.compile(r"(?!\s)^[\s\S]{1,800}(?<!\s)")


def context_problem(context: Any) -> str | None:
    """Why End User Messaging would refuse this Context; None if it would not."""
    if not isinstance(context, dict) or len(context) > 5:
        return "Context must be a map of at most 5 entries"
    for key, value in context.items():
        if not _CONTEXT_KEY.fullmatch(key):
            return "Context key must be 1-100 characters without whitespace"
        if not (isinstance(value, str) and _CONTEXT_VALUE.fullmatch(value)):
            return "Context value must be 1-800 characters, without whitespace at either end"
    return None


class ApiError(Exception):
    def __init__(self, status: int, shape: str, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"__type": shape, "Message": message, **fields}


def _invalid(field: str, reason: str, message: str) -> ApiError:
    return ApiError(400, "ValidationException", message, Reason=reason, Fields=[{"Name": field, "Message": message}])


class EumStandIn(HttpStandIn):
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.messages: list[dict[str, Any]] = []
        self.opted_out: dict[str, set[str]] = {}  # opt-out list name -> numbers
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def _opted_out(self, number: str) -> bool:
        with self._lock:
            return number.endswith("9999") or any(number in numbers for numbers in self.opted_out.values())

    def handle(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if operation == "PutOptedOutNumber":
            name, number = str(request.get("OptOutListName") or "Default"), str(request.get("OptedOutNumber") or "")
            with self._lock:
                self.opted_out.setdefault(name, set()).add(number)
            return {"OptOutListName": name, "OptedOutNumber": number, "EndUserOptedOut": False}
        if operation not in SENDS:
            raise ApiError(400, "UnknownOperationException", f"unknown operation {operation}")
        number = str(request.get("DestinationPhoneNumber") or "")
        origination = str(request.get("OriginationIdentity") or "")
        if not number:
            raise _invalid("DestinationPhoneNumber", "MISSING_PARAMETER", "DestinationPhoneNumber is required")
        if operation == "SendVoiceMessage" and not origination:
            raise _invalid("OriginationIdentity", "MISSING_PARAMETER", "OriginationIdentity is required")
        if request.get("MessageBodyTextType", "TEXT") not in ("TEXT", "SSML"):
            raise _invalid("MessageBodyTextType", "INVALID_PARAMETER", "MessageBodyTextType must be TEXT or SSML")
        problem = context_problem(request.get("Context") or {})
        if problem is not None:
            raise _invalid("Context", "INVALID_PARAMETER", problem)
        if origination.startswith("unknown"):
            raise ApiError(
                400,
                "ResourceNotFoundException",
                "Origination identity not found",
                ResourceType="phone-number",
                ResourceId=origination,
            )
        if not _E164.match(number) or number.endswith("0000"):
            raise _invalid("DestinationPhoneNumber", "INVALID_PARAMETER", "Invalid destination phone number")
        if number.endswith("4290"):
            raise ApiError(400, "ThrottlingException", "Rate exceeded")
        if self._opted_out(number):
            raise ApiError(
                400,
                "ConflictException",
                "The destination phone number is opted out",
                Reason="DESTINATION_PHONE_NUMBER_OPTED_OUT",
                ResourceType="opted-out-number",
                ResourceId=number,
            )
        message_id = str(uuid.uuid4())
        with self._lock:
            self.messages.append({"operation": operation, "messageId": message_id, **request})
        return {"MessageId": message_id}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests read the recorded messages instead

            def _reply(self, status: int, body: Any, content_type: str = CONTENT_TYPE) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/messages":
                    with standin._lock:
                        self._reply(200, {"messages": list(standin.messages)}, "application/json")
                else:
                    self._reply(404, {"error": "not found"}, "application/json")

            def do_DELETE(self) -> None:
                standin.clear()
                self._reply(200, {}, "application/json")

            def do_POST(self) -> None:
                target = self.headers.get("X-Amz-Target", "")
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    if not target.startswith(TARGET_PREFIX):
                        raise ApiError(400, "UnknownOperationException", "missing or foreign X-Amz-Target")
                    try:
                        request = json.loads(raw or b"{}")
                    except ValueError as exc:
                        raise ApiError(400, "SerializationException", "body is not JSON") from exc
                    self._reply(200, standin.handle(target[len(TARGET_PREFIX) :], request))
                except ApiError as exc:
                    self._reply(exc.status, exc.body)

        return Handler


def main() -> None:
    standin_main(__doc__, 8092, EumStandIn, lambda standin: f"End User Messaging stand-in on {standin.url}")


if __name__ == "__main__":
    main()
