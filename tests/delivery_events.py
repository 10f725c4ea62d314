"""The documented SES and End User Messaging event samples (events/feedback-*.json, SNS-wrapped),
re-aimed at a send and a user of a test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from messaging.channels.email_tags import tag_value

EVENTS = Path(__file__).resolve().parents[1] / "events"


def provider_message(name: str) -> dict[str, Any]:
    """The provider's own JSON inside the sample's SNS envelope."""
    wrapped = json.loads((EVENTS / f"feedback-{name}.json").read_text())
    message: dict[str, Any] = json.loads(wrapped["Records"][0]["Sns"]["Message"])
    return message


def wrap(message: dict[str, Any]) -> dict[str, Any]:
    """As SNS hands it to Lambda: the provider's JSON as the record's Message string."""
    wrapped: dict[str, Any] = json.loads((EVENTS / "feedback-ses-bounce.json").read_text())
    wrapped["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return wrapped


def sns_event(name: str, send_id: str, user_id: str, message_id: str | None = None) -> dict[str, Any]:
    """The sample `name`, tagged (SES) or with a context (End User Messaging) naming the send and user."""
    message = provider_message(name)
    if "mail" in message:
        message["mail"]["tags"]["sendId"] = [send_id]
        message["mail"]["tags"]["userId"] = [tag_value(user_id)]
        if message_id is not None:
            message["mail"]["messageId"] = message_id
    else:
        message["context"].update({"sendId": send_id, "userId": user_id})
        if message_id is not None:
            message["messageId"] = message_id
    return wrap(message)
