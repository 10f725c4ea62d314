"""Idempotency-Key: a retry answers the first response and sends nothing again (DynamoDB on moto)."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from tests.conftest import FUNCTION_NAMES, IDEMPOTENCY_TABLE, ApiCall, Servers
from tests.lambda_runtime import InProcessInvoker

BODY = {"channels": ["email", "sms"], "recipients": ["u1", "ghost"], "messageTitle": "t", "messageContent": "c"}


def test_a_retry_with_the_same_key_returns_the_first_answer_and_sends_nothing(api: ApiCall, servers: Servers) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}

    first = api(BODY, headers=key)
    second = api(BODY, headers={"idempotency-key": key["Idempotency-Key"]})  # header names are case-blind

    assert first == second
    assert first[0] == 200
    assert len(first[1]["failures"]) == 2
    assert len(servers.outbox.emails()) == 1
    assert len(servers.outbox.sms()) == 1


def test_the_same_key_with_another_body_is_a_409(api: ApiCall, servers: Servers) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    assert api(BODY, headers=key)[0] == 200

    status, body = api({**BODY, "messageContent": "changed"}, headers=key)

    assert (status, body["statusCode"], body["error"]) == (409, "409", "Conflict")
    assert body["message"] == "Idempotency-Key: already used with a different body"
    assert len(servers.outbox.emails()) == 1


def test_a_key_whose_first_request_is_still_running_is_a_409(
    api: ApiCall, servers: Servers, invoker: InProcessInvoker
) -> None:
    email = invoker.handlers[FUNCTION_NAMES["email"]]

    def slow_email(event: dict[str, Any], context: Any) -> dict[str, Any]:
        time.sleep(1.0)
        return email(event, context)

    invoker.handlers[FUNCTION_NAMES["email"]] = slow_email
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first: list[tuple[int, dict[str, Any]]] = []
    running = threading.Thread(target=lambda: first.append(api(BODY, headers=key)))
    running.start()
    time.sleep(0.4)

    status, body = api(BODY, headers=key)
    running.join()

    assert (status, body["message"]) == (409, "Idempotency-Key: a request with this key is still in progress")
    assert first[0][0] == 200
    assert len(servers.outbox.emails()) == 1


def test_a_refused_request_is_not_kept_so_its_retry_runs(api: ApiCall, servers: Servers) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    assert api({**BODY, "channels": ["fax"]}, headers=key)[0] == 400
    # A corrected body under the same key is a new attempt, not a replay of the 400.
    status, _ = api(BODY, headers=key)
    assert status == 200
    assert len(servers.outbox.emails()) == 1


def test_an_answer_over_dynamodbs_item_limit_is_replayed_whole_and_nothing_is_resent(
    api: ApiCall, servers: Servers
) -> None:
    # ~12,000 failures: an answer of ~0.7 MB, past DynamoDB's 400 KB item limit.
    ghosts = [f"ghost-{n:05d}-{uuid.uuid4().hex[:12]}" for n in range(4_000)]
    body = {**BODY, "channels": ["email", "sms", "push"], "recipients": ["u1", *ghosts]}
    key = {"Idempotency-Key": str(uuid.uuid4())}

    first = api(body, headers=key)
    second = api(body, headers=key)

    assert first[0] == 200
    assert len(api.last["body"]) > 400 * 1024
    assert len(first[1]["failures"]) == 12_000
    assert second == first
    assert len(servers.outbox.emails()) == 1
    assert len(servers.outbox.sms()) == 1


def test_a_large_answer_that_s3_cannot_keep_is_answered_and_its_retry_sends_nothing(
    api: ApiCall, servers: Servers, functions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from messaging.idempotency import AnswerStore, Idempotency

    # The attachments bucket is gone (or S3 is down) when the sent request's large answer is kept.
    monkeypatch.setattr(
        functions["send"], "idempotency", Idempotency(IDEMPOTENCY_TABLE, AnswerStore(boto3.client("s3"), "no-bucket"))
    )
    ghosts = [f"ghost-{n:05d}-{uuid.uuid4().hex[:12]}" for n in range(4_000)]
    body = {**BODY, "channels": ["email", "sms", "push"], "recipients": ["u1", *ghosts]}
    key = {"Idempotency-Key": str(uuid.uuid4())}

    first = api(body, headers=key)
    second = api(body, headers=key)

    assert first[0] == 200
    assert len(first[1]["failures"]) == 12_000
    assert (second[0], second[1]["error"]) == (409, "Conflict")
    assert "could not be kept; do not send it again" in second[1]["message"]
    assert len(servers.outbox.emails()) == 1
    assert len(servers.outbox.sms()) == 1


def test_an_unreachable_idempotency_table_is_a_503_and_nothing_is_sent(
    api: ApiCall, servers: Servers, functions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from local.servers import free_port
    from messaging.idempotency import Idempotency

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(functions["send"], "idempotency", Idempotency(IDEMPOTENCY_TABLE))

    status, body = api(BODY, headers={"Idempotency-Key": str(uuid.uuid4())})

    assert (status, body["statusCode"], body["error"]) == (503, "503", "Service Unavailable")
    assert body["message"] == "Idempotency-Key: the idempotency store is unreachable; nothing was sent"
    assert servers.outbox.emails() == []
    assert servers.outbox.sms() == []


def test_two_callers_keys_never_collide(api: ApiCall, servers: Servers) -> None:
    key = str(uuid.uuid4())

    def as_caller(arn: str, content: str) -> tuple[int, dict[str, Any]]:
        event_identity = {"requestContext": {"identity": {"userArn": arn}}}
        return api({**BODY, "messageContent": content}, headers={"Idempotency-Key": key}, event=event_identity)

    first = as_caller("arn:aws:iam::111111111111:user/alice", "from alice")
    other = as_caller("arn:aws:iam::222222222222:user/bob", "from bob")
    replay = as_caller("arn:aws:iam::111111111111:user/alice", "from alice")

    assert (first[0], other[0], replay) == (200, 200, first)
    assert sorted(email["body"] for email in servers.outbox.emails()) == ["from alice", "from bob"]
