"""The offline stack's names and settings (`make start`, local/stack.py): the template's parameters
as `sam local` gets them, the resources the servers hold, and each function's environment."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
FCM_PROJECT = "demo-project"
FCM_SECRET_ID = "messaging/fcm-service-account"
ATTACHMENTS_BUCKET = "messaging-attachments"
IDEMPOTENCY_TABLE = "messaging-idempotency"
SENDS_TABLE = "messaging-sends"
# SES subscription management, as the template's SesContactList (moto keeps it; it adds no headers).
CONTACT_LIST = "messaging-recipients"
CONTACT_TOPIC = "messages"
# What the template's EmailConfigurationSet is offline (moto records no events: feed them to FeedbackFunction).
SES_CONFIGURATION_SET = "messaging-delivery-events"
# sam local knows functions by their logical ids.
DISPATCH_FUNCTION = "DispatchFunction"
# Scheduled sends: moto keeps the schedules, local/scheduler.py fires them on start-lambda.
SCHEDULE_GROUP = "messaging-sends"
SCHEDULE_TARGET_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{DISPATCH_FUNCTION}"
# The template's parameters without a default (a real deploy must name its own); locally the
# secrets and identities are never used (the env vars above point the functions at the stand-ins).
SERVICE_CONFIG = {
    "activeChannels": ["email", "sms", "push", "voice"],
    "sender": {"email": "noreply@example.com", "sms": "ACME", "voice": "+15550001111"},
    "androidIntentAction": "com.example.OPEN",
    "templateUserFields": ["name", "surname"],
    "categories": ["newsletter", "reminders"],
}
PARAMETERS = {
    "ServiceConfig": json.dumps(SERVICE_CONFIG),
    "MongoUriSecretArn": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:local-mongodb-uri-AbCdEf",
    "SesIdentity": "messaging.localhost",
    "FcmCredentialsSecretArn": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:local-fcm-AbCdEf",
    # none: VoiceFunction sends from the batch's sender.voice, as the stand-in expects.
    "VoiceOriginationIdentityArn": "none",
    "SesSubscriptionManagement": "enabled",
}


def parameter_overrides(parameters: dict[str, str]) -> str:
    """`sam local --parameter-overrides`: Key="value" pairs, quotes and backslashes escaped (JSON)."""
    return " ".join(
        f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for key, value in parameters.items()
    )


# Inside a Lambda container the host is reached under this name (--add-host ...:host-gateway).
HOST_FROM_CONTAINER = "host.docker.internal"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",  # moto accepts any
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def function_environments(a: argparse.Namespace) -> dict[str, dict[str, str]]:
    """What each function sees under `sam local` (its env vars file): the servers on this machine's
    ports, reached from the Lambda containers as HOST_FROM_CONTAINER."""
    host = HOST_FROM_CONTAINER
    moto = f"http://{host}:{a.moto_port}"
    eum = f"http://{host}:{a.eum_port}"
    # Lifecycle events on moto's default bus (a rule copies them to the events queue).
    events = {"EVENT_BUS_NAME": "default", "AWS_ENDPOINT_URL_EVENTBRIDGE": moto}
    env: dict[str, dict[str, str]] = {
        "SendFunction": {
            # SecantusDB announces itself as a replica set member at its bind address: connect directly.
            "MONGODB_URI": f"mongodb://{host}:{a.mongo_port}/?directConnection=true",
            "MONGODB_URI_SECRET_ID": "",
            "AWS_ENDPOINT_URL_LAMBDA": f"http://{host}:{a.lambda_port}",
            "FILE_SERVICE_URL": f"http://{host}:{a.files_port}",
            "ATTACHMENTS_BUCKET": ATTACHMENTS_BUCKET,
            "AWS_ENDPOINT_URL_S3": moto,
            "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
            "AWS_ENDPOINT_URL_DYNAMODB": moto,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto,
            "SENDS_TABLE": SENDS_TABLE,
            "DISPATCH_FUNCTION_NAME": DISPATCH_FUNCTION,
            "AWS_ENDPOINT_URL_SCHEDULER": moto,
            "SCHEDULE_GROUP": SCHEDULE_GROUP,
            "SCHEDULE_TARGET_ARN": SCHEDULE_TARGET_ARN,
            "SCHEDULE_ROLE_ARN": "arn:aws:iam::123456789012:role/local-scheduler",
            "SCHEDULE_DLQ_ARN": "arn:aws:sqs:us-east-1:123456789012:local-schedule-dlq",
            # The e-mail sender's identity, checked at acceptance (example.com is verified below).
            "AWS_ENDPOINT_URL_SESV2": moto,
            **events,
        },
        # Invoked by SendFunction with InvocationType=Event on start-lambda (SAM CLI >= 1.170).
        "DispatchFunction": {
            "MONGODB_URI": f"mongodb://{host}:{a.mongo_port}/?directConnection=true",
            "MONGODB_URI_SECRET_ID": "",
            "AWS_ENDPOINT_URL_LAMBDA": f"http://{host}:{a.lambda_port}",
            "ATTACHMENTS_BUCKET": ATTACHMENTS_BUCKET,
            "AWS_ENDPOINT_URL_S3": moto,
            "SENDS_TABLE": SENDS_TABLE,
            "AWS_ENDPOINT_URL_DYNAMODB": moto,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto,
            # moto has no SES GetAccount: e-mail goes unpaced locally unless EMAIL_MAX_RATE is set.
            "AWS_ENDPOINT_URL_SESV2": moto,
            "DISPATCH_FUNCTION_NAME": DISPATCH_FUNCTION,
            **events,
        },
        "EmailFunction": {
            "SES_CONFIGURATION_SET": SES_CONFIGURATION_SET,
            "AWS_ENDPOINT_URL_SESV2": moto,
            "SES_CONTACT_LIST": CONTACT_LIST,
            "SES_CONTACT_TOPIC": CONTACT_TOPIC,
            "SES_CATEGORY_TOPICS": ",".join(SERVICE_CONFIG["categories"]),
            "AWS_ENDPOINT_URL_S3": moto,
            "ATTACHMENTS_BUCKET": ATTACHMENTS_BUCKET,
            "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
            "AWS_ENDPOINT_URL_DYNAMODB": moto,
        },
        # Delivery events (SNS-wrapped, events/feedback-*.json) are invoked on it through start-lambda.
        "FeedbackFunction": {
            "MONGODB_URI": f"mongodb://{host}:{a.mongo_port}/?directConnection=true",
            "MONGODB_URI_SECRET_ID": "",
            "SENDS_TABLE": SENDS_TABLE,
            "AWS_ENDPOINT_URL_DYNAMODB": moto,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto,
        },
        "SmsFunction": {
            "AWS_ENDPOINT_URL_SNS": moto,
            "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2": eum,
            "SMS_PROVIDER": a.sms_provider,
            "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
            "AWS_ENDPOINT_URL_DYNAMODB": moto,
        },
        "VoiceFunction": {
            "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2": eum,
            "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
            "AWS_ENDPOINT_URL_DYNAMODB": moto,
        },
        "PushFunction": {
            # Where stale tokens are recorded (the users' documents).
            "MONGODB_URI": f"mongodb://{host}:{a.mongo_port}/?directConnection=true",
            "MONGODB_URI_SECRET_ID": "",
            "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
            "AWS_ENDPOINT_URL_DYNAMODB": moto,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto,
            "FCM_CREDENTIALS_SECRET_ID": FCM_SECRET_ID,
            "FCM_ENDPOINT": f"http://{host}:{a.fcm_port}",
            "FCM_TOKEN_URI": f"http://{host}:{a.fcm_port}/token",
        },
    }
    env["IntakeFunction"] = env["SendFunction"]  # the same acceptance path, fed by the local poller
    return env
