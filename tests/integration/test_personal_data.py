"""No address, number, token or message text in traces or stored records (issue 11, item 16):
provider reasons are masked where a failure is made, and handler answers and errors stay out of
X-Ray metadata."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.conftest import ATTACHMENTS_BUCKET, IDEMPOTENCY_TABLE, USERS, ApiCall, Servers
from tests.lambda_runtime import LambdaContext

# An unverified sender: SES (moto) refuses each e-mail naming the address; Carl's push token is
# unregistered; "ghost" does not exist.
REQUEST = {
    "channels": ["email", "sms", "push"],
    "recipients": ["u1", "u3", "ghost"],
    "messageTitle": "Private title for {{user.name}}",
    "messageContent": "Private text for {{user.name}}",
    "emailSender": "someone@unverified-domain.org",
}


def _personal() -> list[str]:
    values = [
        str(user[field]) for user in USERS for field in ("emailAddress", "phoneNumber", "deviceToken") if field in user
    ]
    return [*values, "someone@unverified-domain.org", "Private title", "Private text"]


class _Recorder:
    """Stands in for the X-Ray subsegment (no X-Ray daemon here): keeps what would be sent."""

    def __init__(self) -> None:
        self.recorded: list[Any] = []

    def put_metadata(self, key: str, value: Any, namespace: str = "") -> None:
        self.recorded.append((key, value))

    def put_annotation(self, key: str, value: Any) -> None:
        self.recorded.append((key, value))

    def add_exception(self, *args: Any, **kwargs: Any) -> None:
        self.recorded.append(args)


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    from messaging.observability import tracer

    recorder = _Recorder()

    @contextmanager
    def in_subsegment(name: str | None = None, **kwargs: Any) -> Iterator[_Recorder]:
        yield recorder

    monkeypatch.setattr(tracer.provider, "in_subsegment", in_subsegment)
    monkeypatch.setattr(tracer.provider, "put_metadata", recorder.put_metadata)
    monkeypatch.setattr(tracer.provider, "put_annotation", recorder.put_annotation)
    return recorder


def test_failures_traces_and_idempotency_records_hold_no_personal_data(
    api: ApiCall, servers: Servers, traces: _Recorder, functions: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    # SES's own refusal naming the sender, as when its identity is revoked after SendFunction checked
    # it (an unverified sender is refused at acceptance: tests/integration/test_sender_identity.py).
    monkeypatch.setattr(functions["send"].parts, "identities", None)
    status, answer = api(REQUEST, headers={"Idempotency-Key": str(uuid.uuid4())})

    assert status == 200
    reasons = {(f["userId"], f["channel"]): f["error"] for f in answer["failures"]}
    # The provider's own words stay, the address they named is masked.
    assert reasons[("u1", "email")].startswith("MessageRejected: ")
    assert "<address>" in reasons[("u1", "email")]
    assert reasons[("u3", "push")].startswith("UNREGISTERED")
    assert traces.recorded  # the handlers did trace

    records = boto3.client("dynamodb").scan(TableName=IDEMPOTENCY_TABLE)["Items"]
    answers = [
        boto3.client("s3").get_object(Bucket=ATTACHMENTS_BUCKET, Key=item["Key"])["Body"].read().decode()
        for item in boto3.client("s3").list_objects_v2(Bucket=ATTACHMENTS_BUCKET, Prefix="answers/").get("Contents", [])
    ]
    stored = json.dumps(records) + "".join(answers) + repr(traces.recorded) + json.dumps(answer)
    assert [value for value in _personal() if value in stored] == []


def test_a_channel_functions_error_is_neither_traced_nor_quoting_its_input(traces: _Recorder, functions: Any) -> None:
    from messaging.validation import InvalidPayloadError

    # A payload missing its subject: pydantic's own message would quote the message, address included.
    payload = {
        "channel": "email",
        "sender": "noreply@example.com",
        "messages": [{"userId": "u1", "to": "ann@example.com"}],
    }
    with pytest.raises(InvalidPayloadError) as raised:
        functions["email"].lambda_handler(payload, LambdaContext())

    assert str(raised.value) == "invalid EmailBatch: messages[0].subject: Field required"
    assert traces.recorded  # the handler was traced
    assert [value for value in _personal() if value in repr(traces.recorded)] == []
