"""Session-wide real servers, the functions loaded as Lambda would load them, and seeded data."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from bson import ObjectId
from moto.server import ThreadedMotoServer
from pymongo import MongoClient
from pymongo.database import Database

from local.eum_standin import EumStandIn
from local.fcm_standin import FcmStandIn
from local.file_service_standin import FileServiceStandIn
from local.servers import MotoOutbox, free_port, secantus_server
from local.service_account import make_service_account
from messaging.channels import registry
from tests.lambda_runtime import InProcessInvoker, LambdaContext, load_function

SENDER = "noreply@example.com"
VOICE_SENDER = "+15550001111"
# The caller SERVICE_CONFIG lets send transactional messages (API Gateway's `identity.userArn`).
TRUSTED_CALLER = "arn:aws:iam::123456789012:role/receipts"
AS_TRUSTED_CALLER = {"requestContext": {"identity": {"userArn": TRUSTED_CALLER}}}
SERVICE_CONFIG = {
    "activeChannels": list(registry.REGISTRY),
    "sender": {"email": SENDER, "sms": "ACME", "voice": VOICE_SENDER},
    "androidIntentAction": "com.example.OPEN",
    "templateUserFields": ["name", "surname", "born"],
    "categories": ["newsletter", "reminders"],
    "transactionalCallers": [TRUSTED_CALLER, "key-receipts"],
}
FUNCTION_NAMES = {spec.name: f"messaging-{spec.function_id}" for spec in registry.specs()}
FCM_SECRET_ID = "messaging/fcm-service-account"
FCM_PROJECT = "demo-project"
APPOINTMENT_TEMPLATE = "65f000000000000000000001"
SMS_ONLY_TEMPLATE = "65f000000000000000000002"
BROKEN_TEMPLATE = "65f000000000000000000003"
EVE_ID = "65f0000000000000000000e5"


ATTACHMENTS_BUCKET = "messaging-attachments"
IDEMPOTENCY_TABLE = "messaging-idempotency"
SENDS_TABLE = "messaging-sends"
DISPATCH_FUNCTION_NAME = "messaging-DispatchFunction"
CONTACT_LIST = "messaging-recipients"
CONTACT_TOPIC = "messages"
SES_CONFIGURATION_SET = "messaging-delivery-events"
SCHEDULE_GROUP = "messaging-sends"
EVENT_SOURCE = "messaging"


@dataclass
class Servers:
    mongo_uri: str
    moto_endpoint: str
    fcm: FcmStandIn
    eum: EumStandIn  # End User Messaging SMS and Voice v2 (moto has none)
    files: FileServiceStandIn
    outbox: MotoOutbox


def provision_aws() -> None:
    """What the deployed stack has: the attachments bucket, a verified sender, the FCM secret."""
    boto3.client("s3").create_bucket(Bucket=ATTACHMENTS_BUCKET)
    boto3.client("dynamodb").create_table(
        TableName=IDEMPOTENCY_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    boto3.client("dynamodb").create_table(
        TableName=SENDS_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    # The whole domain: the configured sender and any emailSender override under it.
    boto3.client("sesv2").create_email_identity(EmailIdentity="example.com")
    boto3.client("sesv2").create_contact_list(
        ContactListName=CONTACT_LIST,
        Topics=[
            {"TopicName": topic, "DisplayName": topic, "DefaultSubscriptionStatus": "OPT_IN"}
            for topic in (CONTACT_TOPIC, *SERVICE_CONFIG["categories"])
        ],
    )
    boto3.client("sesv2").create_configuration_set(ConfigurationSetName=SES_CONFIGURATION_SET)
    boto3.client("secretsmanager").create_secret(
        Name=FCM_SECRET_ID, SecretString=json.dumps(make_service_account(FCM_PROJECT))
    )
    boto3.client("scheduler").create_schedule_group(Name=SCHEDULE_GROUP)


_started: list[Servers] = []  # the session's servers once a test has asked for them


@pytest.fixture(scope="module", autouse=True)
def moto_forgets_between_modules() -> Iterator[None]:
    """Every read of moto's outbox fetches all it ever recorded: after the thousands of e-mails of
    one module, each later `api` call would spend seconds reading them. Each module starts afresh."""
    yield
    if _started:
        _started[0].outbox.reset()
        provision_aws()


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    with secantus_server() as mongo_uri:
        moto_port = free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
        moto.start()
        fcm = FcmStandIn().start()
        eum = EumStandIn().start()
        files = FileServiceStandIn().start()
        endpoint = f"http://127.0.0.1:{moto_port}"
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "POWERTOOLS_SERVICE_NAME": "messaging",
                "SERVICE_CONFIG": json.dumps(SERVICE_CONFIG),
                "MONGODB_URI": mongo_uri,
                "MONGODB_TIMEOUT_MS": "3000",
                **{registry.spec(channel).function_env: name for channel, name in FUNCTION_NAMES.items()},
                "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2": eum.url,
                "FCM_PROJECT_ID": FCM_PROJECT,
                "FCM_CREDENTIALS_SECRET_ID": FCM_SECRET_ID,
                # The stand-in's token URL is only a default: the service account's own is overridden.
                "FCM_ENDPOINT": fcm.url,
                "FCM_TOKEN_URI": fcm.token_uri,
                "FILE_SERVICE_URL": files.url,
                "ATTACHMENTS_BUCKET": ATTACHMENTS_BUCKET,
                "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
                "SENDS_TABLE": SENDS_TABLE,
                "DISPATCH_FUNCTION_NAME": DISPATCH_FUNCTION_NAME,
                # EmailFunction: SES subscription management on non-transactional e-mails.
                "SES_CONTACT_LIST": CONTACT_LIST,
                "SES_CONTACT_TOPIC": CONTACT_TOPIC,
                "SES_CATEGORY_TOPICS": ",".join(SERVICE_CONFIG["categories"]),
                # PushFunction records the tokens FCM reports stale (MONGODB_URI, SERVICE_CONFIG above).
                "STALE_TOKENS": "mark",
                "SES_CONFIGURATION_SET": SES_CONFIGURATION_SET,
                # Scheduled sends: moto keeps the schedules, local/scheduler.py fires them.
                "SCHEDULE_GROUP": SCHEDULE_GROUP,
                "SCHEDULE_TARGET_ARN": f"arn:aws:lambda:us-east-1:123456789012:function:{DISPATCH_FUNCTION_NAME}",
                "SCHEDULE_ROLE_ARN": "arn:aws:iam::123456789012:role/messaging-scheduler",
                "SCHEDULE_DLQ_ARN": "arn:aws:sqs:us-east-1:123456789012:messaging-schedule-dlq",
                # Lifecycle events on moto's default bus (tests/integration/test_queue_and_events.py reads them).
                "EVENT_BUS_NAME": "default",
                "EVENT_SOURCE": EVENT_SOURCE,
            }
        )
        provision_aws()
        _started.append(Servers(mongo_uri, endpoint, fcm, eum, files, MotoOutbox(endpoint)))
        try:
            yield _started[0]
        finally:
            _started.clear()
            files.stop()
            eum.stop()
            fcm.stop()
            moto.stop()


@pytest.fixture(scope="session")
def functions(servers: Servers) -> dict[str, ModuleType]:
    return {name: load_function(name) for name in ("send", *registry.REGISTRY, "dispatch", "feedback")}


USERS: list[dict[str, Any]] = [
    {
        "_id": "u1",
        "name": "Ann",
        "emailAddress": "ann@example.com",
        "phoneNumber": "+393330000001",
        "deviceToken": "tok-ann",
        "clusters": ["patients", "rome"],
    },
    {"_id": "u2", "name": "Bob", "emailAddress": "bob@example.com", "clusters": ["patients"]},
    {
        "_id": "u3",
        "name": "Carl",
        "phoneNumber": "+393330000003",
        "deviceToken": "unregistered-carl",
        "clusters": ["doctors"],
    },
    {"_id": "u4", "name": "Dora", "clusters": ["patients"]},
    {"_id": ObjectId(EVE_ID), "name": "Eve", "emailAddress": "eve@example.com", "clusters": []},
]

TEMPLATES: list[dict[str, Any]] = [
    {
        "_id": ObjectId(APPOINTMENT_TEMPLATE),
        "name": "appointment",
        "emailTitle": "Appointment for {{user.name}}",
        "emailHtmlMessage": (
            "<p>Hello, {{user.name}}! Your appointment is dated "
            '{{dateFormat data.appointmentDate format="DD/MM/YYYY HH:mm" tz="Europe/Rome"}}</p><p>{{data.note}}</p>'
        ),
        "emailMessage": "ignored: the HTML body wins",
        "smsMessage": '{{user.name}}, appointment {{dateFormat data.appointmentDate format="DD/MM HH:mm" '
        'tz="Europe/Rome"}}',
        "pushTitle": "Appointment",
        "pushSubtitle": "for {{user.name}}",
        "pushMessage": "{{data.note}}",
        "pushData": {
            "appointmentId": "{{data.id}}",
            "count": 2,
            "android": {"priority": "high", "notification": {"color": "#ff0000"}},
        },
    },
    {
        "_id": ObjectId(SMS_ONLY_TEMPLATE),
        "name": "sms-only",
        "smsMessage": '{{#if (eq data.type "patients")}}Dear patient{{else}}Dear colleague{{/if}} {{user.name}}',
    },
    {"_id": ObjectId(BROKEN_TEMPLATE), "name": "broken", "smsMessage": "Hi {{user.name}}\n{{#if data.x}}unclosed"},
]


@pytest.fixture
def db(servers: Servers) -> Iterator[Database[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(servers.mongo_uri)
    database = client["messaging"]
    database.users.delete_many({})
    database.templates.delete_many({})
    database.users.insert_many([dict(user) for user in USERS])
    database.templates.insert_many([dict(template) for template in TEMPLATES])
    yield database
    client.close()


@pytest.fixture
def invoker(functions: dict[str, ModuleType]) -> InProcessInvoker:
    return InProcessInvoker({FUNCTION_NAMES[c]: functions[c].lambda_handler for c in FUNCTION_NAMES}, timeout_s=10)


def api_event(
    body: Any, *, raw: str | None = None, headers: dict[str, str] | None = None, event: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The sample API Gateway event with this body; `event` deep-merges over it (requestContext...)."""
    with open(os.path.join(os.path.dirname(__file__), "..", "events", "send.json")) as handle:
        sample: dict[str, Any] = json.load(handle)
    event = _merged(sample, event or {})
    event["body"] = raw if raw is not None else json.dumps(body)
    event["headers"] = {**event["headers"], **(headers or {})}
    event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
    return event


