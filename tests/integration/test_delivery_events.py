"""After "accepted": a synchronous send answers its id, is recorded, and the providers' documented
delivery events (SES through its configuration set, End User Messaging SMS and voice, SNS-wrapped)
fed to FeedbackFunction's handler show in GET /sends/{sendId} and its failures, once each;
complaints and unsubscribes opt the user out. Real moto (DynamoDB, SES) and SecantusDB."""

from __future__ import annotations

import json
import uuid
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from messaging.channels.email_tags import decode_tag
from messaging.preferences import opted_out_channels
from tests.conftest import FUNCTION_NAMES, SES_CONFIGURATION_SET, ApiCall, Servers, get_event
from tests.delivery_events import provider_message, sns_event, wrap
from tests.lambda_runtime import InProcessInvoker, LambdaContext

BODY = {"messageTitle": "Hi {{user.name}}", "messageContent": "Your results are ready, {{user.name}}"}


class Feedback:
    """FeedbackFunction's handler, and the status routes of SendFunction's."""

    def __init__(self, functions: dict[str, ModuleType]) -> None:
        self.feedback = functions["feedback"]
        self.send = functions["send"]

    def __call__(self, event: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.feedback.lambda_handler(event, LambdaContext())
        return result

    def get(self, path: str) -> tuple[int, Any]:
        answer = self.send.lambda_handler(get_event(path), LambdaContext())
        return answer["statusCode"], json.loads(answer["body"])

    def status(self, send_id: str) -> dict[str, Any]:
        code, body = self.get(f"/sends/{send_id}")
        assert code == 200, body
        return dict(body)

    def failures(self, send_id: str) -> list[dict[str, Any]]:
        code, body = self.get(f"/sends/{send_id}/failures")
        assert code == 200, body
        return list(body["failures"])


@pytest.fixture
def feedback(functions: dict[str, ModuleType]) -> Feedback:
    return Feedback(functions)


def _send_id(api: ApiCall) -> str:
    headers = {name.lower(): value for name, value in (api.last.get("headers") or {}).items()}
    multi = {name.lower(): values for name, values in (api.last.get("multiValueHeaders") or {}).items()}
    send_id = headers.get("x-send-id") or multi.get("x-send-id", [None])[0]
    assert isinstance(send_id, str), api.last
    assert send_id
    return send_id


def _counts(status: dict[str, Any], channel: str) -> dict[str, int]:
    return {name: value for name, value in status["channels"][channel].items() if value}


def test_a_synchronous_send_is_recorded_and_its_delivery_events_count_once_in_its_status_and_failures(
    api: ApiCall, feedback: Feedback, functions: dict[str, ModuleType], servers: Servers
) -> None:
    sent_params: list[dict[str, Any]] = []
    ses = functions["email"].ses
    ses.meta.events.register("provide-client-params.sesv2.SendEmail", lambda params, **_: sent_params.append(params))
    try:
        status, body = api(
            {**BODY, "channels": ["email", "sms", "voice"], "recipients": ["u1", "u2", "u3", "nobody"]},
        )
    finally:
        ses.meta.events.unregister("provide-client-params.sesv2.SendEmail")
    assert status == 200, body
    send_id = _send_id(api)

    # Every message names the send and its user, and the configuration set whose events come back.
    tags = [{tag["Name"]: tag["Value"] for tag in params["EmailTags"]} for params in sent_params]
    assert sorted(str(decode_tag(each["userId"])) for each in tags) == ["u1", "u2"]
    assert {each["sendId"] for each in tags} == {send_id}
    assert {p["ConfigurationSetName"] for p in sent_params} == {SES_CONFIGURATION_SET}
    calls = [m["Context"] for m in servers.eum.messages if m["operation"] == "SendVoiceMessage"]
    assert {context["userId"]: context["sendId"] for context in calls} == {"u1": send_id, "u3": send_id}

    before = feedback.status(send_id)
    assert before["status"] == "completed"
    assert (before["audience"], before["notFound"]) == (3, 1)
    # u1, u2 have e-mail; u1, u3 phones (SMS by SNS, and the calls).
    assert _counts(before, "email") == {"sent": 2, "failed": 1, "skipped": 1, "noAddress": 1}
    assert _counts(before, "sms") == {"sent": 2, "failed": 1, "skipped": 1, "noAddress": 1}
    assert feedback.failures(send_id) == body["failures"]

    events = [
        sns_event("ses-delivery", send_id, "u1", message_id="ses-u1"),
        sns_event("ses-bounce", send_id, "u2", message_id="ses-u2"),
        sns_event("ses-bounce", send_id, "u2", message_id="ses-u2"),  # SNS delivers at least once
        sns_event("eum-text-delivered", send_id, "u1", message_id="sms-u1"),
        sns_event("eum-text-carrier-unreachable", send_id, "u3", message_id="sms-u3"),
    ]
    # TEXT_SUCCESSFUL after TEXT_DELIVERED of the same message: the same outcome, counted once.
    successful = provider_message("eum-text-delivered") | {"eventType": "TEXT_SUCCESSFUL", "messageId": "sms-u1"}
    successful["context"] = {"sendId": send_id, "userId": "u1"}
    # A carrier error on the way (not final) may still end delivered: not counted.
    transient = provider_message("eum-text-carrier-unreachable") | {"isFinal": False, "messageId": "sms-u1-b"}
    transient["context"] = {"sendId": send_id, "userId": "u1"}
    voice = provider_message("eum-text-delivered") | {"eventType": "VOICE_COMPLETED", "messageId": "voice-u1"}
    voice["context"] = {"sendId": send_id, "userId": "u1"}
    results = [feedback(event) for event in [*events, wrap(successful), wrap(transient), wrap(voice)]]

    assert [r["recorded"] for r in results] == [1, 1, 0, 1, 1, 0, 0, 1]
    assert [r["duplicates"] for r in results] == [0, 0, 1, 0, 0, 1, 0, 0]
    after = feedback.status(send_id)
    assert _counts(after, "email") == {
        "sent": 2,
        "failed": 1,
        "skipped": 1,
        "noAddress": 1,
        "delivered": 1,
        "bounced": 1,
    }
    assert _counts(after, "sms") == {
        "sent": 2,
        "failed": 1,
        "skipped": 1,
        "noAddress": 1,
        "delivered": 1,
        "undelivered": 1,
    }
    assert _counts(after, "voice")["delivered"] == 1
    # The bounced and the unreached stay sent (the provider accepted them) and join the failures after
    # the dispatch's, with the provider's classification only: no address, no diagnostic text.
    failures = feedback.failures(send_id)
    assert failures[: len(body["failures"])] == body["failures"]
    assert failures[len(body["failures"]) :] == [
        {"userId": "u2", "channel": "email", "error": "bounced: Permanent/General"},
        {"userId": "u3", "channel": "sms", "error": "undelivered: TEXT_CARRIER_UNREACHABLE"},
    ]
    assert "550" not in json.dumps(failures)
    assert "alice@" not in json.dumps(failures)


def test_a_replayed_idempotent_send_answers_the_same_send_id(api: ApiCall) -> None:
    key = {"Idempotency-Key": f"events-{uuid.uuid4().hex}"}
    body = {**BODY, "channels": ["email"], "recipients": ["u2"]}
    assert api(body, headers=key)[0] == 200
    first = _send_id(api)
    assert api(body, headers=key)[0] == 200
    assert _send_id(api) == first


@pytest.mark.parametrize(
    ("sample", "counted"),
    [("ses-complaint", {"complained": 1}), ("ses-subscription", {})],
    ids=["complaint", "unsubscribe"],
)
def test_a_complaint_or_an_unsubscribe_opts_the_user_out_of_email(
    api: ApiCall, feedback: Feedback, db: Any, sample: str, counted: dict[str, int]
) -> None:
    assert api({**BODY, "channels": ["email"], "recipients": ["u2"]})[0] == 200
    send_id = _send_id(api)

    result = feedback(sns_event(sample, send_id, "u2"))
    feedback(sns_event(sample, send_id, "u2"))  # again: nothing changes twice

    assert result["optedOut"] == 1
    assert db.users.find_one({"_id": "u2"})["optOuts"] == ["email"]
    assert _counts(feedback.status(send_id), "email") == {"sent": 1, **counted}
    complaints = [f for f in feedback.failures(send_id) if f["error"].startswith("complained")]
    assert complaints == ([{"userId": "u2", "channel": "email", "error": "complained: abuse"}] if counted else [])
    # The user's wish outlives the send's record: an unsubscribe of an expired send still counts.
    feedback(sns_event(sample, uuid.uuid4().hex, "u1"))
    assert db.users.find_one({"_id": "u1"})["optOuts"] == ["email"]


def _untagged() -> dict[str, Any]:
    message = provider_message("ses-bounce")
    message["mail"]["tags"] = {"ses:configuration-set": [SES_CONFIGURATION_SET]}
    return wrap(message)


def _cc_bounce(send_id: str) -> dict[str, Any]:
    message = json.loads(sns_event("ses-bounce", send_id, "u2")["Records"][0]["Sns"]["Message"])
    message["bounce"]["bouncedRecipients"] = [{"emailAddress": "copy@example.org", "status": "5.1.1"}]
    return wrap(message)


def _copied_unsubscribe(send_id: str) -> dict[str, Any]:
    """An unsubscribe from a message with a CC copy: SES does not say which reader clicked."""
    message = json.loads(sns_event("ses-subscription", send_id, "u2")["Records"][0]["Sns"]["Message"])
    message["mail"]["destination"] = [*message["mail"]["destination"], "archive@example.org"]
    return wrap(message)


def _sns(text: str) -> dict[str, Any]:
    event = wrap({})
    event["Records"][0]["Sns"]["Message"] = text
    return event


@pytest.mark.parametrize(
    "make",
    [
        lambda send_id: sns_event("ses-bounce", uuid.uuid4().hex, "u2"),  # a send we do not know (or expired)
        lambda send_id: _untagged(),  # sent outside this service, or before tagging
        lambda send_id: _cc_bounce(send_id),  # the CC copy bounced, not the user's message
        lambda send_id: _copied_unsubscribe(send_id),  # maybe the copy's reader: the user stays opted in
        lambda send_id: _sns("{not json"),
        lambda send_id: _sns(json.dumps({"eventType": "Bounce", "mail": "nope"})),
        lambda send_id: _sns(json.dumps({"eventType": "Bounce", "mail": {"messageId": "m"}, "bounce": [1]})),
        lambda send_id: _sns(json.dumps({"eventType": "TEXT_DELIVERED", "messageId": ["x"]})),
        lambda send_id: _sns(json.dumps([1, 2])),
        lambda send_id: {"Records": [{"Sns": {}}]},
        lambda send_id: {"detail-type": "not SNS"},
    ],
    ids=[
        "unknown-send",
        "untagged",
        "cc-recipient",
        "unsubscribe-with-copies",
        "not-json",
        "mail-not-object",
        "bounce-not-object",
        "bad-message-id",
        "not-an-object",
        "no-message",
        "not-sns",
    ],
)
def test_events_that_cannot_be_recorded_are_ignored_and_never_raise(
    api: ApiCall, feedback: Feedback, db: Any, make: Any
) -> None:
    assert api({**BODY, "channels": ["email"], "recipients": ["u2"]})[0] == 200
    send_id = _send_id(api)

    result = feedback(make(send_id))

    assert (result["recorded"], result["ignored"]) == (0, 1)
    assert _counts(feedback.status(send_id), "email") == {"sent": 1}
    assert feedback.failures(send_id) == []
    assert "optOuts" not in db.users.find_one({"_id": "u2"})


def test_an_email_with_attachments_raw_mime_is_tagged_and_names_the_configuration_set_too(
    api: ApiCall, functions: dict[str, ModuleType], servers: Servers
) -> None:
    servers.files.files["notes.txt"] = b"notes"
    sent_params: list[dict[str, Any]] = []
    ses = functions["email"].ses
    ses.meta.events.register("provide-client-params.sesv2.SendEmail", lambda params, **_: sent_params.append(params))
    try:
        status, body = api({**BODY, "channels": ["email"], "recipients": ["u2"], "emailAttachments": ["notes.txt"]})
    finally:
        ses.meta.events.unregister("provide-client-params.sesv2.SendEmail")
        servers.files.files.pop("notes.txt", None)

    assert (status, body) == (200, {"failures": []})
    [params] = sent_params
    assert "Raw" in params["Content"]
    assert params["EmailTags"] == [{"Name": "sendId", "Value": _send_id(api)}, {"Name": "userId", "Value": "u2"}]
    assert params["ConfigurationSetName"] == SES_CONFIGURATION_SET


class _UnreachableRecords:
    def record_sync(self, *args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("DynamoDB unreachable")


class _UnreachableTable:
    records = _UnreachableRecords()


@pytest.mark.parametrize("sends", [None, _UnreachableTable()], ids=["no-sends-table", "table-unreachable"])
def test_a_synchronous_send_that_cannot_be_recorded_still_answers_200_with_its_id(
    api: ApiCall, functions: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch, sends: Any
) -> None:
    monkeypatch.setattr(functions["send"].parts, "sends", sends)

    status, body = api({**BODY, "channels": ["email"], "recipients": ["u2", "nobody"]})

    # The messages left: a retry would send them again, so the answer stands.
    assert status == 200
    assert body["failures"] == [{"userId": "nobody", "channel": "email", "error": "user not found"}]
    assert len(_send_id(api)) == 32


def test_an_event_arriving_before_the_answer_finds_the_send_and_counts(
    api: ApiCall, feedback: Feedback, invoker: InProcessInvoker, functions: dict[str, ModuleType]
) -> None:
    email = FUNCTION_NAMES["email"]
    real = invoker.handlers[email]
    results: list[dict[str, Any]] = []

    def delivered_at_once(event: dict[str, Any], context: Any) -> dict[str, Any]:
        answer = real(event, context)
        # SES reports the delivery while SendFunction is still dispatching (or answering).
        results.append(feedback(sns_event("ses-delivery", event["sendId"], event["messages"][0]["userId"])))
        return answer

    invoker.handlers[email] = delivered_at_once
    assert api({**BODY, "channels": ["email"], "recipients": ["u2"]})[0] == 200

    assert [result["recorded"] for result in results] == [1]
    assert _counts(feedback.status(_send_id(api)), "email") == {"sent": 1, "delivered": 1}


@pytest.mark.parametrize(
    ("stored", "after"),
    [
        ({"sms": True, "push": False}, {"sms", "email"}),  # an operator's object of channel -> true
        ("sms", {"email"}),  # unreadable as opt-outs: it named no channel, the user's wish replaces it
        (None, {"email"}),
        (7, {"email"}),
        (["sms"], {"sms", "email"}),
    ],
    ids=["object", "string", "null", "number", "list"],
)
def test_a_complaint_opts_the_user_out_whatever_shape_their_opt_outs_field_holds(
    api: ApiCall, feedback: Feedback, db: Any, stored: Any, after: set[str]
) -> None:
    assert api({**BODY, "channels": ["email"], "recipients": ["u2"]})[0] == 200
    send_id = _send_id(api)
    db.users.update_one({"_id": "u2"}, {"$set": {"optOuts": stored}})

    # A refused update of one odd document must not raise: Lambda would retry, then drop the
    # complaint (its count and failure) with it.
    result = feedback(sns_event("ses-complaint", send_id, "u2"))

    assert (result["recorded"], result["optedOut"]) == (1, 1)
    assert opted_out_channels(db.users.find_one({"_id": "u2"})["optOuts"]) == after
    assert _counts(feedback.status(send_id), "email") == {"sent": 1, "complained": 1}


def test_a_user_whose_opt_outs_parent_is_not_an_object_costs_only_their_own_opt_out(
    api: ApiCall, feedback: Feedback, functions: dict[str, ModuleType], db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # userFields.optOuts = "prefs.optOuts", and one document's `prefs` is a string: no update can
    # write below it. The event is still counted, and the function does not fail.
    preferences = functions["feedback"].preferences
    monkeypatch.setattr(preferences, "_opt_outs", "prefs.optOuts")
    assert api({**BODY, "channels": ["email"], "recipients": ["u2"]})[0] == 200
    send_id = _send_id(api)
    db.users.update_one({"_id": "u2"}, {"$set": {"prefs": "legacy"}})

    result = feedback(sns_event("ses-complaint", send_id, "u2"))

    assert (result["recorded"], result["optedOut"]) == (1, 0)
    assert db.users.find_one({"_id": "u2"})["prefs"] == "legacy"
    assert _counts(feedback.status(send_id), "email") == {"sent": 1, "complained": 1}


class _Conflicting:
    """The real DynamoDB client, whose first `times` calls of `operation` DynamoDB cancels because
    another transaction on the same item was in flight (as it does under a busy send's events)."""

    def __init__(self, real: Any, operation: str, times: int) -> None:
        self._real, self._operation, self.left = real, operation, times

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._real, name)
        if name != self._operation:
            return method

        def call(**kwargs: Any) -> Any:
            if self.left:
                self.left -= 1
                if name == "transact_write_items":
                    error = {"Code": "TransactionCanceledException", "Message": "[None, TransactionConflict]"}
                    reasons = [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "ongoing"}]
                    raise ClientError({"Error": error, "CancellationReasons": reasons}, name)
                raise ClientError({"Error": {"Code": "TransactionConflictException", "Message": "ongoing"}}, name)
            return method(**kwargs)

        return call


@pytest.mark.parametrize("where", ["event", "synchronous-record"])
def test_a_transaction_conflict_on_the_send_item_is_retried_not_an_error(
    api: ApiCall, feedback: Feedback, functions: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    table = (functions["feedback"].sends if where == "event" else functions["send"].parts.sends).table
    conflicting = _Conflicting(table.client, "transact_write_items" if where == "event" else "update_item", 2)
    monkeypatch.setattr(table, "client", conflicting)

    assert api({**BODY, "channels": ["email"], "recipients": ["u2"]})[0] == 200
    send_id = _send_id(api)
    result = feedback(sns_event("ses-bounce", send_id, "u2"))

    assert conflicting.left == 0
    assert result["recorded"] == 1
    status = feedback.status(send_id)
    assert status["status"] == "completed"
    assert _counts(status, "email") == {"sent": 1, "bounced": 1}


@pytest.mark.parametrize(
    "order",
    [
        ["ses-delivery", "ses-bounce", "ses-delivery", "ses-bounce"],  # the receiving server bounced it later
        ["ses-bounce", "ses-delivery", "ses-delivery"],  # SNS handed the delivery over late
    ],
    ids=["bounce-after-delivery", "delivery-after-bounce"],
)
def test_a_message_reported_delivered_and_bounced_counts_bounced_only(
    api: ApiCall, feedback: Feedback, order: list[str]
) -> None:
    assert api({**BODY, "channels": ["email"], "recipients": ["u2"]})[0] == 200
    send_id = _send_id(api)

    for sample in order:
        feedback(sns_event(sample, send_id, "u2", message_id="ses-u2"))

    # One message: bounced (its failure listed once), never also delivered.
    assert _counts(feedback.status(send_id), "email") == {"sent": 1, "bounced": 1}
    assert feedback.failures(send_id) == [{"userId": "u2", "channel": "email", "error": "bounced: Permanent/General"}]


def test_user_ids_beyond_end_user_messagings_context_limits_are_encoded_not_failed(
    api: ApiCall, feedback: Feedback, servers: Servers, db: Any
) -> None:
    """Issue 21: Context values are 1-800 characters without whitespace at either end (the stand-in
    refuses others, as End User Messaging does): such a user id must not fail its user."""
    spaced, unicode_long, too_long = " Ann with spaces ", "é" * 500, "w" * 801
    db.users.insert_many(
        [
            {"_id": spaced, "phoneNumber": "+393331110001", "clusters": ["context"]},
            {"_id": unicode_long, "phoneNumber": "+393331110002", "clusters": ["context"]},
            {"_id": too_long, "phoneNumber": "+393331110003", "clusters": ["context"]},
        ]
    )
    servers.eum.clear()

    status, body = api({**BODY, "channels": ["voice"], "clusters": ["context"]})

    assert status == 200, body
    assert body["failures"] == []
    send_id = _send_id(api)
    contexts = {m["DestinationPhoneNumber"]: m["Context"] for m in servers.eum.messages}
    assert len(contexts) == 3
    assert contexts["+393331110002"]["userId"] == unicode_long  # fits as it is
    assert contexts["+393331110001"]["userId"].startswith("b64-")
    assert "userId" not in contexts["+393331110003"]  # sent; no Context value can carry it
    # The encoded id comes back in the event and names the user again.
    event = provider_message("eum-text-carrier-unreachable") | {"eventType": "VOICE_FAILED", "messageId": "v-1"}
    event["context"] = contexts["+393331110001"]
    assert feedback(wrap(event))["recorded"] == 1
    assert feedback.failures(send_id) == [{"userId": spaced, "channel": "voice", "error": "undelivered: VOICE_FAILED"}]
