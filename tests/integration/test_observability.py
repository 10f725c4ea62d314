"""What an operator sees of one request: correlated JSON log lines across the four functions,
EMF metrics with known values, and no personal data anywhere in the output."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from tests.conftest import ApiCall

REQUEST = {
    "channels": ["email", "sms", "push"],
    "recipients": ["u1", "u3", "ghost"],
    "clusters": ["patients"],
    "messageTitle": "Visit for {{user.name}}",
    "messageContent": "Hello {{user.name}}, see you on {{data.day}}",
    "data": {"day": "Monday"},
}


@pytest.fixture
def logs() -> Any:
    """Everything the shared Powertools Logger writes during the test."""
    from messaging.observability import logger

    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


def emf_values(lines: list[dict[str, Any]]) -> dict[tuple[str, tuple[tuple[str, str], ...]], list[float]]:
    """(metric name, its dimensions) -> every value published in the captured EMF blobs."""
    values: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
    for blob in (line for line in lines if "_aws" in line):
        directive = blob["_aws"]["CloudWatchMetrics"][0]
        assert blob["service"] == "messaging"  # every alarm's metric carries the service dimension
        dimensions = tuple(sorted((name, blob[name]) for name in directive["Dimensions"][0] if name != "service"))
        for metric in directive["Metrics"]:
            value = blob[metric["Name"]]
            values.setdefault((metric["Name"], dimensions), []).extend(value if isinstance(value, list) else [value])
    return values


def test_one_correlation_id_joins_the_request_across_all_four_functions(api: ApiCall, logs: io.StringIO) -> None:
    status, _ = api(REQUEST, headers={"X-Correlation-Id": "support-ticket-4711"})

    assert status == 200
    assert api.last["multiValueHeaders"]["X-Correlation-Id"] == ["support-ticket-4711"]
    lines = json_lines(logs.getvalue())
    messages = {line["message"] for line in lines if line.get("correlation_id") == "support-ticket-4711"}
    assert {"send finished", "email batch sent", "sms batch sent", "push batch sent"} <= messages


@pytest.mark.parametrize("given", [None, "bad id\nwith a line break", "x" * 200], ids=["absent", "unsafe", "long"])
def test_without_a_usable_header_the_api_request_id_is_the_correlation_id(api: ApiCall, given: str | None) -> None:
    status, _ = api({**REQUEST, "channels": ["sms"]}, headers={"X-Correlation-Id": given} if given else None)

    assert status == 200
    assert api.last["multiValueHeaders"]["X-Correlation-Id"] == ["c6af9ac6-7b61-11e6-9a41-93e8deadbeef"]


def test_requests_sharing_a_request_id_without_api_gateways_extended_id_get_their_own_correlation_ids(
    api: ApiCall, logs: io.StringIO
) -> None:
    """`sam local start-api` hands every request of a run the same requestId and no extendedRequestId:
    each request still gets its own correlation id, in its answer and its log lines."""
    local = {"requestContext": {"requestId": "0f9d4c2e-sam-local-one-id", "extendedRequestId": None}}
    answered = []
    for _ in range(2):
        status, _ = api({**REQUEST, "channels": ["sms"]}, event=local)
        assert status == 200
        answered.extend(api.last["multiValueHeaders"]["X-Correlation-Id"])

    assert len(set(answered)) == 2
    assert "0f9d4c2e-sam-local-one-id" not in answered
    finished = [line["correlation_id"] for line in json_lines(logs.getvalue()) if line["message"] == "send finished"]
    assert finished == answered
    batches = {line["correlation_id"] for line in json_lines(logs.getvalue()) if line["message"] == "sms batch sent"}
    assert batches == set(answered)


def test_every_answer_is_logged_once_with_its_status_and_send_id(api: ApiCall, logs: io.StringIO) -> None:
    status, _ = api({**REQUEST, "channels": ["sms"]})
    assert status == 200
    send_id = api.last["multiValueHeaders"]["X-Send-Id"][0]
    status, _ = api({**REQUEST, "channels": ["fax"]})
    assert status == 400

    answered = [line for line in json_lines(logs.getvalue()) if line["message"] == "answered"]
    assert [(line["statusCode"], line.get("sendId")) for line in answered] == [(200, send_id), (400, None)]


def test_metrics_count_what_happened_per_channel(api: ApiCall, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    status, body = api(REQUEST)
    assert status == 200
    # Audience: Ann (u1), Carl (u3), Bob and Dora (patients); "ghost" is unknown.
    assert sorted((f["userId"], f["channel"]) for f in body["failures"]) == [
        ("ghost", "email"),
        ("ghost", "push"),
        ("ghost", "sms"),
        ("u3", "push"),
    ]

    values = emf_values(json_lines(capsys.readouterr().out))

    def metric(name: str, **dimensions: str) -> list[float]:
        return values.get((name, tuple(sorted(dimensions.items()))), [])

    assert metric("Audience") == [4]
    assert metric("UsersNotFound") == [1]
    assert [metric("MessagesSent", channel=c) for c in ("email", "sms", "push")] == [[2], [2], [1]]
    assert [metric("MessagesSkipped", channel=c) for c in ("email", "sms", "push")] == [[2], [2], [2]]
    assert [metric("Batches", channel=c) for c in ("email", "sms", "push")] == [[1], [1], [1]]
    assert [metric("MessagesFailed", channel=c) for c in ("email", "sms", "push")] == [[1], [1], [2]]
    assert metric("MessagesFailedByReason", channel="push", reason="UNREGISTERED") == [1]
    assert metric("MessagesFailedByReason", channel="sms", reason="UserNotFound") == [1]
    assert len(metric("ProviderLatency", channel="email")) == 2
    assert metric("ProviderRejected", channel="push") == [1]
    assert metric("ProviderAccepted", channel="sms") == [2]


def test_a_refused_request_is_counted(api: ApiCall, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    status, _ = api({"channels": ["fax"]})
    assert status == 400
    assert emf_values(json_lines(capsys.readouterr().out))[("RequestsRefused", ())] == [1]


def test_logs_carry_no_addresses_numbers_tokens_or_texts(
    api: ApiCall, logs: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import USERS

    capsys.readouterr()
    status, _ = api(REQUEST)
    assert status == 200

    captured = capsys.readouterr()
    output = logs.getvalue() + captured.out + captured.err
    personal = [
        str(user[field]) for user in USERS for field in ("emailAddress", "phoneNumber", "deviceToken") if field in user
    ]
    texts = ["Visit for Ann", "Hello Ann, see you on Monday", "Monday"]
    assert [value for value in personal + texts if value in output] == []
    assert "batch sent" in output  # the logs were captured at all
