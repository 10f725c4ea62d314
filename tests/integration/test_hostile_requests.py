"""Bodies and user documents that once crashed, slipped past a limit or leaked data (issue 11):
each is refused with a 400/413 naming the cause, or handled so every requested user ends in
exactly one state per channel."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.conftest import EVE_ID, ApiCall, Servers

VALID: dict[str, Any] = {"channels": ["email"], "recipients": ["u1"], "messageTitle": "t", "messageContent": "c"}


def test_a_deeply_nested_body_is_a_400_not_a_crash(api: ApiCall, servers: Servers) -> None:
    deep = '{"channels": ["email"], "recipients": ["u1"], "messageTitle": "t", "messageContent": "c", "data": '
    status, answer = api(raw=deep + '{"a": ' * 100_000 + "1" + "}" * 100_001)

    assert (status, answer["error"]) == (400, "Bad Request")
    assert answer["message"] == "body: nests deeper than 32 levels"
    assert servers.outbox.emails() == []


def test_nesting_the_parser_accepts_is_still_refused_naming_the_field(api: ApiCall) -> None:
    status, answer = api({**VALID, "data": {"a": json.loads("[" * 200 + "]" * 200)}})
    assert status == 400
    assert answer["message"].startswith("data.a")
    assert answer["message"].endswith("nests deeper than 32 levels")


def test_the_body_limit_counts_bytes_not_characters(api: ApiCall, servers: Servers) -> None:
    # 500,000 characters of three bytes each: 1.5 MB on the wire.
    status, answer = api(raw=json.dumps({**VALID, "data": {"x": "€" * 500_000}}, ensure_ascii=False))

    assert (status, answer["statusCode"], answer["error"]) == (413, "413", "Payload Too Large")
    assert answer["message"] == "body: larger than 1048576 bytes"
    assert servers.outbox.emails() == []


def test_a_base64_body_is_measured_and_read_decoded(api: ApiCall, servers: Servers, functions: Any) -> None:
    from tests.conftest import api_event
    from tests.lambda_runtime import LambdaContext

    def post(raw: bytes) -> tuple[int, dict[str, Any]]:
        event = api_event(None, raw=base64.b64encode(raw).decode())
        event["isBase64Encoded"] = True
        response = functions["send"].lambda_handler(event, LambdaContext())
        return response["statusCode"], json.loads(response["body"])

    big = json.dumps({**VALID, "data": {"x": "y" * 1_100_000}}).encode()
    assert post(big)[0] == 413
    # 900 KB decoded is within the limit although its base64 text is 1.2 MB.
    within = json.dumps({**VALID, "messageContent": "c" * 90_000, "data": {"x": "y" * 60_000}}).encode()
    within += b" " * (900_000 - len(within))
    assert post(within) == (200, {"failures": []})
    assert len(servers.outbox.emails()) == 1


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"x": NaN}', "data.x: NaN"),
        ('{"x": [1, Infinity]}', "data.x[1]: Infinity"),
        ('{"x": {"y": -Infinity}}', "data.x.y: -Infinity"),
        ('{"x": 1e999}', "data.x: a number too large"),
        # Past 4,300 digits Python's parser raises (a 500); past 308 no double holds it.
        ('{"x": [' + "9" * 5000 + "]}", "data.x[0]: a number too large"),
        ('{"x": -' + "9" * 309 + "}", "data.x: a number too large"),
        ('{"x": ' + "9" * 309 + ".5}", "data.x: a number too large"),
    ],
)
def test_nan_and_infinity_in_the_body_are_a_400_naming_the_field(
    api: ApiCall, servers: Servers, raw: str, field: str
) -> None:
    body = json.dumps(VALID)[:-1] + ', "data": ' + raw + "}"
    status, answer = api(raw=body)

    assert status == 400
    assert answer["message"].startswith(field)
    assert servers.outbox.emails() == []


def test_nan_in_a_user_document_renders_empty_and_blocks_nobody(api: ApiCall, servers: Servers, db: Any) -> None:
    db.users.update_one({"_id": "u2"}, {"$set": {"surname": float("nan"), "born": [float("inf"), 1]}})

    status, answer = api(
        {
            "channels": ["email"],
            "clusters": ["patients"],
            "messageTitle": "t",
            "messageContent": "{{user.name}} [{{user.surname}}] {{#each user.born}}<{{this}}>{{/each}}",
        }
    )

    assert (status, answer) == (200, {"failures": []})
    bodies = {email["destinations"]["ToAddresses"][0]: email["body"] for email in servers.outbox.emails()}
    assert bodies == {"ann@example.com": "Ann [] ", "bob@example.com": "Bob [] <><1>"}


@pytest.mark.parametrize(
    "recipients",
    [[EVE_ID.upper()], [EVE_ID, EVE_ID.upper()], [EVE_ID.upper(), EVE_ID.capitalize(), EVE_ID]],
    ids=["upper", "both", "three-spellings"],
)
def test_any_spelling_of_an_object_id_names_one_user_once(
    api: ApiCall, servers: Servers, recipients: list[str]
) -> None:
    status, answer = api({**VALID, "recipients": recipients})

    assert (status, answer) == (200, {"failures": []})
    assert [email["destinations"]["ToAddresses"] for email in servers.outbox.emails()] == [["eve@example.com"]]


def test_templates_see_only_the_allow_listed_user_fields(api: ApiCall, servers: Servers, db: Any) -> None:
    db.users.update_one({"_id": "u1"}, {"$set": {"passwordHash": "pbkdf2$secret", "notes": {"private": "diagnosis"}}})

    status, answer = api(
        {
            **VALID,
            "emailBlindCarbonCopies": ["attacker@example.com"],
            "messageContent": "{{#each user}}{{@key}}={{this}};{{/each}}|{{user.passwordHash}}|{{user.notes.private}}",
        }
    )

    assert (status, answer) == (200, {"failures": []})
    [email] = servers.outbox.emails()
    body = email["body"]
    assert "secret" not in body
    assert "diagnosis" not in body
    assert "tok-ann" not in body
    # The id, the addresses, the clusters and the listed fields (templateUserFields) only.
    keys = [pair.split("=")[0] for pair in body.split("|")[0].split(";") if pair]
    assert sorted(keys) == ["_id", "clusters", "emailAddress", "name", "phoneNumber"]
    assert body.endswith("||")


def test_one_users_oversize_document_fails_that_user_only(api: ApiCall, servers: Servers, db: Any) -> None:
    # A 2 MB name (or a huge array) in one stored profile: that user's message cannot be rendered
    # within MAX_MESSAGE_BYTES; it was a 400 for the whole cluster.
    db.users.insert_one(
        {"_id": "huge", "name": "N" * 2_000_000, "emailAddress": "huge@example.com", "clusters": ["patients"]}
    )

    status, answer = api(
        {"channels": ["email"], "clusters": ["patients"], "messageTitle": "t", "messageContent": "Hi {{user.name}}"}
    )

    assert status == 200
    assert answer["failures"] == [
        {
            "userId": "huge",
            "channel": "email",
            "error": "messageContent: the user's document could render more than 1048576 bytes",
        }
    ]
    assert sorted(e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails()) == [
        "ann@example.com",
        "bob@example.com",
    ]


def test_an_unknown_field_with_a_huge_name_is_named_briefly(api: ApiCall) -> None:
    status, answer = api({**VALID, "x" * 100_000: 1})

    assert status == 400
    assert answer["message"] == f"{'x' * 200}...: Extra inputs are not permitted"


_PREVIEW_ROUTE = {
    "path": "/send/preview",
    "resource": "/send/preview",
    "requestContext": {"resourcePath": "/send/preview", "path": "/Prod/send/preview"},
}


@pytest.mark.parametrize("route", [{}, _PREVIEW_ROUTE], ids=["send", "preview"])
@pytest.mark.parametrize(
    ("body", "base64_encoded"),
    [
        # Binary media types on: the bytes as they came, base64-encoded.
        (base64.b64encode(b"\xff.").decode(), True),
        (base64.b64encode(json.dumps(VALID).encode()[:-2] + b'\xff"}').decode(), True),
        # Text: a runtime that escaped the undecodable byte, and API Gateway's UTF-8 string of it.
        (chr(0xDCFF) + ".", False),
        ('{"channels": ["email"], "recipients": ["u1"], "messageTitle": "t", "messageContent": "c\udcff"}', False),
        ("\N{REPLACEMENT CHARACTER}.", False),
    ],
    ids=["b64-not-json", "b64-json", "surrogate-not-json", "surrogate-json", "replacement-char"],
)
def test_a_body_that_is_not_utf8_is_a_400_whatever_its_encoding(
    functions: Any, servers: Servers, body: str, base64_encoded: bool, route: dict[str, Any]
) -> None:
    """sam local answers such a body 502 before the function sees it; API Gateway hands it on."""
    from tests.conftest import api_event
    from tests.lambda_runtime import LambdaContext

    event = api_event(None, raw=body, event=route)
    event["isBase64Encoded"] = base64_encoded
    servers.outbox.mark()
    response = functions["send"].lambda_handler(event, LambdaContext())
    answer = json.loads(response["body"])

    assert (response["statusCode"], answer["statusCode"], answer["error"]) == (400, "400", "Bad Request")
    if "\ufffd" not in body:
        assert answer["message"] == "body: not valid UTF-8 text"
    assert servers.outbox.emails() == []
