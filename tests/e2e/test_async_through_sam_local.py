"""`Prefer: respond-async` through sam local: SendFunction answers 202 and invokes DispatchFunction
with InvocationType=Event on start-lambda; the dispatchers plan, segment and dispatch 50,000 users
to the channel functions; the status resource shows progress until `completed`."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient

from messaging.sends.states import DETAILS
from tests.e2e.conftest import PORTS, Stack

USERS = 50_000
CLUSTER = "e2e-async-50k"

# The counts' parts by reason (skips) and by delivery event, none of which these sends move.
NO_DETAILS = {**dict.fromkeys(DETAILS, 0), "cancelled": 0}  # and nothing cancelled


@pytest.fixture
def big_cluster(e2e: Stack) -> Iterator[list[dict[str, Any]]]:
    """50,000 users seeded straight into SecantusDB (one in ten without an e-mail address)."""
    client: MongoClient[dict[str, Any]] = MongoClient(f"mongodb://127.0.0.1:{PORTS['mongo']}/?directConnection=true")
    users_collection = client["messaging"]["users"]
    run = uuid.uuid4().hex[:6]
    users = [
        {
            "_id": f"a{run}-{i:06d}",
            "name": f"User {i}",
            "clusters": [CLUSTER],
            **({"emailAddress": f"a{run}-{i}@example.com"} if i % 10 else {}),
        }
        for i in range(USERS)
    ]
    for start in range(0, USERS, 5_000):
        users_collection.insert_many([dict(user) for user in users[start : start + 5_000]])
    try:
        yield users
    finally:
        users_collection.delete_many({"clusters": CLUSTER})
        client.close()


def test_a_50000_user_cluster_sent_asynchronously_completes_with_every_user_once(
    e2e: Stack, big_cluster: list[dict[str, Any]]
) -> None:
    status, body = e2e.post(
        {"channels": ["email"], "clusters": [CLUSTER], "messageTitle": "Hi {{user.name}}", "messageContent": "News"},
        headers={"Prefer": "respond-async"},
    )

    assert status == 202, body
    send_id = body["sendId"]
    assert body == {"sendId": send_id, "status": "accepted"}
    headers = {name.lower(): value for name, value in e2e.last_headers.items()}
    assert headers["location"] == f"/sends/{send_id}"
    assert headers["preference-applied"] == "respond-async"

    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 1_200
    while time.monotonic() < deadline:
        code, state = e2e.get(f"/sends/{send_id}")
        assert code == 200, state
        email = state["channels"]["email"]
        # Every user in exactly one state, at every moment.
        assert email["sent"] + email["failed"] + email["skipped"] + email["pending"] == (
            state["audience"] + state["notFound"]
        )
        seen.append(state)
        if state["status"] in ("completed", "failed"):
            break
        time.sleep(2)

    final = seen[-1]
    assert final["status"] == "completed", final
    assert (final["audience"], final["notFound"]) == (USERS, 0)
    with_address = {user["emailAddress"] for user in big_cluster if "emailAddress" in user}
    # Nobody opted out, no token is stale, no delivery event was fed in: every part of the counts is 0.
    assert final["channels"]["email"] == {
        "sent": len(with_address),
        "failed": 0,
        "skipped": USERS - len(with_address),
        "pending": 0,
        **NO_DETAILS,
        "noAddress": USERS - len(with_address),  # every skip is a user without an e-mail address
    }
    # Progress was visible on the way: some poll saw part of the audience sent.
    assert any(0 < s["channels"]["email"]["sent"] < len(with_address) for s in seen if s["status"] == "running")
    code, failures = e2e.get(f"/sends/{send_id}/failures?limit=100")
    assert (code, failures) == (200, {"failures": [], "nextToken": None})
    # moto recorded each e-mail exactly once.
    sent = Counter(e["destinations"]["ToAddresses"][0] for e in e2e.outbox.emails())
    assert set(sent) == with_address
    assert max(sent.values()) == 1


def test_an_unknown_send_is_a_404_in_the_error_shape(e2e: Stack) -> None:
    code, body = e2e.get(f"/sends/{uuid.uuid4().hex}")
    assert (code, body["statusCode"], body["error"]) == (404, "404", "Not Found")


def test_pushes_the_fcm_stand_in_throttles_are_retried_by_the_dispatcher_and_arrive_once(e2e: Stack) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(f"mongodb://127.0.0.1:{PORTS['mongo']}/?directConnection=true")
    users_collection = client["messaging"]["users"]
    run = uuid.uuid4().hex[:6]
    cluster = f"e2e-quota-{run}"
    # 429 QUOTA_EXCEEDED for each token's first 4 attempts: more than PushFunction's own 3.
    tokens = {f"throttled-4-{run}-{i}" for i in range(20)}
    users_collection.insert_many(
        [{"_id": f"q{run}-{i}", "deviceToken": f"throttled-4-{run}-{i}", "clusters": [cluster]} for i in range(20)]
    )
    try:
        status, body = e2e.post(
            {"channels": ["push"], "clusters": [cluster], "messageTitle": "t", "messageContent": "c"},
            headers={"Prefer": "respond-async"},
        )
        assert status == 202, body
        deadline = time.monotonic() + 300
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = e2e.get(f"/sends/{body['sendId']}")[1]
            if state["status"] in ("completed", "failed"):
                break
            time.sleep(1)
        assert state["status"] == "completed", state
        assert state["channels"]["push"] == {"sent": 20, "failed": 0, "skipped": 0, "pending": 0, **NO_DETAILS}
        delivered = Counter(p["message"]["token"] for p in e2e.pushes() if p["message"]["token"] in tokens)
        assert set(delivered) == tokens
        assert max(delivered.values()) == 1
    finally:
        users_collection.delete_many({"clusters": cluster})
        client.close()
