"""One-click unsubscribe per category (issue 24): a non-transactional e-mail of a category names its
category's topic of the contact list (SES then adds the List-Unsubscribe headers for it), and SES's
subscription event for that topic sets `preferences.<category>.email = false`, not the global
opt-out: the user's next newsletter skips e-mail, their reminders still reach it."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import CONTACT_LIST, CONTACT_TOPIC, ApiCall, Servers
from tests.delivery_events import sns_event, wrap
from tests.integration.test_delivery_events import Feedback
from tests.lambda_runtime import LambdaContext


@pytest.mark.parametrize(
    ("category", "transactional", "topic"),
    [
        ("newsletter", False, "newsletter"),
        ("reminders", False, "reminders"),
        (None, False, CONTACT_TOPIC),
        ("offers", False, CONTACT_TOPIC),  # no topic of its own on the list: the list's `messages`
        ("newsletter", True, None),  # transactional: no unsubscribe at all
    ],
)
def test_an_email_of_a_category_names_its_topic(
    functions: dict[str, ModuleType], category: str | None, transactional: bool, topic: str | None
) -> None:
    email = functions["email"]
    requests: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **kwargs: Any) -> None:
        requests.append(json.loads(params["body"]))

    email.ses.meta.events.register("before-call.sesv2.SendEmail", capture)
    try:
        event = {
            "channel": "email",
            "sender": "noreply@example.com",
            "transactional": transactional,
            "category": category,
            "messages": [{"userId": "u1", "to": "ann@example.com", "subject": "s", "text": "t"}],
        }
        assert email.lambda_handler(event, LambdaContext()) == {"failures": []}
    finally:
        email.ses.meta.events.unregister("before-call.sesv2.SendEmail", capture)

    [request] = requests
    expected = None if topic is None else {"ContactListName": CONTACT_LIST, "TopicName": topic}
    assert request.get("ListManagementOptions") == expected


def _topic_unsubscribe(send_id: str, user_id: str, topic: str, *, everything: bool = False) -> dict[str, Any]:
    message = json.loads(sns_event("ses-subscription", send_id, user_id)["Records"][0]["Sns"]["Message"])
    message["subscription"]["newTopicPreferences"] = {
        "unsubscribeAll": everything,
        "topicSubscriptionStatus": [{"topicName": topic, "subscriptionStatus": "OptOut"}],
    }
    return wrap(message)


def test_an_unsubscribe_from_a_categorys_topic_refuses_that_category_by_email_only(
    api: ApiCall, functions: dict[str, ModuleType], db: Any, servers: Servers
) -> None:
    feedback = Feedback(functions)
    body = {"channels": ["email", "sms"], "recipients": ["u1"], "messageTitle": "t", "messageContent": "c"}
    assert api({**body, "category": "newsletter"})[0] == 200
    send_id = api.last["multiValueHeaders"]["X-Send-Id"][0]
    # Odd stored shapes are replaced or kept, never a crash: `true` becomes the refusal.
    db.users.update_one({"_id": "u1"}, {"$set": {"preferences": {"newsletter": True, "reminders": {"sms": False}}}})

    result = feedback(_topic_unsubscribe(send_id, "u1", "newsletter"))
    feedback(_topic_unsubscribe(send_id, "u1", "newsletter"))  # again: nothing changes twice

    assert result["optedOut"] == 1
    user = db.users.find_one({"_id": "u1"})
    assert user["preferences"] == {"newsletter": {"email": False}, "reminders": {"sms": False}}
    assert "optOuts" not in user  # not the global opt-out
    servers.outbox.mark()
    assert api({**body, "category": "newsletter"})[0] == 200
    assert ([e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails()], len(servers.outbox.sms())) == (
        [],
        1,
    )
    servers.outbox.mark()
    assert api({**body, "category": "reminders"})[0] == 200
    assert len(servers.outbox.emails()) == 1

    # A second category's topic adds to the object; the `messages` topic is every e-mail's opt-out.
    feedback(_topic_unsubscribe(send_id, "u1", "reminders"))
    assert db.users.find_one({"_id": "u1"})["preferences"]["reminders"] == {"sms": False, "email": False}
    feedback(_topic_unsubscribe(send_id, "u1", CONTACT_TOPIC))
    assert db.users.find_one({"_id": "u1"})["optOuts"] == ["email"]


def test_a_hostile_preferences_value_or_topic_never_crashes_the_feedback(
    api: ApiCall, functions: dict[str, ModuleType], db: Any
) -> None:
    feedback = Feedback(functions)
    assert api({"channels": ["email"], "recipients": ["u1"], "messageTitle": "t", "messageContent": "c"})[0] == 200
    send_id = api.last["multiValueHeaders"]["X-Send-Id"][0]
    db.users.update_one({"_id": "u1"}, {"$set": {"preferences": "none of your business"}})

    feedback(_topic_unsubscribe(send_id, "u1", "newsletter"))  # logged, not raised
    feedback(_topic_unsubscribe(send_id, "u1", "$where.x"))  # not a topic name: ignored

    user = db.users.find_one({"_id": "u1"})
    assert user["preferences"] == "none of your business"
    assert "optOuts" not in user
