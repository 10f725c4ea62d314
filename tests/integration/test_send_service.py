"""The send logic called with plain settings (no API event): field remapping, batching, outages."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient

from local.servers import free_port
from messaging.channels import email as email_channel
from messaging.channels.email import EmailBatch, EmailMessage
from messaging.channels.push import FcmClient, PushBatch, PushMessage, send_batch
from messaging.models.config import ServiceConfig, UserFields
from messaging.models.function_settings import SendSettings
from messaging.models.request import SendRequest
from messaging.service import Sender, send
from messaging.store import MongoStore
from messaging.templates.renderer import Renderer
from tests.conftest import FUNCTION_NAMES, SENDER, Servers
from tests.lambda_runtime import InProcessInvoker


def remapped_settings(servers: Servers, **changes: Any) -> SendSettings:
    service = ServiceConfig(
        userFields=UserFields.model_validate(
            {"id": "fiscalCode", "emailAddress": "mail", "phoneNumber": "mobile", "clusters": "groups"}
        ),
        activeChannels=["email", "sms"],
        sender={"email": SENDER, "sms": "+15550100"},  # type: ignore[arg-type]
        templateUserFields=["name"],
    )
    return SendSettings(
        service=service,
        mongodb_uri=servers.mongo_uri,
        users_collection="people",
        function_names={"email": FUNCTION_NAMES["email"], "sms": FUNCTION_NAMES["sms"]},
        **changes,
    )


@pytest.fixture
def people(servers: Servers) -> Any:
    client: MongoClient[dict[str, Any]] = MongoClient(servers.mongo_uri)
    collection = client["messaging"]["people"]
    collection.delete_many({})
    collection.insert_many(
        [
            {
                "fiscalCode": f"FC{n:03d}",
                "name": f"P{n}",
                "mail": f"p{n}@example.com",
                "mobile": f"+3933300{n:05d}",
                "emailAddress": "ignored@example.com",
                "groups": ["all", "even" if n % 2 == 0 else "odd"],
            }
            for n in range(7)
        ]
    )
    collection.insert_one({"_id": ObjectId(), "name": "no id field", "mail": "x@example.com", "groups": ["all"]})
    yield collection
    client.close()


def test_user_fields_are_remapped_and_batches_cover_every_user(
    servers: Servers, people: Any, invoker: InProcessInvoker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Users stream over several cursor batches; FC001 is both named and in the cluster: sent once.
    monkeypatch.setattr("messaging.store.CURSOR_BATCH", 2)
    settings = remapped_settings(servers, batch_max_messages=3)
    store = MongoStore.connect(servers.mongo_uri, "messaging", "people", "templates", 3000)
    request = SendRequest(
        channels=["email", "sms"],
        recipients=["FC000", "FC999", "FC001"],
        clusters=["odd"],
        messageTitle="Hi {{user.name}}",
        messageContent="{{user.fiscalCode}} in {{user.groups.[1]}}",
    )
    servers.outbox.mark()

    response = send(request, Sender(settings, store, Renderer(), invoker)).response

    assert [(f.userId, f.channel, f.error) for f in response.failures] == [
        ("FC999", "email", "user not found"),
        ("FC999", "sms", "user not found"),
    ]
    sent = {email["destinations"]["ToAddresses"][0]: email["body"] for email in servers.outbox.emails()}
    assert sent == {
        "p0@example.com": "FC000 in even",
        "p1@example.com": "FC001 in odd",
        "p3@example.com": "FC003 in odd",
        "p5@example.com": "FC005 in odd",
    }
    assert sorted(sms["phone_number"] for sms in servers.outbox.sms()) == [
        "+393330000000",
        "+393330000001",
        "+393330000003",
        "+393330000005",
    ]
    # 4 users per channel in batches of at most 3; the SMS envelope carries the configured number.
    assert sorted((p["channel"], len(p["messages"])) for p in invoker.payloads) == [
        ("email", 1),
        ("email", 3),
        ("sms", 1),
        ("sms", 3),
    ]
    assert {p.get("sender") for p in invoker.payloads if p["channel"] == "sms"} == {"+15550100"}


def test_a_malformed_stored_template_is_a_400(
    servers: Servers, db: Any, functions: Any, invoker: InProcessInvoker
) -> None:
    template_id = ObjectId()
    db.templates.insert_one({"_id": template_id, "smsMessage": 42})
    request = SendRequest(channels=["sms"], recipients=["u1"], templateId=str(template_id))
    from messaging.errors import BadRequest

    with pytest.raises(BadRequest, match=f"template {template_id} is malformed: smsMessage: Input should be"):
        send(request, Sender(functions["send"].parts.settings, functions["send"].parts.store, Renderer(), invoker))


def test_an_unreachable_provider_fails_each_message_with_the_reason(servers: Servers) -> None:
    import boto3
    from botocore.config import Config

    ses = boto3.client(
        "sesv2",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=Config(connect_timeout=1, retries={"max_attempts": 1}),
    )
    batch = EmailBatch(
        sender=SENDER,
        messages=[EmailMessage(userId=f"u{n}", to=f"u{n}@example.com", subject="s", text="t") for n in range(3)],
    )

    failures = email_channel.send_batch(batch, ses, concurrency=2).failures

    assert [f.userId for f in failures] == ["u0", "u1", "u2"]
    assert all(f.error.startswith("EndpointConnectionError: ") for f in failures)


def test_fcm_authentication_failure_fails_the_whole_batch(servers: Servers, functions: Any) -> None:
    from aws_lambda_powertools.utilities import parameters

    account = parameters.get_secret("messaging/fcm-service-account", transform="json")
    client = FcmClient(
        account, "demo-project", servers.fcm.url, f"http://127.0.0.1:{free_port()}/token", timeout_s=1, pool_size=2
    )
    batch = PushBatch(messages=[PushMessage(userId="u1", token="tok-ann", title="t", body="b")])
    servers.fcm.clear()

    [failure] = send_batch(batch, client, concurrency=2).failures

    assert failure.userId == "u1"
    assert failure.error.startswith("FCM authentication failed: TransportError")
    assert servers.fcm.messages == []
