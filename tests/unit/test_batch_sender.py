"""Sending a segment's batches with stand-ins (an invoker, the checkpoints, the pace): checkpointed
before the invoke and counted after, throttled messages sent again under their own batch id, and a
batch out of time left for the continuation."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from messaging.dispatch import Batch
from messaging.models.common import Channel
from messaging.models.function_settings import SendSettings
from messaging.models.response import Failure
from messaging.rate_control import HAND_BACK_MS, Slot
from messaging.sends.batches import BatchJob, BatchSender
from messaging.sends.keys import batch_id

ENV = {
    "MONGODB_URI": "mongodb://db",
    "EMAIL_FUNCTION_NAME": "e",
    "SMS_FUNCTION_NAME": "s",
    "PUSH_FUNCTION_NAME": "p",
    "SERVICE_CONFIG": json.dumps({"activeChannels": ["email"], "sender": {"email": "noreply@example.com"}}),
    "DISPATCH_MARGIN_S": "1",
}


class Checkpoints:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def start_batch(self, send_id: str, segment: int, channel: Channel, number: int, user_ids: list[str]) -> bool:
        self.calls.append(("start", channel, number, tuple(user_ids)))
        return True

    def finish_batch(
        self,
        send_id: str,
        segment: int,
        channel: Channel,
        number: int,
        users: int,
        failures: Sequence[Failure],
        *,
        opted_out: int = 0,
    ) -> bool:
        self.calls.append(("finish", channel, number, users, tuple((f.userId, f.error) for f in failures)))
        return True


class Pace:
    def __init__(self, allowed: bool = True) -> None:
        self.allowed = allowed

    def batch_limits(self) -> Mapping[Channel, int]:
        return {}

    def acquire(self, channel: Channel, count: int, left_s: Callable[[], float], margin_s: float) -> Slot | None:
        return Slot(math.inf) if self.allowed else None

    def record(self, channel: Channel, messages: int, throttled: int, paced_at: float | None = None) -> None:
        pass

    def ready_after(self, channel: Channel, needed_ms: float) -> None:
        pass


class Invoker:
    """Answers each payload with the failures `answer` gives for it."""

    def __init__(self, answer: Callable[[dict[str, Any]], list[dict[str, str]]]) -> None:
        self.answer = answer
        self.payloads: list[dict[str, Any]] = []

    def __call__(self, function_name: str, payload: bytes) -> bytes:
        body = json.loads(payload)
        self.payloads.append(body)
        return json.dumps({"failures": self.answer(body)}).encode()


def _batch(number: int, user_ids: list[str]) -> Batch:
    made = batch_id("send", 0, "email", number)
    messages = [{"userId": user_id, "emailAddress": f"{user_id}@example.com"} for user_id in user_ids]
    payload = json.dumps({"channel": "email", "batchId": made, "messages": messages}).encode()
    return Batch.of("email", "e", payload, user_ids, made)


def _sender(invoker: Invoker, checkpoints: Checkpoints, pace: Pace, sleeps: list[float]) -> BatchSender:
    settings = SendSettings.from_environ(ENV)
    return BatchSender("send", 0, settings, checkpoints, invoker, pace, sleeps.append, None, Counter())


def test_a_new_batch_is_checkpointed_before_its_invoke_and_counted_after() -> None:
    checkpoints = Checkpoints()
    invoker = Invoker(lambda body: [])
    sender = _sender(invoker, checkpoints, Pace(), [])

    assert sender.run([BatchJob(_batch(0, ["u1", "u2"]), 0, new=True)], lambda: 60.0)

    assert checkpoints.calls == [("start", "email", 0, ("u1", "u2")), ("finish", "email", 0, 2, ())]
    assert [payload["batchId"] for payload in invoker.payloads] == ["send-0-email-0"]
    assert sender.invokes == Counter({"email": 1})


def test_throttled_messages_go_again_in_a_batch_of_their_own_after_a_pause() -> None:
    def answer(body: dict[str, Any]) -> list[dict[str, str]]:
        if body["batchId"].endswith("-r1"):
            return []
        return [{"userId": "u2", "channel": "email", "error": "Throttling: Maximum sending rate exceeded."}]

    checkpoints = Checkpoints()
    invoker = Invoker(answer)
    sleeps: list[float] = []
    sender = _sender(invoker, checkpoints, Pace(), sleeps)

    assert sender.run([BatchJob(_batch(3, ["u1", "u2"]), 3, new=True)], lambda: 60.0)

    assert [payload["batchId"] for payload in invoker.payloads] == ["send-0-email-3", "send-0-email-3-r1"]
    assert [m["userId"] for m in invoker.payloads[1]["messages"]] == ["u2"]
    assert len(sleeps) == 1
    assert checkpoints.calls[-1] == ("finish", "email", 3, 2, ())


def test_a_resumed_batch_is_not_checkpointed_again_and_its_known_failures_are_kept() -> None:
    checkpoints = Checkpoints()
    known = [Failure(userId="u9", channel="email", error="unknown: gone")]
    sender = _sender(Invoker(lambda body: []), checkpoints, Pace(), [])

    assert sender.run([BatchJob(_batch(1, ["u1", "u9"]), 1, new=False, known=known)], lambda: 60.0)

    assert checkpoints.calls == [("finish", "email", 1, 2, (("u9", "unknown: gone"),))]


def test_a_batch_the_pace_has_no_time_for_is_left_started_for_the_continuation() -> None:
    checkpoints = Checkpoints()
    invoker = Invoker(lambda body: [])
    sender = _sender(invoker, checkpoints, Pace(allowed=False), [])

    assert not sender.run([BatchJob(_batch(0, ["u1"]), 0, new=True)], lambda: 60.0)

    assert checkpoints.calls == [("start", "email", 0, ("u1",))]
    assert invoker.payloads == []


def test_no_batch_starts_with_less_than_the_margin_left() -> None:
    checkpoints = Checkpoints()
    sender = _sender(Invoker(lambda body: []), checkpoints, Pace(), [])
    assert not sender.run([BatchJob(_batch(0, ["u1"]), 0, new=True)], lambda: 0.5)
    assert checkpoints.calls == []


class RecordingPace(Pace):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[Channel, int, int]] = []

    def record(self, channel: Channel, messages: int, throttled: int, paced_at: float | None = None) -> None:
        self.records.append((channel, messages, throttled))


@pytest.mark.parametrize(
    ("extra", "counted"),
    [
        ({"throttled": -3}, 0),  # a broken count
        ({"throttled": 2.5}, 0),
        ({"throttled": "many"}, 0),
        ({"throttled": None}, 0),
        ({}, 0),  # a channel function older than the count
        ({"throttled": 3, "retried": 1}, 3),  # a newer one's field (a deploy, a rollback)
        ({"throttled": 1, "slotLagMs": "soon"}, 1),  # a lag that is no number: only the lead misses it
        ({"slotLagMs": float("nan")}, 0),
    ],
)
def test_a_nonsense_throttle_count_or_a_newer_field_never_makes_whom_a_batch_reached_unknown(
    extra: dict[str, object], counted: int
) -> None:
    class Answering(Invoker):
        def __call__(self, function_name: str, payload: bytes) -> bytes:
            self.payloads.append(json.loads(payload))
            failure = {"userId": "u2", "channel": "email", "error": "MessageRejected: Email address is not verified."}
            return json.dumps({"failures": [failure], **extra}).encode()

    checkpoints, pace = Checkpoints(), RecordingPace()
    sender = _sender(Answering(lambda body: []), checkpoints, pace, [])

    assert sender.run([BatchJob(_batch(0, ["u1", "u2"]), 0, new=True)], lambda: 60.0)

    # u1 got it, u2 was refused: the count only feeds the pace, and a nonsense count feeds it nothing.
    assert checkpoints.calls[-1] == (
        "finish",
        "email",
        0,
        2,
        (("u2", "MessageRejected: Email address is not verified."),),
    )
    assert pace.records == [("email", 2, counted)]


class SlotPace(RecordingPace):
    """Grants slots 50 ms apart from t = 1000 s, at 200 messages per second."""

    def __init__(self) -> None:
        super().__init__()
        self.starts = iter(1000.0 + 0.05 * n for n in range(100))
        self.ready: list[float] = []

    def acquire(self, channel: Channel, count: int, left_s: Callable[[], float], margin_s: float) -> Slot | None:
        start = next(self.starts)
        return Slot(200.0, start, start - 0.07)  # woken 70 ms ahead

    def ready_after(self, channel: Channel, needed_ms: float) -> None:
        self.ready.append(needed_ms)


def test_a_batch_handed_back_late_is_paced_again_in_a_new_slot_and_the_last_time_goes_whatever_its_delay() -> None:
    def answer(body: dict[str, Any]) -> list[dict[str, str]]:
        if "sendBy" not in body:
            return []  # the last attempt: sent
        late = "Late: arrived 180 ms after its slot, not sent; paced again"
        return [{"userId": m["userId"], "channel": "email", "error": late, "code": "Late"} for m in body["messages"]]

    class Lagging(Invoker):
        def __call__(self, function_name: str, payload: bytes) -> bytes:
            answer = json.loads(super().__call__(function_name, payload))
            return json.dumps({**answer, "slotLagMs": 180.0 if "sendBy" in self.payloads[-1] else -20.0}).encode()

    checkpoints, pace = Checkpoints(), SlotPace()
    invoker = Lagging(answer)
    sender = _sender(invoker, checkpoints, pace, [])

    assert sender.run([BatchJob(_batch(0, ["u1", "u2"]), 0, new=True)], lambda: 60.0)

    ids = [payload["batchId"] for payload in invoker.payloads]
    assert ids == ["send-0-email-0", "send-0-email-0-l1", "send-0-email-0-l2"]
    # Each in a slot of its own: held until its start, handed back past HAND_BACK_MS after it...
    assert [payload["sendAt"] for payload in invoker.payloads] == [1000.0, 1000.05, 1000.1]
    assert [payload.get("sendBy") for payload in invoker.payloads[:2]] == [
        1000.0 + HAND_BACK_MS / 1000,
        1000.05 + HAND_BACK_MS / 1000,
    ]
    assert "sendBy" not in invoker.payloads[2]  # ...but not for ever: a wrong clock would hand back all
    assert all(m["emailAddress"] for payload in invoker.payloads for m in payload["messages"])
    # Nobody is counted late: the batch is counted once, as the attempt that sent it answered.
    assert checkpoints.calls[-1] == ("finish", "email", 0, 2, ())
    # Messages handed back were not sent: no evidence for the pace either way.
    assert pace.records == [("email", 0, 0), ("email", 0, 0), ("email", 2, 0)]
    # How long each took from when its dispatcher was to wake to its channel function's being ready
    # feeds the lead (the lag: how long after its slot's start the function was ready).
    assert pace.ready == pytest.approx([70 + 180, 70 + 180, 70 - 20])


def test_a_resumed_batch_whose_first_attempt_ends_late_while_awaited_is_paced_again_not_counted_late() -> None:
    """The dispatcher died while its batch's first attempt ran; the continuation finds it in progress,
    waits, and reads the answer the first attempt recorded: handed back `Late`. Nothing of it was
    sent: its users go again under `-l1`, and none is counted late."""
    from messaging.channels.once import duplicate_reason

    first = batch_id("send", 0, "email", 4)
    calls = Counter[str]()

    def answer(body: dict[str, Any]) -> list[dict[str, str]]:
        calls[body["batchId"]] += 1
        if body["batchId"] != first:
            return []
        users = [m["userId"] for m in body["messages"]]
        if calls[first] == 1:  # the first attempt still running
            return [{"userId": u, "channel": "email", "error": duplicate_reason(first)} for u in users]
        late = "Late: arrived 300 ms after its slot, not sent; paced again"
        return [{"userId": u, "channel": "email", "error": late, "code": "Late"} for u in users]

    checkpoints, sleeps = Checkpoints(), list[float]()
    invoker = Invoker(answer)
    sender = _sender(invoker, checkpoints, SlotPace(), sleeps)

    assert sender.run([BatchJob(_batch(4, ["u1", "u2"]), 4, new=False)], lambda: 60.0)

    assert [payload["batchId"] for payload in invoker.payloads] == [first, first, f"{first}-l1"]
    assert checkpoints.calls == [("finish", "email", 4, 2, ())]


def test_a_batch_still_answered_late_after_its_last_hand_back_is_counted_not_attempted_never_late() -> None:
    """Only an answer kept from a deploy that hands back more often (a rollback) can say `Late` to the
    last attempt: its users were not sent, and that is what they are counted, never `Late`."""
    late = "Late: arrived 300 ms after its slot, not sent; paced again"

    def answer(body: dict[str, Any]) -> list[dict[str, str]]:
        return [{"userId": m["userId"], "channel": "email", "error": late, "code": "Late"} for m in body["messages"]]

    checkpoints = Checkpoints()
    invoker = Invoker(answer)
    sender = _sender(invoker, checkpoints, SlotPace(), [])

    assert sender.run([BatchJob(_batch(5, ["u1", "u2"]), 5, new=True)], lambda: 60.0)

    assert len(invoker.payloads) == 3
    finished = checkpoints.calls[-1]
    assert [user for user, _ in finished[4]] == ["u1", "u2"]
    assert all(error.startswith("not attempted: ") for _, error in finished[4])


@pytest.mark.parametrize("suffix", ["-l1", "-r1"])
def test_a_resumed_batchs_hand_back_or_retry_still_in_progress_is_awaited_like_its_first_attempt(suffix: str) -> None:
    """The dispatcher died while the batch's `-l1` (or `-r1`) ran: the continuation finds the first
    attempt's answer kept, and that one in progress. It waits for its answer as it would for the
    first attempt's, rather than count its users unknown."""
    from messaging.channels.once import duplicate_reason

    first = batch_id("send", 0, "email", 6)
    again = f"{first}{suffix}"
    calls = Counter[str]()

    def answer(body: dict[str, Any]) -> list[dict[str, str]]:
        calls[body["batchId"]] += 1
        users = [m["userId"] for m in body["messages"]]
        if body["batchId"] == first:
            late = "Late: arrived 300 ms after its slot, not sent; paced again"
            error, code = (late, "Late") if suffix == "-l1" else ("Throttling: Maximum sending rate exceeded.", "Other")
            return [{"userId": u, "channel": "email", "error": error, "code": code} for u in users]
        if body["batchId"] == again and calls[again] == 1:
            return [{"userId": u, "channel": "email", "error": duplicate_reason(again)} for u in users]
        return []

    checkpoints = Checkpoints()
    invoker = Invoker(answer)
    sender = _sender(invoker, checkpoints, SlotPace(), [])

    assert sender.run([BatchJob(_batch(6, ["u1", "u2"]), 6, new=False)], lambda: 60.0)

    assert [payload["batchId"] for payload in invoker.payloads] == [first, again, again]
    assert checkpoints.calls == [("finish", "email", 6, 2, ())]


def test_a_batch_handed_back_late_with_no_time_left_for_its_new_slot_is_left_started_for_the_continuation() -> None:
    class OneSlot(SlotPace):
        def acquire(self, channel: Channel, count: int, left_s: Callable[[], float], margin_s: float) -> Slot | None:
            return super().acquire(channel, count, left_s, margin_s) if not self.records else None

    late = "Late: arrived 300 ms after its slot, not sent; paced again"
    checkpoints = Checkpoints()
    invoker = Invoker(lambda body: [{"userId": "u1", "channel": "email", "error": late, "code": "Late"}])
    sender = _sender(invoker, checkpoints, OneSlot(), [])

    assert not sender.run([BatchJob(_batch(7, ["u1"]), 7, new=True)], lambda: 60.0)

    # Neither counted nor failed: the continuation invokes it again, its first answer kept, then `-l1`.
    assert checkpoints.calls == [("start", "email", 7, ("u1",))]
    assert [payload["batchId"] for payload in invoker.payloads] == [batch_id("send", 0, "email", 7)]
