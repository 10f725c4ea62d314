"""`Prefer: respond-async`: 202, the status resource, exactly-once batches, paced and retried
providers. SendFunction, DispatchFunction and the channel functions run in-process against moto
(DynamoDB, S3, SES, SNS) and SecantusDB; DispatchFunction's `Event` invokes go through a queue
that retries a failed invocation as Lambda does."""

from __future__ import annotations

import itertools
import json
import uuid
from collections import Counter
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from messaging.dispatch import BatchOutcomeUnknownError
from messaging.sends import DETAILS
from tests.conftest import DISPATCH_FUNCTION_NAME, EVE_ID, ApiCall, Servers, get_event
from tests.integration.test_observability import emf_values, json_lines
from tests.lambda_runtime import EventQueue, InProcessInvoker, LambdaContext, SandboxCrash

# The delivery and skip-reason counts, none of which these sends move.
NO_DETAILS = dict.fromkeys(DETAILS, 0)
CROWD = 1_200  # users in the "crowd" cluster: 3 segments of 500 at most
ASYNC = {"Prefer": "respond-async"}
BODY = {
    "channels": ["email", "sms", "push"],
    "clusters": ["crowd"],
    "recipients": ["u1", "ghost-1", "ghost-2"],
    "messageTitle": "Hi {{user.name}}",
    "messageContent": "Hello {{user.name}}",
}


def _crowd(n: int) -> list[dict[str, Any]]:
    users = []
    for i in range(n):
        user: dict[str, Any] = {"_id": f"c{i:05d}", "name": f"C{i}", "clusters": ["crowd"]}
        if i % 4 != 3:
            user["emailAddress"] = f"c{i}@example.com"
        if i % 2 == 0:
            user["phoneNumber"] = f"+3934{i:08d}"
        if i % 10 == 0:
            user["deviceToken"] = f"tok-c{i}"
        users.append(user)
    return users


