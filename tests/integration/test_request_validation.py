"""Every rule of the request body: a 400 in the seed's shape naming the field, and nothing sent."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiCall, Servers

VALID: dict[str, Any] = {"channels": ["email"], "recipients": ["u1"], "messageTitle": "t", "messageContent": "c"}


def _with(**changes: Any) -> dict[str, Any]:
    body = {**VALID, **changes}
    return {key: value for key, value in body.items() if value is not ...}


CASES = [
    ("no channels", _with(channels=...), "channels: Field required"),
    ("empty channels", _with(channels=[]), "channels: List should have at least 1 item"),
    ("unknown channel", _with(channels=["fax"]), "channels[0]: Input should be 'email', 'sms', 'push' or 'voice'"),
    ("repeated channel", _with(channels=["email", "email"]), "channels: must not repeat a channel"),
    ("no audience", _with(recipients=...), "recipients or clusters is required"),
    ("empty audience", _with(recipients=[], clusters=[]), "recipients or clusters is required"),
    ("operator as recipient", _with(recipients=[{"$ne": None}]), "recipients[0]: Input should be a valid string"),
    ("number as recipient", _with(recipients=[7]), "recipients[0]: Input should be a valid string"),
    ("empty recipient", _with(recipients=[""]), "recipients[0]: String should have at least 1 character"),
    (
        "operator as cluster",
        _with(recipients=..., clusters=[{"$gt": ""}]),
        "clusters[0]: Input should be a valid string",
    ),
    ("recipients not a list", _with(recipients="u1"), "recipients: Input should be a valid list"),
    ("no title", _with(messageTitle=...), "messageTitle is required without templateId"),
    ("no content", _with(messageContent=...), "messageContent is required without templateId"),
    ("malformed templateId", _with(templateId="not-an-id"), "templateId: String should match pattern"),
    ("operator as templateId", _with(templateId={"$ne": None}), "templateId: Input should be a valid string"),
    ("data not an object", _with(data=["x"]), "data: Input should be a valid dictionary"),
    ("attachments not names", _with(emailAttachments=[1]), "emailAttachments[0]: Input should be a valid string"),
    ("invalid sender", _with(emailSender="not an address"), "emailSender: value is not a valid email address"),
    (
        "non-ASCII local part in sender",
        _with(emailSender="jürgen@example.com"),
        "emailSender: value is not a valid email address: it cannot be sent as 7-bit (non-ASCII local part)",
    ),
    (
        "header injection in sender",
        _with(emailSender="a@example.com\r\nBcc: x@example.com"),
        "emailSender: value is not a valid email address",
    ),
    (
        "too many copies",
        _with(emailCarbonCopies=[f"c{i}@example.com" for i in range(50)]),
        "emailCarbonCopies: List should have at most 49 items",
    ),
    (
        "too many copies together",
        _with(
            emailCarbonCopies=[f"c{i}@example.com" for i in range(25)],
            emailBlindCarbonCopies=[f"b{i}@example.com" for i in range(25)],
        ),
        "hold at most 49 addresses together",
    ),
    ("unknown field", _with(priority="high"), "priority: Extra inputs are not permitted"),
    (
        "too many recipients",
        _with(recipients=[f"u{i}" for i in range(10_001)]),
        "recipients: List should have at most 10000 items",
    ),
    (
        "too many clusters",
        _with(recipients=..., clusters=[f"c{i}" for i in range(101)]),
        "clusters: List should have at most 100 items",
    ),
    (
        "too many attachments",
        _with(emailAttachments=[f"f{i}" for i in range(11)]),
        "emailAttachments: List should have at most 10 items",
    ),
    ("title too long", _with(messageTitle="t" * 1001), "messageTitle: String should have at most 1000 characters"),
    (
        "data too deep",
        _with(data={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {"k": 1}}}}}}}}}}}),
        "data: nests deeper than 10 levels",
    ),
    ("data too large", _with(data={"blob": "x" * 70_000}), "data: is larger than 65536 bytes as JSON"),
    ("inactive channel", _with(channels=["email", "carrier-pigeon"]), "channels[1]"),
]


@pytest.mark.parametrize(("body", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_invalid_body_is_a_400_naming_the_field(
    api: ApiCall, servers: Servers, body: dict[str, Any], expected: str
) -> None:
    status, answer = api(body)

    assert status == 400
    assert answer["statusCode"] == "400"
    assert answer["error"] == "Bad Request"
    assert expected in answer["message"]
    assert set(answer) == {"statusCode", "error", "message"}
    assert servers.outbox.emails() == []


@pytest.mark.parametrize("raw", ["{not json", "[]", "null", ""], ids=["malformed", "array", "null", "empty"])
def test_a_body_that_is_not_a_json_object_is_a_400(api: ApiCall, raw: str) -> None:
    status, answer = api(raw=raw)
    assert status == 400
    assert answer["statusCode"] == "400"
    assert answer["message"].startswith("body: ")


def test_a_body_over_one_megabyte_is_refused_unread(api: ApiCall, servers: Servers) -> None:
    status, answer = api(raw='{"channels": ["email"], "data": {"x": "' + "x" * (1024 * 1024) + '"}}')
    assert (status, answer["statusCode"], answer["error"]) == (413, "413", "Payload Too Large")
    assert answer["message"] == "body: larger than 1048576 bytes"


def test_channel_outside_active_channels_is_refused(
    api: ApiCall, functions: Any, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    from messaging.models.config import ServiceConfig

    settings = functions["send"].parts.settings
    email_only = ServiceConfig(activeChannels=["email"], sender=settings.service.sender)
    monkeypatch.setattr(functions["send"].parts, "settings", settings.model_copy(update={"service": email_only}))

    status, answer = api(_with(channels=["email", "sms"]))

    assert status == 400
    assert answer["message"] == "channels: sms not in activeChannels (email)"
    assert servers.outbox.emails() == []


def test_invalid_copies_are_dropped_and_valid_ones_kept(api: ApiCall, servers: Servers) -> None:
    status, answer = api(
        _with(
            emailCarbonCopies=["boss@example.com", "nope", "x@y\r\nBcc: evil@example.com"],
            emailBlindCarbonCopies=["audit@example.com", "@example.com"],
        )
    )

    assert (status, answer) == (200, {"failures": []})
    [email] = servers.outbox.emails()
    assert email["destinations"] == {
        "ToAddresses": ["ann@example.com"],
        "CcAddresses": ["boss@example.com"],
        "BccAddresses": ["audit@example.com"],
    }


def test_attachments_without_a_file_service_are_refused(
    api: ApiCall, servers: Servers, functions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from messaging.service import no_file_service

    monkeypatch.setattr(functions["send"].parts, "stage", no_file_service)
    status, answer = api(_with(emailAttachments=["report.pdf"]))
    assert status == 400
    assert answer["message"] == "emailAttachments: no File Service is configured (FILE_SERVICE_URL)"
    assert servers.outbox.emails() == []
