"""The End User Messaging SMS and Voice v2 stand-in answers boto3 as the real API does: JSON 1.0,
`{"MessageId"}`, and the error shapes of the botocore service model for its documented triggers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import Servers


@pytest.fixture
def client(servers: Servers) -> Any:
    servers.eum.clear()
    return boto3.client("pinpoint-sms-voice-v2", config=Config(retries={"total_max_attempts": 1}))


def _error(call: Any, **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    response: dict[str, Any] = caught.value.response
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def test_a_voice_message_is_accepted_and_readable(client: Any, servers: Servers) -> None:
    answer = client.send_voice_message(
        DestinationPhoneNumber="+393331234567", OriginationIdentity="pool-1", MessageBody="Hi", VoiceId="BIANCA"
    )
    [sent] = servers.eum.messages
    assert sent["messageId"] == answer["MessageId"]
    assert (sent["operation"], sent["VoiceId"], sent["MessageBody"]) == ("SendVoiceMessage", "BIANCA", "Hi")


def test_the_documented_triggers_answer_the_real_error_shapes(client: Any, servers: Servers) -> None:
    voice = client.send_voice_message
    text = client.send_text_message
    invalid = _error(text, DestinationPhoneNumber="+393330000000", MessageBody="x")
    assert (invalid["Error"]["Code"], invalid["Reason"], invalid["Fields"][0]["Name"]) == (
        "ValidationException",
        "INVALID_PARAMETER",
        "DestinationPhoneNumber",
    )
    opted_out = _error(text, DestinationPhoneNumber="+393339999999", MessageBody="x")
    assert (opted_out["Error"]["Code"], opted_out["Reason"]) == (
        "ConflictException",
        "DESTINATION_PHONE_NUMBER_OPTED_OUT",
    )
    assert _error(text, DestinationPhoneNumber="+393334290", MessageBody="x")["Error"]["Code"] == "ThrottlingException"
    # boto3 refuses a missing identity itself; the stand-in answers a raw call as the API would.
    request = urllib.request.Request(
        servers.eum.url,
        data=json.dumps({"DestinationPhoneNumber": "+393331234567"}).encode(),
        headers={"X-Amz-Target": "PinpointSMSVoiceV2.SendVoiceMessage", "Content-Type": "application/x-amz-json-1.0"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    body = json.load(refused.value)
    assert (refused.value.code, body["__type"], body["Reason"]) == (400, "ValidationException", "MISSING_PARAMETER")
    unknown = _error(voice, DestinationPhoneNumber="+393331234567", OriginationIdentity="unknown-1", MessageBody="x")
    assert (unknown["Error"]["Code"], unknown["ResourceId"]) == ("ResourceNotFoundException", "unknown-1")
    ssml = _error(
        voice, DestinationPhoneNumber="+393331234567", OriginationIdentity="pool-1", MessageBodyTextType="XML"
    )
    assert ssml["Error"]["Code"] == "ValidationException"
    assert servers.eum.messages == []


@pytest.mark.parametrize(
    "context",
    [
        {"userId": " padded"},
        {"userId": "x" * 801},
        {"user id": "u1"},
        {"k" * 101: "u1"},
        {f"k{i}": "v" for i in range(6)},
    ],
    ids=["value-edge-whitespace", "value-over-800", "key-whitespace", "key-over-100", "six-entries"],
)
def test_a_context_beyond_its_documented_limits_is_refused(
    client: Any, servers: Servers, context: dict[str, str]
) -> None:
    refused = _error(client.send_text_message, DestinationPhoneNumber="+393331234567", MessageBody="x", Context=context)
    assert (refused["Error"]["Code"], refused["Reason"], refused["Fields"][0]["Name"]) == (
        "ValidationException",
        "INVALID_PARAMETER",
        "Context",
    )
    assert servers.eum.messages == []
    limits = {"userId": "é" * 800, "sendId": "s", "batchId": "b", "a": "1", "b": "2"}  # exactly at the limits
    client.send_text_message(DestinationPhoneNumber="+393331234567", MessageBody="x", Context=limits)
    assert len(servers.eum.messages) == 1
