"""What the asynchronous-send tests share: the request, the crowd of users, the API and dispatcher
as one client (Async), and the checks of exactly-once delivery and counts that add up."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable
from types import ModuleType
from typing import Any

from messaging.sends.states import DETAILS
from tests.conftest import ApiCall, Servers, get_event
from tests.integration.test_observability import emf_values, json_lines
from tests.lambda_runtime import EventQueue, LambdaContext, SandboxCrash

# The delivery and skip-reason counts, none of which these sends move.
NO_DETAILS = {**dict.fromkeys(DETAILS, 0), "cancelled": 0}  # and nothing cancelled


CROWD = 1_200  # users in the "crowd" cluster: 3 segments of 500 at most


ASYNC = {"Prefer": "respond-async"}


BODY = {
    "channels": ["email", "sms", "push"],
    "clusters": ["crowd"],
    "recipients": ["u1", "ghost-1", "ghost-2"],
    "messageTitle": "Hi {{user.name}}",
    "messageContent": "Hello {{user.name}}",
}


def _crowd(n: int) -> list[dict[str, Any]]:
    users = []
    for i in range(n):
        user: dict[str, Any] = {"_id": f"c{i:05d}", "name": f"C{i}", "clusters": ["crowd"]}
        if i % 4 != 3:
            user["emailAddress"] = f"c{i}@example.com"
        if i % 2 == 0:
            user["phoneNumber"] = f"+3934{i:08d}"
        if i % 10 == 0:
            user["deviceToken"] = f"tok-c{i}"
        users.append(user)
    return users


class Async:
    """POST /send with Prefer, the dispatcher's queue, and the two GET routes."""

    def __init__(self, api: ApiCall, send: ModuleType, dispatch: ModuleType, queue: EventQueue) -> None:
        self.api = api
        self.send = send
        self.dispatch = dispatch
        self.queue = queue

    def post(self, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        return self.api(body if body is not None else BODY, headers={**ASYNC, **(headers or {})})

    def get(
        self,
        path: str,
        query: dict[str, str] | None = None,
        caller: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        event = get_event(path, query, headers)
        if caller:
            event["requestContext"]["identity"]["userArn"] = caller
        answer = self.send.lambda_handler(event, LambdaContext())
        return answer["statusCode"], json.loads(answer["body"])

    def status(self, send_id: str) -> dict[str, Any]:
        code, body = self.get(f"/sends/{send_id}")
        assert code == 200, body
        return dict(body)

    def failures(self, send_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        everything: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query = {"limit": str(limit), **({"nextToken": token} if token else {})}
            code, body = self.get(f"/sends/{send_id}/failures", query)
            assert code == 200, body
            everything += body["failures"]
            token = body["nextToken"]
            if token is None:
                return everything

    def drain(self, **kwargs: Any) -> int:
        return self.queue.drain(self.dispatch.lambda_handler, on_failure=self.dispatch.lambda_handler, **kwargs)


def _expected(users: list[dict[str, Any]]) -> dict[str, set[str]]:
    return {
        "email": {u["emailAddress"] for u in users if "emailAddress" in u},
        "sms": {u["phoneNumber"] for u in users if "phoneNumber" in u},
        "push": {u["deviceToken"] for u in users if "deviceToken" in u},
    }


def _assert_exactly_once(servers: Servers, users: list[dict[str, Any]]) -> None:
    expected = _expected(users)
    emails = Counter(e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails())
    sms = Counter(s["phone_number"] for s in servers.outbox.sms())
    pushes = Counter(m["message"]["token"] for m in servers.fcm.messages)
    assert set(emails) == expected["email"]
    assert max(emails.values()) == 1
    assert set(sms) == expected["sms"]
    assert max(sms.values()) == 1
    assert set(pushes) == expected["push"]
    assert max(pushes.values()) == 1


def _core(counts: dict[str, int]) -> dict[str, int]:
    """The counts that add up to the audience (skipped's and sent's parts, by reason, aside)."""
    return {name: counts[name] for name in ("sent", "failed", "skipped", "pending") if name in counts}


def _assert_counts_add_up(status: dict[str, Any]) -> None:
    for counts in status["channels"].values():
        assert counts["sent"] + counts["failed"] + counts["skipped"] + counts["pending"] == (
            status["audience"] + status["notFound"]
        )


def _metric_sums(out: str) -> dict[tuple[str, str], float]:
    """(metric, channel or "") -> the sum of every value the functions published (EMF on stdout)."""
    sums: dict[tuple[str, str], float] = {}
    for (name, dimensions), values in emf_values(json_lines(out)).items():
        channel = dict(dimensions).get("channel", "")
        if set(dict(dimensions)) <= {"channel"}:
            sums[(name, channel)] = sums.get((name, channel), 0) + sum(values)
    return sums


class Calls:
    """Numbers calls made from several threads, each exactly once."""

    def __init__(self) -> None:
        self._count = itertools.count(1)

    def next(self) -> int:
        return next(self._count)  # atomic under the GIL


def _crash_once_at(count: int, target: Callable[..., Any]) -> Callable[..., Any]:
    calls = Calls()

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if calls.next() == count:
            raise SandboxCrash(f"killed at call {count}")
        return target(*args, **kwargs)

    return wrapped


def _debug_errors(run: Async) -> None:
    for error in run.queue.errors:
        print("QUEUE ERROR", repr(error))


class _RepeatedWrites:
    """A DynamoDB client whose every put is sent twice, as botocore does when an answer is lost."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **kwargs: Any) -> Any:
        self._client.put_item(**kwargs)
        return self._client.put_item(**kwargs)


# A small send to the seeded "patients" cluster: Ann (u1) and Bob (u2) have addresses, Dora (u4) none.
PATIENTS = {"channels": ["email"], "clusters": ["patients"], "messageTitle": "t", "messageContent": "Hi {{user.name}}"}


def _gave_up_record(event: dict[str, Any]) -> dict[str, Any]:
    """The SQS record Lambda writes to DispatchFunction's on-failure destination."""
    body = {
        "requestContext": {"condition": "RetriesExhausted"},
        "requestPayload": event,
        "responsePayload": {"errorType": "RuntimeError", "errorMessage": "x"},
    }
    return {"Records": [{"body": json.dumps(body)}]}


def _emails(servers: Servers) -> Counter[str]:
    return Counter(e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails())