class Async:
    """POST /send with Prefer, the dispatcher's queue, and the two GET routes."""

    def __init__(self, api: ApiCall, send: ModuleType, dispatch: ModuleType, queue: EventQueue) -> None:
        self.api = api
        self.send = send
        self.dispatch = dispatch
        self.queue = queue

    def post(self, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        return self.api(body if body is not None else BODY, headers={**ASYNC, **(headers or {})})

    def get(
        self,
        path: str,
        query: dict[str, str] | None = None,
        caller: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        event = get_event(path, query, headers)
        if caller:
            event["requestContext"]["identity"]["userArn"] = caller
        answer = self.send.lambda_handler(event, LambdaContext())
        return answer["statusCode"], json.loads(answer["body"])

    def status(self, send_id: str) -> dict[str, Any]:
        code, body = self.get(f"/sends/{send_id}")
        assert code == 200, body
        return dict(body)

    def failures(self, send_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        everything: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query = {"limit": str(limit), **({"nextToken": token} if token else {})}
            code, body = self.get(f"/sends/{send_id}/failures", query)
            assert code == 200, body
            everything += body["failures"]
            token = body["nextToken"]
            if token is None:
                return everything

    def drain(self, **kwargs: Any) -> int:
        return self.queue.drain(self.dispatch.lambda_handler, on_failure=self.dispatch.lambda_handler, **kwargs)


@pytest.fixture
def crowd(db: Any) -> list[dict[str, Any]]:
    users = _crowd(CROWD)
    db.users.insert_many([dict(user) for user in users])
    return users


@pytest.fixture
def run(
    api: ApiCall,
    functions: dict[str, ModuleType],
    invoker: InProcessInvoker,
    monkeypatch: pytest.MonkeyPatch,
) -> Async:
    send, dispatch = functions["send"], functions["dispatch"]
    queue = EventQueue()
    monkeypatch.setattr(send.parts, "launcher", queue)
    engine = dispatch.engine
    monkeypatch.setattr(engine, "launcher", queue)
    # A generous function timeout: on a loaded machine a 10 s one would turn batches unknown.
    monkeypatch.setattr(engine, "invoker", InProcessInvoker(invoker.handlers, timeout_s=60))
    monkeypatch.setattr(engine, "sleep", lambda seconds: None)
    monkeypatch.setattr(engine, "settings", engine.settings.model_copy(update={"segment_users": 500}))
    return Async(api, send, dispatch, queue)


def _expected(users: list[dict[str, Any]]) -> dict[str, set[str]]:
    return {
        "email": {u["emailAddress"] for u in users if "emailAddress" in u},
        "sms": {u["phoneNumber"] for u in users if "phoneNumber" in u},
        "push": {u["deviceToken"] for u in users if "deviceToken" in u},
    }


def _assert_exactly_once(servers: Servers, users: list[dict[str, Any]]) -> None:
    expected = _expected(users)
    emails = Counter(e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails())
    sms = Counter(s["phone_number"] for s in servers.outbox.sms())
    pushes = Counter(m["message"]["token"] for m in servers.fcm.messages)
    assert set(emails) == expected["email"]
    assert max(emails.values()) == 1
    assert set(sms) == expected["sms"]
    assert max(sms.values()) == 1
    assert set(pushes) == expected["push"]
    assert max(pushes.values()) == 1


def _core(counts: dict[str, int]) -> dict[str, int]:
    """The counts that add up to the audience (skipped's and sent's parts, by reason, aside)."""
    return {name: counts[name] for name in ("sent", "failed", "skipped", "pending") if name in counts}


def _assert_counts_add_up(status: dict[str, Any]) -> None:
    for counts in status["channels"].values():
        assert counts["sent"] + counts["failed"] + counts["skipped"] + counts["pending"] == (
            status["audience"] + status["notFound"]
        )


def _metric_sums(out: str) -> dict[tuple[str, str], float]:
    """(metric, channel or "") -> the sum of every value the functions published (EMF on stdout)."""
    sums: dict[tuple[str, str], float] = {}
    for (name, dimensions), values in emf_values(json_lines(out)).items():
        channel = dict(dimensions).get("channel", "")
        if set(dict(dimensions)) <= {"channel"}:
            sums[(name, channel)] = sums.get((name, channel), 0) + sum(values)
    return sums


def test_a_respond_async_send_is_accepted_then_completes_with_every_user_once(
    run: Async, crowd: list[dict[str, Any]], servers: Servers, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    status_code, body = run.post()

    assert status_code == 202
    send_id = body["sendId"]
    assert body == {"sendId": send_id, "status": "accepted"}
    headers = run.api.last["multiValueHeaders"]
    assert headers["Location"] == [f"/sends/{send_id}"]
    assert headers["Preference-Applied"] == ["respond-async"]
    assert servers.outbox.emails() == []  # nothing sent before the dispatcher runs
    accepted = run.status(send_id)
    assert accepted["status"] == "accepted"
    _assert_counts_add_up(accepted)

    run.drain()
    _debug_errors(run)

    status = run.status(send_id)
    users = [*crowd, {"emailAddress": "ann@example.com", "phoneNumber": "+393330000001", "deviceToken": "tok-ann"}]
    assert status["status"] == "completed"
    assert status["completedAt"] is not None
    assert (status["audience"], status["notFound"]) == (CROWD + 1, 2)
    expected = _expected(users)
    assert {channel: _core(counts) for channel, counts in status["channels"].items()} == {
        channel: {
            "sent": len(expected[channel]),
            "failed": 2,
            "skipped": CROWD + 1 - len(expected[channel]),
            "pending": 0,
        }
        for channel in ("email", "sms", "push")
    }
    _assert_exactly_once(servers, users)
    # The operator's metrics (alarms, dashboard) say what the status says, each batch counted once.
    metrics = _metric_sums(capsys.readouterr().out)
    for channel, counts in status["channels"].items():
        assert metrics[("MessagesSent", channel)] == counts["sent"], channel
        assert metrics[("MessagesFailed", channel)] == counts["failed"], channel
        assert metrics[("MessagesSkipped", channel)] == counts["skipped"], channel
    owed = (status["audience"] + status["notFound"]) * len(status["channels"])
    assert metrics[("AsyncMessagesPlanned", "")] == metrics[("AsyncMessagesHandled", "")] == owed
    failures = run.failures(send_id, limit=4)  # pages of 4: ghosts on three channels
    assert sorted((f["userId"], f["channel"], f["error"]) for f in failures) == sorted(
        (ghost, channel, "user not found") for ghost in ("ghost-1", "ghost-2") for channel in ("email", "sms", "push")
    )


def test_the_status_shows_progress_and_always_adds_up(run: Async, crowd: list[dict[str, Any]]) -> None:
    _, body = run.post({**BODY, "recipients": None})
    send_id = body["sendId"]
    seen = []
    while run.queue.events:
        run.drain(limit=1)
        status = run.status(send_id)
        _assert_counts_add_up(status)
        seen.append((status["status"], status["channels"]["email"]["pending"]))
    assert seen[0][0] == "running"  # planned: the audience is counted, nothing sent yet
    assert seen[0][1] == CROWD
    assert any(state == "running" and 0 < pending < CROWD for state, pending in seen)
    assert seen[-1] == ("completed", 0)


def test_a_retry_with_the_same_idempotency_key_answers_the_same_send_and_starts_nothing(
    run: Async, crowd: list[dict[str, Any]]
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = run.post(headers=key)
    second = run.post(headers=key)

    assert first == second
    assert first[0] == 202
    assert len(run.queue.launched) == 1


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({**BODY, "channels": ["fax"]}, 400, "channels"),
        ({**BODY, "templateId": "65f0000000000000000000ff", "messageTitle": None}, 404, "templateId"),
        ({**BODY, "messageContent": "{{#if x}}unclosed"}, 400, "messageContent"),
        ({**BODY, "emailAttachments": ["missing.pdf"]}, 400, "missing.pdf"),
    ],
)
def test_what_can_refuse_refuses_before_the_202_and_nothing_starts(
    run: Async, crowd: list[dict[str, Any]], body: dict[str, Any], status: int, message: str
) -> None:
    code, answer = run.post(body)

    assert code == status, answer
    assert message in answer["message"]
    assert run.queue.launched == []


def test_an_unreachable_database_is_a_503_before_the_202(
    run: Async, functions: dict[str, ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    from messaging.store import MongoStore

    monkeypatch.setattr(
        functions["send"].parts,
        "store",
        MongoStore.connect("mongodb://127.0.0.1:1/", "messaging", "users", "templates", 300),
    )
    for body in (BODY, {**BODY, "recipients": None}):  # recipients, or clusters only
        code, answer = run.post(body)
        assert (code, answer["error"]) == (503, "Service Unavailable")
        assert answer["message"].startswith("database unreachable")
    assert run.queue.launched == []


def test_a_synchronous_send_over_sync_max_audience_is_a_400_naming_respond_async(
    api: ApiCall,
    functions: dict[str, ModuleType],
    crowd: list[dict[str, Any]],
    servers: Servers,
    invoker: InProcessInvoker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    send = functions["send"]
    monkeypatch.setattr(send.parts, "settings", send.parts.settings.model_copy(update={"sync_max_audience": 1_000}))

    status, body = api(BODY)

    assert (status, body["error"]) == (400, "Bad Request")
    assert "SYNC_MAX_AUDIENCE (1000 users)" in body["message"]
    assert "Prefer: respond-async" in body["message"]
    assert invoker.payloads == []
    assert servers.outbox.emails() == []


def test_an_unknown_or_another_callers_send_is_a_404(run: Async, crowd: list[dict[str, Any]]) -> None:
    assert run.get(f"/sends/{uuid.uuid4().hex}")[0] == 404
    code, body = run.get(f"/sends/{uuid.uuid4().hex}/failures")
    assert (code, body["statusCode"], body["error"]) == (404, "404", "Not Found")
    _, accepted = run.post()
    assert run.get(f"/sends/{accepted['sendId']}", caller="arn:aws:iam::123456789012:user/someone-else")[0] == 404
    assert run.get(f"/sends/{accepted['sendId']}/failures", {"nextToken": "garbage"})[0] == 400


def test_an_idempotency_key_on_a_status_read_is_ignored(run: Async, crowd: list[dict[str, Any]]) -> None:
    # A client that sends one key with every call must still see each send's own, current status.
    _, first = run.post()
    _, second = run.post({**BODY, "messageContent": "another"})
    key = {"Idempotency-Key": str(uuid.uuid4())}

    one = run.get(f"/sends/{first['sendId']}", headers=key)
    other = run.get(f"/sends/{second['sendId']}", headers=key)

    assert (one[0], one[1]["sendId"]) == (200, first["sendId"])
    assert (other[0], other[1]["sendId"]) == (200, second["sendId"])


class Calls:
    """Numbers calls made from several threads, each exactly once."""

    def __init__(self) -> None:
        self._count = itertools.count(1)

    def next(self) -> int:
        return next(self._count)  # atomic under the GIL


def _crash_once_at(count: int, target: Callable[..., Any]) -> Callable[..., Any]:
    calls = Calls()

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if calls.next() == count:
            raise SandboxCrash(f"killed at call {count}")
        return target(*args, **kwargs)

    return wrapped


def test_a_dispatcher_killed_mid_segment_is_resumed_by_the_retry_with_no_duplicate_and_no_loss(
    run: Async, crowd: list[dict[str, Any]], servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = run.dispatch.engine
    # Killed after the 4th batch's invoke answered, before its checkpoint: the channel function sent it.
    monkeypatch.setattr(engine.sends, "finish_batch", _crash_once_at(4, engine.sends.finish_batch))
    # And later while a batch's invoke is in flight: the channel function runs it, no answer is read.
    real_invoker = engine.invoker

    def dying_invoker(function_name: str, payload: bytes) -> bytes:
        answer = real_invoker(function_name, payload)
        return bytes(crash(answer))

    crash = _crash_once_at(20, lambda answer: answer)
    monkeypatch.setattr(engine, "invoker", dying_invoker)
    _, body = run.post()

    run.drain()  # each killed invocation is run again by the queue, as Lambda retries it

    assert sum(isinstance(error, SandboxCrash) for error in run.queue.errors) == 2
    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    _assert_counts_add_up(status)
    users = [*crowd, {"emailAddress": "ann@example.com", "phoneNumber": "+393330000001", "deviceToken": "tok-ann"}]
    _assert_exactly_once(servers, users)
    failures = run.failures(body["sendId"])
    assert Counter((f["userId"], f["channel"]) for f in failures).most_common(1)[0][1] == 1
    # The resumed batches answered their first result: no user is unknown, none lost.
    assert sorted({f["error"] for f in failures}) == ["user not found"]
    assert status["channels"]["email"]["sent"] == len(_expected(users)["email"])


def test_a_dropped_invoke_connection_reports_its_users_unknown_never_sent_twice(
    run: Async, crowd: list[dict[str, Any]], servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_invoker = run.dispatch.engine.invoker
    calls = Calls()

    def dropping(function_name: str, payload: bytes) -> bytes:
        number = calls.next()
        answer = real_invoker(function_name, payload)
        if number == 3:
            raise BatchOutcomeUnknownError("ReadTimeoutError: connection dropped")
        return bytes(answer)

    monkeypatch.setattr(run.dispatch.engine, "invoker", dropping)
    _, body = run.post({**BODY, "recipients": None, "channels": ["email"]})
    run.drain()

    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    _assert_counts_add_up(status)
    failures = run.failures(body["sendId"])
    unknown = [f for f in failures if f["error"].startswith("unknown: email batch outcome unknown")]
    assert len(unknown) == len(failures) == status["channels"]["email"]["failed"] > 0
    emails = Counter(e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails())
    assert max(emails.values()) == 1
    assert len(emails) == len(_expected(crowd)["email"])  # the dropped batch was sent, once


def test_throttled_messages_are_retried_later_not_failed(
    run: Async,
    crowd: list[dict[str, Any]],
    servers: Servers,
    functions: dict[str, ModuleType],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    email = functions["email"]
    real_ses = email.ses
    calls = Calls()

    throttled: set[str] = set()

    class ThrottlingSes:
        def send_email(self, **kwargs: Any) -> Any:
            to = kwargs["Destination"]["ToAddresses"][0]
            # Every third call is refused once for its address (SES's rate exceeded): each retry then goes
            # through, so the outcome does not depend on how concurrent calls interleave.
            if calls.next() % 3 == 0 and to not in throttled:
                throttled.add(to)
                raise ClientError(
                    {"Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded."}},
                    "SendEmail",
                )
            return real_ses.send_email(**kwargs)

    monkeypatch.setattr(email, "ses", ThrottlingSes())
    _, body = run.post({**BODY, "recipients": None, "channels": ["email"]})
    run.drain()

    status = run.status(body["sendId"])
    expected = _expected(crowd)["email"]
    assert _core(status["channels"]["email"]) == {
        "sent": len(expected),
        "failed": 0,
        "skipped": CROWD - len(expected),
        "pending": 0,
    }
    emails = Counter(e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails())
    assert set(emails) == expected
    assert max(emails.values()) == 1
    retries = [payload["batchId"] for payload in run.dispatch.engine.invoker.payloads if "-r" in payload["batchId"]]
    assert retries  # the throttled ones went again, in batches of their own
    assert _metric_sums(capsys.readouterr().out)[("ThrottledRetries", "email")] == len(throttled)


def test_a_send_whose_dispatcher_gave_up_ends_failed_with_its_pending_users_listed(
    run: Async,
    crowd: list[dict[str, Any]],
    servers: Servers,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    engine = run.dispatch.engine
    real = engine._dispatch_segment

    def broken(send_id: str, segment: int, *rest: Any) -> bool:
        if segment == 1:
            raise RuntimeError("segment 1 always fails")
        return bool(real(send_id, segment, *rest))

    monkeypatch.setattr(engine, "_dispatch_segment", broken)
    _, body = run.post({**BODY, "recipients": None, "channels": ["email"]})
    run.drain()

    status = run.status(body["sendId"])
    assert status["status"] == "failed"
    assert status["channels"]["email"]["pending"] == 0
    _assert_counts_add_up(status)
    failures = run.failures(body["sendId"])
    gave_up = {f["userId"] for f in failures if f["error"] == "not attempted: the dispatcher gave up"}
    assert gave_up == {f"c{i:05d}" for i in range(500, 1_000)}  # segment 1, every user, whatever its address
    sent = {e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails()}
    assert not any(f"c{i}@example.com" in sent for i in range(500, 1_000))
    # The users given up on are counted for the operator too: every planned message is handled.
    metrics = _metric_sums(capsys.readouterr().out)
    assert metrics[("MessagesFailed", "email")] == status["channels"]["email"]["failed"]
    assert metrics[("AsyncMessagesHandled", "")] == metrics[("AsyncMessagesPlanned", "")] == status["audience"]


def test_two_planning_runs_of_one_send_over_a_changing_audience_send_to_every_user_once(
    run: Async, crowd: list[dict[str, Any]], servers: Servers, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The planning event repeated (a Lambda retry, or botocore repeating the Event invoke): the
    # second run streams the audience, and wins, while the first is between its segments; the
    # audience changed in between, which moves every segment boundary after the change by one.
    engine = run.dispatch.engine
    real_put = engine.sends.put_json
    interleaved: list[str] = []

    def put_json(send_id: str, name: str, value: Any) -> None:
        real_put(send_id, name, value)
        if "segments/" in name and not interleaved:
            interleaved.append(name)
            db.users.update_one({"_id": "c00010"}, {"$set": {"clusters": []}})  # left the cluster
            db.users.insert_many(
                [
                    {"_id": "c99999", "name": "New", "emailAddress": "new@example.com", "clusters": ["crowd"]},
                    {"_id": "ghost-1", "name": "Found", "emailAddress": "ghost1@example.com"},  # a recipient now
                ]
            )
            engine.plan(send_id, None)

    monkeypatch.setattr(engine.sends, "put_json", put_json)
    _, body = run.post()
    run.drain()
    _debug_errors(run)

    assert interleaved  # the second run did go between the first's segments
    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    assert (status["audience"], status["notFound"]) == (CROWD + 2, 1)  # as the winning run counted it
    _assert_counts_add_up(status)
    users = [
        *(user for user in crowd if user["_id"] != "c00010"),
        {"emailAddress": "new@example.com"},
        {"emailAddress": "ghost1@example.com"},
        {"emailAddress": "ann@example.com", "phoneNumber": "+393330000001", "deviceToken": "tok-ann"},
    ]
    _assert_exactly_once(servers, users)
    assert status["channels"]["email"]["sent"] == len(_expected(users)["email"])
    # The failures list the winning run's missing users, though the other run listed its own after it.
    failures = run.failures(body["sendId"])
    assert sorted((f["userId"], f["channel"]) for f in failures) == [
        ("ghost-2", channel) for channel in ("email", "push", "sms")
    ]


def test_a_paced_send_runs_out_of_time_and_continuations_finish_it_with_every_user_once(
    run: Async, crowd: list[dict[str, Any]], servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from messaging.pacing import Pacer
    from tests.conftest import SENDS_TABLE

    engine = run.dispatch.engine
    monkeypatch.setattr(engine, "pacer", Pacer(boto3.client("dynamodb"), SENDS_TABLE, {"email": 150}))
    monkeypatch.setattr(engine, "sleep", __import__("time").sleep)
    monkeypatch.setattr(
        engine, "settings", engine.settings.model_copy(update={"segment_users": 2_000, "dispatch_margin_s": 1.0})
    )
    _, body = run.post({**BODY, "recipients": None, "channels": ["email"]})

    # 900 e-mails at 150 per second, 3 s per invocation: the one segment takes several.
    run.drain(remaining_ms=3_000)

    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    assert status["channels"]["email"]["failed"] == 0
    segment_events = [event for _, event in run.queue.launched if event.get("segment") == 0]
    # The first, then at least one continuation: 2 s of work per invocation can touch three
    # one-second windows of 150 (450 e-mails), so two invocations may do it all.
    assert len(segment_events) >= 2
    emails = Counter(e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails())
    assert set(emails) == _expected(crowd)["email"]
    assert max(emails.values()) == 1
    assert max(len(p["messages"]) for p in engine.invoker.payloads) <= 150  # batches no larger than the rate


def test_pacing_spreads_batches_over_one_second_windows(functions: dict[str, ModuleType], servers: Servers) -> None:
    import boto3

    from messaging.pacing import Pacer
    from tests.conftest import SENDS_TABLE

    now = [1_000_000.25]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(boto3.client("dynamodb"), SENDS_TABLE, {"sms": 10}, clock=lambda: now[0], sleep=sleep)
    channel = f"sms{uuid.uuid4().hex[:6]}"
    pacer.rates[channel] = 10  # type: ignore[index]
    assert pacer.batch_limits()["sms"] == 10
    for _ in range(3):
        assert pacer.acquire(channel, 6, lambda: 100.0, 5.0)  # type: ignore[arg-type]
    assert len(slept) == 2  # 6 fit a window of 10, the next 6 waited for the next window each
    assert int(now[0]) == 1_000_002
    assert not pacer.acquire(channel, 6, lambda: 5.5, 5.0)  # type: ignore[arg-type]  # no time left to wait


def _debug_errors(run: Async) -> None:
    for error in run.queue.errors:
        print("QUEUE ERROR", repr(error))


class _RepeatedWrites:
    """A DynamoDB client whose every put is sent twice, as botocore does when an answer is lost."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **kwargs: Any) -> Any:
        self._client.put_item(**kwargs)
        return self._client.put_item(**kwargs)


def test_a_checkpoint_repeated_by_botocore_is_ours_and_another_attempts_is_not(servers: Servers) -> None:
    import boto3

    from messaging.sends import SendStore
    from tests.conftest import ATTACHMENTS_BUCKET, SENDS_TABLE

    dynamodb = boto3.client("dynamodb")
    repeated = SendStore(_RepeatedWrites(dynamodb), SENDS_TABLE, boto3.client("s3"), ATTACHMENTS_BUCKET)
    send_id = uuid.uuid4().hex
    repeated.create(send_id, "caller", ["email"])  # its repeat is no refusal either

    assert repeated.start_batch(send_id, 0, "email", 0, ["u1", "u2"])
    other = SendStore(dynamodb, SENDS_TABLE, boto3.client("s3"), ATTACHMENTS_BUCKET)
    assert not other.start_batch(send_id, 0, "email", 0, ["u1", "u2"])
    assert other.finish_batch(send_id, 0, "email", 0, 2, [])
    assert not other.finish_batch(send_id, 0, "email", 0, 2, [])  # counted once
    record = other.get(send_id)
    assert record is not None
    assert _core(record.counts["email"]) == {"sent": 2, "failed": 0, "skipped": 0}


def test_pushes_the_fcm_stand_in_throttles_are_sent_again_and_arrive_once(
    run: Async, db: Any, servers: Servers
) -> None:
    # FCM answers 429 QUOTA_EXCEEDED to each of these tokens' first 4 attempts: PushFunction's own 3
    # attempts end throttled, the dispatcher's batch of retries gets them through.
    db.users.insert_many(
        [{"_id": f"t{i:03d}", "deviceToken": f"throttled-4-t{i}", "clusters": ["quota"]} for i in range(30)]
    )
    _, body = run.post({**BODY, "recipients": None, "clusters": ["quota"], "channels": ["push"]})
    run.drain()

    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    assert _core(status["channels"]["push"]) == {"sent": 30, "failed": 0, "skipped": 0, "pending": 0}
    delivered = Counter(m["message"]["token"] for m in servers.fcm.messages)
    assert set(delivered) == {f"throttled-4-t{i}" for i in range(30)}
    assert max(delivered.values()) == 1
    assert all(servers.fcm.attempts[token] == 5 for token in delivered)


def test_a_voice_send_is_dispatched_like_any_channel_and_a_refused_number_is_its_failure(
    run: Async, servers: Servers, db: Any
) -> None:
    db.users.insert_many(
        [
            {"_id": "v0", "name": "V0", "phoneNumber": "+393330000000", "clusters": ["callers"]},  # refused
            *(
                {"_id": f"v{i}", "name": f"V{i}", "phoneNumber": f"+3935{i:08d}", "clusters": ["callers"]}
                for i in (1, 2)
            ),
            {"_id": "v3", "name": "V3", "clusters": ["callers"]},  # no number: skipped
        ]
    )

    status_code, body = run.post(
        {"channels": ["voice"], "clusters": ["callers"], "messageTitle": "-", "messageContent": "Hi {{user.name}}"}
    )
    assert status_code == 202, body
    run.drain()

    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    assert {channel: _core(counts) for channel, counts in status["channels"].items()} == {
        "voice": {"sent": 2, "failed": 1, "skipped": 1, "pending": 0}
    }
    assert run.failures(body["sendId"]) == [
        {
            "userId": "v0",
            "channel": "voice",
            "error": "ValidationException: Invalid destination phone number (INVALID_PARAMETER)",
        }
    ]
    assert sorted(call["MessageBody"] for call in servers.eum.messages) == ["Hi V1", "Hi V2"]


@pytest.mark.parametrize(
    ("user", "content", "error"),
    [
        (
            {"name": "N" * 2_000_000},
            "Hi {{user.name}}",
            "messageContent: the user's document could render more than 1048576 bytes",
        ),
        (
            {"name": "Odd", "surname": "Mars/Olympus"},
            "Hi {{user.name}} {{dateFormat data.d tz=user.surname}}",
            "not sent: messageContent: line 1, col 18: dateFormat: unknown time zone (a value from the data)",
        ),
    ],
    ids=["too-large", "helper-refuses-its-value"],
)
def test_a_user_whose_own_document_cannot_render_is_failed_not_skipped(
    run: Async, crowd: list[dict[str, Any]], db: Any, user: dict[str, Any], content: str, error: str
) -> None:
    # As in a synchronous send: that user fails on the channel, listed with the reason (never their
    # data); nobody else is held.
    db.users.insert_one({"_id": "odd", **user, "emailAddress": "odd@example.com", "clusters": ["crowd"]})
    body = {
        "channels": ["email"],
        "clusters": ["crowd"],
        "messageTitle": "t",
        "messageContent": content,
        "data": {"d": "2026-01-01T00:00:00Z"},
    }

    _, accepted = run.post(body)
    run.drain()

    status = run.status(accepted["sendId"])
    assert status["status"] == "completed"
    with_address = sum(1 for user in crowd if "emailAddress" in user)
    assert status["channels"]["email"] == {
        "sent": with_address,
        "failed": 1,
        "skipped": CROWD - with_address,
        "pending": 0,
        **NO_DETAILS,
    }
    assert [(f["userId"], f["error"]) for f in run.failures(accepted["sendId"])] == [("odd", error)]


# A small send to the seeded "patients" cluster: Ann (u1) and Bob (u2) have addresses, Dora (u4) none.
PATIENTS = {"channels": ["email"], "clusters": ["patients"], "messageTitle": "t", "messageContent": "Hi {{user.name}}"}


def _gave_up_record(event: dict[str, Any]) -> dict[str, Any]:
    """The SQS record Lambda writes to DispatchFunction's on-failure destination."""
    body = {
        "requestContext": {"condition": "RetriesExhausted"},
        "requestPayload": event,
        "responsePayload": {"errorType": "RuntimeError", "errorMessage": "x"},
    }
    return {"Records": [{"body": json.dumps(body)}]}


def _emails(servers: Servers) -> Counter[str]:
    return Counter(e["destinations"]["ToAddresses"][0] for e in servers.outbox.emails())


@pytest.mark.parametrize(
    ("body", "audience", "emails"),
    [
        (
            {**PATIENTS, "recipients": [EVE_ID, "u2"]},  # Bob is a recipient and a member
            4,
            {"eve@example.com", "ann@example.com", "bob@example.com"},
        ),
        ({**PATIENTS, "clusters": ["nobody"]}, 0, set()),
    ],
    ids=["recipient-and-member", "empty-cluster"],
)
def test_the_audience_holds_each_user_once_and_an_empty_one_completes_at_once(
    run: Async, servers: Servers, body: dict[str, Any], audience: int, emails: set[str]
) -> None:
    _, accepted = run.post(body)
    run.drain()

    status = run.status(accepted["sendId"])
    assert (status["status"], status["audience"], status["notFound"]) == ("completed", audience, 0)
    _assert_counts_add_up(status)
    assert status["channels"]["email"]["sent"] == len(emails)
    sent = _emails(servers)
    assert set(sent) == emails
    assert max(sent.values(), default=1) == 1


def test_events_repeated_after_a_send_finished_or_naming_no_send_change_nothing(run: Async, servers: Servers) -> None:
    # Lambda's retries, botocore's repeats and on-failure records can arrive after the send ended.
    _, accepted = run.post(PATIENTS)
    send_id = accepted["sendId"]
    run.drain()
    finished = run.status(send_id)
    assert finished["status"] == "completed"
    events = [event for _, event in run.queue.launched]
    assert [event.get("segment") for event in events] == [None, 0]

    for event in events:
        run.queue(DISPATCH_FUNCTION_NAME, event)
        run.dispatch.lambda_handler(_gave_up_record(event), LambdaContext())
    stray = {"sendId": uuid.uuid4().hex, "correlationId": None}
    run.queue(DISPATCH_FUNCTION_NAME, stray)
    run.dispatch.lambda_handler(_gave_up_record(stray), LambdaContext())
    run.drain()

    assert run.queue.errors == []
    again = run.status(send_id)
    assert {k: again[k] for k in ("status", "completedAt", "channels")} == {
        k: finished[k] for k in ("status", "completedAt", "channels")
    }
    assert _emails(servers) == Counter({"ann@example.com": 1, "bob@example.com": 1})
    assert len(run.queue.launched) == len(events) * 2 + 1  # the repeats only: nothing new started


def test_a_send_given_up_before_it_was_planned_ends_failed_and_its_late_plan_sends_nothing(
    run: Async, servers: Servers
) -> None:
    _, accepted = run.post(PATIENTS)
    send_id = accepted["sendId"]
    [(_, plan)] = run.queue.launched

    run.dispatch.lambda_handler(_gave_up_record(plan), LambdaContext())
    failed = run.status(send_id)
    run.drain()  # the planning event Lambda had given up on comes after all

    assert (failed["status"], failed["audience"]) == ("failed", 0)
    assert failed["completedAt"] is not None
    assert run.status(send_id)["status"] == "failed"
    assert [event.get("segment") for _, event in run.queue.launched] == [None]
    assert servers.outbox.emails() == []


@pytest.mark.parametrize(
    ("lease_s", "status", "emails"),
    [
        (1.5, "completed", {"ann@example.com", "bob@example.com"}),  # its holder died: waited for, then taken
        (600.0, "running", set()),  # a live holder (the event repeated) finishes it: left to it
    ],
    ids=["holder-dead", "holder-alive"],
)
def test_a_segment_held_by_another_dispatcher_is_waited_for_only_while_its_lease_runs_out(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch, lease_s: float, status: str, emails: set[str]
) -> None:
    import time

    engine = run.dispatch.engine
    monkeypatch.setattr(engine, "sleep", time.sleep)
    _, accepted = run.post(PATIENTS)
    send_id = accepted["sendId"]
    run.drain(limit=1)  # planned: segment 0's event is queued
    assert engine.sends.claim_segment(send_id, 0, "another-dispatcher", lease_s) == "claimed"

    started = time.monotonic()
    run.drain()

    assert time.monotonic() - started < 30  # never waits out a live lease
    after = run.status(send_id)
    assert after["status"] == status
    _assert_counts_add_up(after)
    assert after["channels"]["email"]["pending"] == (0 if status == "completed" else 3)
    assert set(_emails(servers)) == emails


def test_a_segment_whose_dispatcher_dies_after_each_invoke_ends_with_those_batches_unknown_and_nothing_twice(
    run: Async, crowd: list[dict[str, Any]], servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = run.dispatch.engine
    real_invoker = engine.invoker

    def dying(function_name: str, payload: bytes) -> bytes:
        answer = real_invoker(function_name, payload)
        if json.loads(payload)["batchId"].split("-")[1] == "1":
            raise SandboxCrash("killed after the channel function sent the batch")
        return bytes(answer)

    monkeypatch.setattr(engine, "invoker", dying)
    _, body = run.post({**BODY, "recipients": None, "channels": ["email"]})
    run.drain()  # segment 1 dies on every try: Lambda gives up on it

    status = run.status(body["sendId"])
    assert status["status"] == "failed"
    assert status["channels"]["email"]["pending"] == 0
    _assert_counts_add_up(status)
    failures = run.failures(body["sendId"])
    assert max(Counter(f["userId"] for f in failures).values()) == 1
    interrupted = "unknown: email batch interrupted, the dispatcher gave up"
    unknown = {f["userId"] for f in failures if f["error"].startswith(interrupted)}
    unsent = {f["userId"] for f in failures if f["error"] == "not attempted: the dispatcher gave up"}
    assert unknown  # sent, perhaps: the dispatcher never read the answer
    assert unknown | unsent == {f"c{i:05d}" for i in range(500, 1_000)}
    assert not unknown & unsent
    emails = _emails(servers)
    assert max(emails.values()) == 1
    addresses = {user["_id"]: user.get("emailAddress") for user in crowd}
    assert not {addresses[user_id] for user_id in unsent} & set(emails)
    assert {addresses[f"c{i:05d}"] for i in (*range(500), *range(1_000, CROWD))} - {None} <= set(emails)


def test_users_deleted_while_their_batch_was_interrupted_are_reported_unknown_and_the_rest_sent_once(
    run: Async, db: Any, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = run.dispatch.engine
    db.users.insert_many(
        [{"_id": f"g{i}", "name": f"G{i}", "emailAddress": f"g{i}@example.com", "clusters": ["few"]} for i in range(6)]
    )
    monkeypatch.setattr(engine, "settings", engine.settings.model_copy(update={"batch_max_messages": 3}))
    real_start = engine.sends.start_batch
    gone: list[str] = []

    def start_then_die(send_id: str, segment: int, channel: Any, number: int, user_ids: list[str]) -> bool:
        started = real_start(send_id, segment, channel, number, user_ids)
        if not gone:  # checkpointed, not invoked; its users are deleted before the retry
            gone.extend(user_ids)
            db.users.delete_many({"_id": {"$in": user_ids}})
            raise SandboxCrash("killed between the checkpoint and the invoke")
        return bool(started)

    monkeypatch.setattr(engine.sends, "start_batch", start_then_die)
    _, body = run.post({**PATIENTS, "clusters": ["few"]})
    run.drain()

    status = run.status(body["sendId"])
    assert status["status"] == "completed"
    _assert_counts_add_up(status)
    assert (status["channels"]["email"]["sent"], status["channels"]["email"]["failed"]) == (3, 3)
    assert sorted((f["userId"], f["error"]) for f in run.failures(body["sendId"])) == [
        (user_id, "unknown: email batch interrupted and the user is no longer found") for user_id in sorted(gone)
    ]
    assert _emails(servers) == Counter({f"g{i}@example.com": 1 for i in range(6) if f"g{i}" not in gone})


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("settings", "asynchronous sends are not configured (DISPATCH_FUNCTION_NAME)"),
        ("sends", "the send could not be recorded (NoSuchBucket); nothing was sent"),
        ("launcher", "DispatchFunction was not invoked (ResourceNotFoundException); nothing was sent"),
    ],
    ids=["dispatcher-not-configured", "store-unwritable", "dispatcher-not-invokable"],
)
def test_what_fails_after_the_checks_is_a_503_and_nothing_is_sent(
    run: Async, servers: Servers, monkeypatch: pytest.MonkeyPatch, broken: str, message: str
) -> None:
    import boto3

    from messaging.asynchronous import EventLauncher
    from messaging.sends import SendStore
    from tests.conftest import SENDS_TABLE

    send = run.send
    replacement = {
        "settings": lambda: send.parts.settings.model_copy(update={"dispatch_function_name": None}),
        "sends": lambda: SendStore(boto3.client("dynamodb"), SENDS_TABLE, boto3.client("s3"), "no-such-bucket"),
        "launcher": lambda: EventLauncher(boto3.client("lambda")),  # moto holds no DispatchFunction
    }[broken]()
    monkeypatch.setattr(send.parts, broken, replacement)

    code, body = run.post(PATIENTS)

    assert (code, body["error"], body["message"]) == (503, "Service Unavailable", message)
    assert run.queue.launched == []
    assert servers.outbox.emails() == []


def test_slow_channels_make_smaller_segments_so_a_segment_item_stays_under_dynamodbs_limit(
    run: Async, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from messaging.pacing import Pacer

    engine = run.dispatch.engine
    monkeypatch.setattr(engine, "settings", engine.settings.model_copy(update={"segment_users": 100_000}))
    # One message per second: batches of one, each adding its name to its segment's item.
    monkeypatch.setattr(engine, "pacer", Pacer(boto3.client("dynamodb"), "unused", {"sms": 1, "voice": 1}))

    # Unpaced e-mail goes in batches of 100: SEGMENT_USERS stands.
    assert engine.segment_size(["email"]) == 100_000
    # 16,000 batch names (about 240 KB) at most per segment item, whatever the channels.
    assert engine.segment_size(["sms", "voice"]) == 8_000
    assert engine.segment_size(["email", "sms", "push", "voice"]) == 7_920
