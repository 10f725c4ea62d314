"""Scheduled sends (`sendAt`) and cancels (DELETE /sends/{sendId}), against moto's EventBridge
Scheduler (which keeps schedules and fires nothing: local/scheduler.py fires the due ones, as
`make start` does), SecantusDB and the functions in-process."""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from bson import ObjectId

from local.scheduler import LocalScheduler
from tests.conftest import (
    APPOINTMENT_TEMPLATE,
    ATTACHMENTS_BUCKET,
    SCHEDULE_GROUP,
    SENDS_TABLE,
    Servers,
    get_event,
)
from tests.integration.async_sends import PATIENTS, Async, _emails
from tests.integration.test_observability import json_lines, logs
from tests.lambda_runtime import LambdaContext

__all__ = ["logs"]  # a fixture


def _at(seconds: float, offset_h: int = 0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.astimezone(timezone(timedelta(hours=offset_h))).isoformat(timespec="seconds")


def _delete(run: Async, send_id: str, caller: str | None = None) -> tuple[int, dict[str, Any]]:
    event = get_event(f"/sends/{send_id}")
    event["httpMethod"] = "DELETE"
    if caller:
        event["requestContext"]["identity"]["userArn"] = caller
    answer = run.send.lambda_handler(event, LambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


def _scheduler(run: Async, ahead_s: float = 0) -> LocalScheduler:
    """Fires due schedules into the dispatcher's queue, its clock `ahead_s` in the future."""
    return LocalScheduler(
        boto3.client("scheduler"),
        SCHEDULE_GROUP,
        run.queue,
        clock=lambda: datetime.now(UTC) + timedelta(seconds=ahead_s),
    )


def _schedules() -> list[str]:
    return [s["Name"] for s in boto3.client("scheduler").list_schedules(GroupName=SCHEDULE_GROUP)["Schedules"]]


def _counts_add_up(status: dict[str, Any]) -> None:
    for counts in status["channels"].values():
        total = counts["sent"] + counts["failed"] + counts["skipped"] + counts["pending"] + counts["cancelled"]
        assert total == status["audience"] + status["notFound"], counts


@pytest.fixture
def clear_schedules() -> None:
    client = boto3.client("scheduler")
    for name in _schedules():
        client.delete_schedule(Name=name, GroupName=SCHEDULE_GROUP)


@pytest.mark.usefixtures("clear_schedules")
def test_a_scheduled_send_runs_when_its_schedule_fires_with_the_texts_accepted_and_the_audience_of_then(
    run: Async, servers: Servers, db: Any
) -> None:
    body: dict[str, Any] = {
        "channels": ["email"],
        "clusters": ["patients"],
        "templateId": APPOINTMENT_TEMPLATE,
        "data": {"appointmentDate": "2026-12-07T09:00:00Z", "note": "bring your card"},
    }
    status_code, answer = run.api({**body, "sendAt": _at(3600, offset_h=1)})

    assert status_code == 202, answer
    send_id = answer["sendId"]
    expected_at = datetime.now(UTC) + timedelta(seconds=3600)
    assert answer["status"] == "scheduled"
    assert answer["sendAt"].endswith("Z")
    assert abs(datetime.fromisoformat(answer["sendAt"]) - expected_at) < timedelta(seconds=5)
    assert run.api.last["multiValueHeaders"]["Location"] == [f"/sends/{send_id}"]
    scheduled = run.status(send_id)
    assert (scheduled["status"], scheduled["sendAt"]) == ("scheduled", answer["sendAt"])
    assert scheduled["audience"] == scheduled["notFound"] == 0
    assert all(value == 0 for counts in scheduled["channels"].values() for value in counts.values())
    schedule = boto3.client("scheduler").get_schedule(Name=send_id, GroupName=SCHEDULE_GROUP)
    assert schedule["ScheduleExpression"] == f"at({answer['sendAt'][:-1]})"
    assert (schedule["FlexibleTimeWindow"], schedule["ActionAfterCompletion"]) == ({"Mode": "OFF"}, "DELETE")
    assert json.loads(schedule["Target"]["Input"])["sendId"] == send_id
    assert "DeadLetterConfig" in schedule["Target"]
    assert "RetryPolicy" in schedule["Target"]

    # After acceptance: the template is edited, a user joins the cluster.
    db.templates.update_one({"_id": ObjectId(APPOINTMENT_TEMPLATE)}, {"$set": {"emailTitle": "EDITED"}})
    db.users.insert_one({"_id": "late", "name": "Lea", "emailAddress": "lea@example.com", "clusters": ["patients"]})

    assert _scheduler(run, ahead_s=60).fire_due() == []  # not due yet: nothing is sent
    run.drain()
    assert servers.outbox.emails() == []
    assert run.status(send_id)["status"] == "scheduled"

    assert _scheduler(run, ahead_s=3600).fire_due() == [send_id]
    run.drain()

    status = run.status(send_id)
    assert status["status"] == "completed"
    assert _emails(servers) == {"ann@example.com": 1, "bob@example.com": 1, "lea@example.com": 1}
    assert {email["subject"] for email in servers.outbox.emails()} == {
        "Appointment for Ann",
        "Appointment for Bob",
        "Appointment for Lea",
    }
    assert status["channels"]["email"]["sent"] == 3
    assert status["channels"]["email"]["cancelled"] == 0
    _counts_add_up(status)
    assert _schedules() == []  # deleted once it ran


@pytest.mark.parametrize(
    ("send_at", "reason"),
    [
        ("2026-12-07T09:00:00", "offset"),
        ("next tuesday", "RFC 3339"),
        ("2020-01-01T00:00:00Z", "in the past"),
        ("2099-01-01T00:00:00Z", "365 days ahead"),
    ],
)
@pytest.mark.usefixtures("clear_schedules")
def test_a_refused_send_at_is_a_400_naming_it_and_schedules_nothing(
    run: Async, servers: Servers, send_at: str, reason: str
) -> None:
    status_code, answer = run.api({**PATIENTS, "sendAt": send_at})
    assert status_code == 400
    assert answer["message"].startswith("sendAt")
    assert reason in answer["message"]
    assert _schedules() == []
    assert run.queue.launched == []
    assert servers.outbox.emails() == []


@pytest.mark.usefixtures("clear_schedules")
def test_send_at_just_past_is_sent_now_and_with_an_idempotency_key_one_schedule_is_made(
    run: Async, servers: Servers
) -> None:
    status_code, answer = run.api({**PATIENTS, "sendAt": _at(-30)})
    assert (status_code, answer["status"]) == (202, "accepted")
    run.drain()
    assert run.status(answer["sendId"])["status"] == "completed"
    assert _emails(servers) == {"ann@example.com": 1, "bob@example.com": 1}

    later = {**PATIENTS, "sendAt": _at(600)}
    first = run.api(later, headers={"Idempotency-Key": "reminder-42"})
    again = run.api(later, headers={"Idempotency-Key": "reminder-42"})
    assert first == again
    assert first[0] == 202
    assert first[1]["status"] == "scheduled"
    assert _schedules() == [first[1]["sendId"]]


@pytest.mark.usefixtures("clear_schedules")
def test_a_cancelled_scheduled_send_sends_nothing_even_if_its_schedule_fires_after_the_cancel(
    run: Async, servers: Servers
) -> None:
    _, answer = run.api({**PATIENTS, "sendAt": _at(120)})
    send_id = answer["sendId"]

    assert _delete(run, send_id, caller="arn:aws:iam::999999999999:user/other")[0] == 404
    assert _delete(run, "no-such-send")[0] == 404
    status_code, cancelled = _delete(run, send_id)
    assert (status_code, cancelled["status"]) == (200, "cancelled")
    assert cancelled["completedAt"] is not None
    assert _schedules() == []  # its schedule deleted
    assert _delete(run, send_id) == (200, cancelled)  # a repeated cancel answers the same
    # Its job is deleted with it, not kept the bucket's year under scheduled/.
    listed = boto3.client("s3").list_objects_v2(Bucket=ATTACHMENTS_BUCKET, Prefix=f"scheduled/{send_id}/")
    assert listed["KeyCount"] == 0

    # A schedule that fired anyway (EventBridge delivered it as the cancel was being recorded).
    run.queue("DispatchFunction", {"sendId": send_id, "scheduled": True})
    run.drain()
    assert servers.outbox.emails() == []
    assert run.status(send_id)["status"] == "cancelled"
    _counts_add_up(run.status(send_id))


@pytest.mark.usefixtures("clear_schedules")
def test_a_cancel_racing_the_fire_leaves_one_winner_and_nothing_sent_twice(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The schedule fires and, while DispatchFunction plans, DELETE arrives (twice)."""
    _, answer = run.api({**PATIENTS, "sendAt": _at(120)})
    send_id = answer["sendId"]
    sends = run.dispatch.dispatcher.sends
    release = sends.objects.release_scheduled_job
    answers: list[tuple[int, dict[str, Any]]] = []

    def cancelled_meanwhile(sid: str) -> bool:
        released: bool = release(sid)
        answers.append(_delete(run, send_id))
        answers.append(_delete(run, send_id))
        return released

    monkeypatch.setattr(sends.objects, "release_scheduled_job", cancelled_meanwhile)
    assert _scheduler(run, ahead_s=120).fire_due() == [send_id]
    run.drain()

    assert [(code, body["status"]) for code, body in answers] == [(200, "cancelled"), (200, "cancelled")]
    assert run.status(send_id)["status"] == "cancelled"
    assert servers.outbox.emails() == []

    # The other order: the fire planned it first; the cancel then waits for what is in flight.
    _, answer = run.api({**PATIENTS, "sendAt": _at(120)})
    second = answer["sendId"]
    _scheduler(run, ahead_s=120).fire_due()
    run.drain(limit=1)  # planned: running
    code, body = _delete(run, second)
    assert (code, body["status"]) == (200, "cancelling")
    run.drain()
    status = run.status(second)
    assert status["status"] == "cancelled"
    assert status["channels"]["email"]["cancelled"] == 3  # Ann, Bob, Dora: not one batch started
    _counts_add_up(status)
    assert servers.outbox.emails() == []
    assert _delete(run, second)[0] == 200


def test_a_finished_or_synchronous_send_cannot_be_cancelled(run: Async, servers: Servers) -> None:
    _, answer = run.post(PATIENTS)
    run.drain()
    code, body = _delete(run, answer["sendId"])
    assert (code, body["message"]) == (409, "sendId: the send is already completed")

    code, _ = run.api(PATIENTS)  # synchronous: answered 200, its id in X-Send-Id
    sync_id = run.api.last["multiValueHeaders"]["X-Send-Id"][0]
    code, body = _delete(run, sync_id)
    assert code == 409
    assert "synchronous" in body["message"]


def _invoke_counting(run: Async, on_invoke: Callable[[int], None]) -> list[tuple[int, str]]:
    """Wraps the dispatcher's invoker: every batch invoke numbered (number, batchId) as it starts."""
    engine = run.dispatch.dispatcher
    inner = engine.invoker
    started: list[tuple[int, str]] = []

    def invoke(function_name: str, payload: bytes) -> bytes:
        started.append((len(started) + 1, json.loads(payload)["batchId"]))
        on_invoke(len(started))
        return bytes(inner(function_name, payload))

    engine.invoker = invoke
    return started


LARGE = 20_000


def test_cancelling_a_20000_user_send_mid_dispatch_stops_every_batch_not_in_flight(
    run: Async, servers: Servers, db: Any
) -> None:
    db.users.insert_many(
        [
            {"_id": f"m{i:05d}", "name": f"M{i}", "emailAddress": f"m{i}@example.com", "clusters": ["many"]}
            | ({"phoneNumber": f"+3935{i:08d}"} if i % 2 else {})
            for i in range(LARGE)
        ]
    )
    _, answer = run.post(
        {"channels": ["email", "sms"], "clusters": ["many"], "messageTitle": "t", "messageContent": "x"}
    )
    send_id = answer["sendId"]
    cancels: list[tuple[int, dict[str, Any]]] = []
    cancelled_after: list[int] = []

    def cancel_at_the_third(number: int) -> None:
        if number == 3:
            cancels.append(_delete(run, send_id))  # recorded while this batch is in flight
            cancelled_after.append(number)

    started = _invoke_counting(run, cancel_at_the_third)
    run.drain()

    assert [(code, body["status"]) for code, body in cancels] == [(200, "cancelling")]
    status = run.status(send_id)
    assert status["status"] == "cancelled"
    assert status["completedAt"] is not None
    assert status["audience"] == LARGE
    _counts_add_up(status)
    email, sms = status["channels"]["email"], status["channels"]["sms"]
    assert email["pending"] == sms["pending"] == 0
    # Only the batches already started when the cancel was recorded went after it.
    in_flight = run.dispatch.dispatcher.settings.max_parallel_invokes
    assert 3 <= len(started) <= cancelled_after[0] + in_flight - 1
    sent = len(servers.outbox.emails()) + len(servers.outbox.sms())
    assert email["sent"] + sms["sent"] == sent > 0
    assert email["failed"] == sms["failed"] == 0
    assert email["cancelled"] == LARGE - email["sent"]
    assert sms["cancelled"] + sms["skipped"] == LARGE - sms["sent"]
    assert email["cancelled"] > LARGE - 10 * run.dispatch.dispatcher.settings.batch_max_messages
    assert _delete(run, send_id)[1]["status"] == "cancelled"


@pytest.mark.usefixtures("clear_schedules")
def test_a_send_scheduled_a_year_ahead_keeps_everything_it_needs_until_it_runs(run: Async, servers: Servers) -> None:
    servers.files.files["data.csv"] = b"a,b\n1,2\n"
    body = {**PATIENTS, "emailAttachments": ["data.csv"], "sendAt": _at(364 * 24 * 3600)}
    status_code, answer = run.api(body)
    assert status_code == 202, answer
    send_id = answer["sendId"]
    send_at = datetime.fromisoformat(answer["sendAt"])

    # Its records expire SENDS_TTL_DAYS after sendAt, not after now.
    item = boto3.client("dynamodb").get_item(
        TableName=SENDS_TABLE, Key={"pk": {"S": send_id}, "sk": {"S": "send"}}, ConsistentRead=True
    )["Item"]
    assert int(item["expiration"]["N"]) >= send_at.timestamp() + 7 * 24 * 3600
    # Its request and attachment wait under scheduled/ (the bucket keeps it 374 days), not where
    # asynchronous sends' objects last 8.
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=ATTACHMENTS_BUCKET)["Contents"]]
    mine = [key for key in keys if key.startswith("scheduled/")]
    assert f"scheduled/{send_id}/request.json" in mine
    assert any(key.startswith("scheduled/attachments/") for key in mine)
    assert not any(key.startswith(f"sends/{send_id}/") for key in keys)

    assert _scheduler(run, ahead_s=364 * 24 * 3600 + 60).fire_due() == [send_id]
    run.drain()
    assert run.status(send_id)["status"] == "completed"
    raws = servers.outbox.raw_emails()
    assert len(raws) == 2
    assert all("data.csv" in raw["raw_data"] for raw in raws)


@pytest.mark.usefixtures("clear_schedules")
def test_a_cancelled_scheduled_send_leaves_no_job_or_attachment_behind(run: Async, servers: Servers) -> None:
    servers.files.files["plan.pdf"] = b"%PDF-1.4 plan"
    _, answer = run.api({**PATIENTS, "emailAttachments": ["plan.pdf"], "sendAt": _at(30 * 24 * 3600)})
    send_id = answer["sendId"]
    s3 = boto3.client("s3")
    stored = s3.get_object(Bucket=ATTACHMENTS_BUCKET, Key=f"scheduled/{send_id}/request.json")
    job = json.loads(zlib.decompress(stored["Body"].read()))
    mine = [f"scheduled/{send_id}/request.json", *(file["key"] for file in job["envelopes"]["email"]["attachments"])]
    assert mine[1].startswith("scheduled/attachments/")

    assert _delete(run, send_id)[1]["status"] == "cancelled"
    left = {o["Key"] for o in s3.list_objects_v2(Bucket=ATTACHMENTS_BUCKET, Prefix="scheduled/").get("Contents", [])}
    assert left.isdisjoint(mine)
    # A schedule that fires anyway finds the send cancelled and its job gone: nothing sent, no error.
    run.queue("DispatchFunction", {"sendId": send_id, "scheduled": True})
    run.drain()
    assert servers.outbox.raw_emails() == []
    assert run.status(send_id)["status"] == "cancelled"


@pytest.mark.usefixtures("clear_schedules")
def test_a_cancel_that_discards_the_job_as_the_schedule_fires_ends_the_fire_quietly(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dispatcher read the send as scheduled; the cancel lands and deletes the job before it is released."""
    _, answer = run.api({**PATIENTS, "sendAt": _at(120)})
    send_id = answer["sendId"]
    objects = run.dispatch.dispatcher.sends.objects
    release = objects.release_scheduled_job

    def cancelled_first(sid: str) -> bool:
        assert _delete(run, sid)[1]["status"] == "cancelled"
        released: bool = release(sid)
        return released

    monkeypatch.setattr(objects, "release_scheduled_job", cancelled_first)
    assert _scheduler(run, ahead_s=120).fire_due() == [send_id]
    run.drain()
    assert run.queue.errors == []  # the fire did not fail on the missing job (Lambda retries, an alarm)
    assert run.status(send_id)["status"] == "cancelled"
    assert servers.outbox.emails() == []


@pytest.mark.usefixtures("clear_schedules")
def test_a_cancel_whose_deletions_are_partly_refused_says_so_in_the_log(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch, logs: io.StringIO
) -> None:
    """S3's DeleteObjects answers 200 with an error per key it could not delete (AccessDenied when a
    grant misses a prefix): an operator must see that the objects stay the bucket's year."""
    servers.files.files["plan.pdf"] = b"%PDF-1.4 plan"
    _, answer = run.api({**PATIENTS, "emailAttachments": ["plan.pdf"], "sendAt": _at(30 * 24 * 3600)})
    send_id = answer["sendId"]
    s3 = run.send.parts.sends.objects._s3

    def refused(**kwargs: Any) -> dict[str, Any]:
        keys = [o["Key"] for o in kwargs["Delete"]["Objects"]]
        return {"Errors": [{"Key": key, "Code": "AccessDenied", "Message": "Access Denied"} for key in keys]}

    monkeypatch.setattr(s3, "delete_objects", refused)
    assert _delete(run, send_id)[1]["status"] == "cancelled"
    warnings = [line for line in json_lines(logs.getvalue()) if line.get("level") == "WARNING"]
    assert [(w["message"], w["sendId"], w["objects"]) for w in warnings] == [
        ("a cancelled send's objects were left to expire", send_id, 2)
    ]