def get_event(path: str, query: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A GET of the API (the status routes), as API Gateway hands it to SendFunction."""
    event = api_event(None, headers=headers)
    event.update(
        {
            "httpMethod": "GET",
            "path": path,
            "resource": path,
            "body": None,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        }
    )
    return event


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = (
            _merged(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


class ApiCall:
    """POST /send through SendFunction's Lambda handler; the last raw response is kept."""

    def __init__(self, send_module: ModuleType) -> None:
        self._module = send_module
        self.last: dict[str, Any] = {}

    def __call__(
        self,
        body: Any = None,
        *,
        raw: str | None = None,
        headers: dict[str, str] | None = None,
        remaining_ms: int = 30_000,
        event: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        context = LambdaContext(remaining_ms=remaining_ms)
        self.last = self._module.lambda_handler(api_event(body, raw=raw, headers=headers, event=event), context)
        return self.last["statusCode"], json.loads(self.last["body"])


@pytest.fixture
def api(
    functions: dict[str, ModuleType],
    invoker: InProcessInvoker,
    servers: Servers,
    db: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> ApiCall:
    """The channel functions are invoked in-process, through the invoker seam."""
    monkeypatch.setattr(functions["send"].parts, "invoker", invoker)
    servers.outbox.mark()
    servers.fcm.clear()
    servers.eum.clear()
    return ApiCall(functions["send"])
