"""The shared pace item (`rate#<channel>`/`pace` in the sends table) as an unlucky operator leaves
it: edited by hand, or dated far ahead by a dispatcher whose clock ran ahead. A channel's sends
neither stall until then nor keep a rate that can no longer change (moto DynamoDB, a fake clock)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import Servers

NOW = 1_000_000.25
A_DAY_MS = 86_400_000


def _pacer(clock: list[float], slept: list[float], rate: float = 200) -> Any:
    import boto3

    from messaging.pacing import Pacer
    from tests.conftest import SENDS_TABLE

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    channel = f"sms{uuid.uuid4().hex[:6]}"
    return Pacer(boto3.client("dynamodb"), SENDS_TABLE, {channel: rate}, clock=lambda: clock[0], sleep=sleep), channel  # type: ignore[dict-item]


def _edit(channel: str, **attributes: dict[str, str]) -> None:
    import boto3

    from tests.conftest import SENDS_TABLE

    item = {"pk": {"S": f"rate#{channel}"}, "sk": {"S": "pace"}, **attributes}
    boto3.client("dynamodb").put_item(TableName=SENDS_TABLE, Item=item)


def _pace(channel: str) -> dict[str, Any]:
    import boto3

    from tests.conftest import SENDS_TABLE

    key = {"pk": {"S": f"rate#{channel}"}, "sk": {"S": "pace"}}
    item: dict[str, Any] = boto3.client("dynamodb").get_item(TableName=SENDS_TABLE, Key=key, ConsistentRead=True)[
        "Item"
    ]
    return item


@pytest.mark.parametrize(
    "tat",
    [
        lambda now_ms: {"N": str(now_ms + A_DAY_MS)},  # a clock a day ahead, or a hand edit
        lambda now_ms: {"S": "soon"},  # not a number
    ],
)
def test_a_reservation_time_that_is_nobodys_is_started_over_not_waited_for(
    functions: dict[str, ModuleType], servers: Servers, tat: Callable[[int], dict[str, str]]
) -> None:
    clock, slept = [NOW], list[float]()
    pacer, channel = _pacer(clock, slept)
    _edit(channel, tat=tat(int(NOW * 1000)))

    # A dispatcher with an hour left gets its slot at once, where it waited until its time ran out.
    for _ in range(3):
        assert pacer.acquire(channel, 10, lambda: 3600.0, 5.0)
    assert sum(slept) < 1.0
    assert float(_pace(channel)["tat"]["N"]) <= int(clock[0] * 1000) + 500 + 100  # paced from now on


@pytest.mark.parametrize(
    "changed",
    [
        lambda now_ms: {"N": str(now_ms + A_DAY_MS)},
        lambda now_ms: {"S": "yesterday"},
    ],
)
def test_a_rate_change_that_is_nobodys_does_not_freeze_the_shared_rate(
    functions: dict[str, ModuleType], servers: Servers, changed: Callable[[int], dict[str, str]]
) -> None:
    clock, slept = [NOW], list[float]()
    pacer, channel = _pacer(clock, slept)
    _edit(channel, rate={"N": "50"}, changed=changed(int(NOW * 1000)))
    assert pacer.acquire(channel, 10, lambda: 3600.0, 5.0)
    assert pacer.current_rate(channel) == 50

    # The provider throttles half the calls: the shared rate is cut, not kept at 50 for a day.
    clock[0] += 2
    pacer.record(channel, 10, 5)
    assert float(_pace(channel)["rate"]["N"]) < 50


@pytest.mark.parametrize(
    "stored",
    [
        "33.33333333333333333",  # a hand edit finer than a float: read back, it is another number
        "123456789012345678901234567890",
        "9.9999999999999999999999999999999999999E+125",  # DynamoDB's largest: as a float, out of its range
    ],
)
def test_a_hand_edited_rate_can_still_be_cut_by_the_throttles_that_follow(
    functions: dict[str, ModuleType], servers: Servers, stored: str
) -> None:
    # A cut is written only over the rate it was decided from: compared as this process read it
    # (a float), a number a float cannot hold never matched, and the rate could never change again.
    clock, slept = [NOW], list[float]()
    pacer, channel = _pacer(clock, slept)
    _edit(channel, rate={"N": stored})
    assert pacer.acquire(channel, 10, lambda: 3600.0, 5.0)
    paced_at = pacer.current_rate(channel)

    clock[0] += 2
    pacer.record(channel, 10, 5, paced_at)  # the provider refused half the batch
    assert float(_pace(channel)["rate"]["N"]) < paced_at
    assert pacer.current_rate(channel) < paced_at


@pytest.mark.parametrize("rate", [0.5, 2.5])
def test_a_fractional_rate_is_paced_at_its_value_not_rounded(
    functions: dict[str, ModuleType], servers: Servers, rate: float
) -> None:
    # One message every 2 s (a provider's half a message per second) goes at that pace, not one a
    # second: the provider would refuse every other one, and the rate could not be cut below 1.
    clock, slept = [NOW], list[float]()
    pacer, channel = _pacer(clock, slept, rate)
    grants = []
    for _ in range(6):
        slot = pacer.acquire(channel, 1, lambda: 3600.0, 5.0)
        assert slot is not None
        assert slot.start_s is not None
        grants.append(slot.start_s)
    paced_at = 5 / (grants[-1] - grants[0])
    assert rate * 0.9 <= paced_at <= rate


@pytest.mark.parametrize("rate", [0.1, 0.05])
def test_a_rate_slower_than_one_message_in_ten_seconds_is_still_paced(
    functions: dict[str, ModuleType], servers: Servers, rate: float
) -> None:
    # A voice channel at six calls a minute: one call's slot (10.2 s at 98 %) reaches further ahead
    # than a reservation time that is nobody's. Two dispatchers share the pace: each batch still
    # waits for its slot, rather than every reservation starting the pace over at now and every
    # call leaving at once.
    import boto3

    from messaging.pacing import Pacer
    from tests.conftest import SENDS_TABLE

    clock = [NOW]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    channel = f"voice{uuid.uuid4().hex[:6]}"
    pacers = [
        Pacer(boto3.client("dynamodb"), SENDS_TABLE, {channel: rate}, clock=lambda: clock[0], sleep=sleep)  # type: ignore[dict-item]
        for _ in range(2)
    ]
    grants = []
    for turn in range(6):
        slot = pacers[turn % 2].acquire(channel, 1, lambda: 3600.0, 5.0)  # type: ignore[arg-type]
        assert slot is not None
        assert slot.start_s is not None
        grants.append(slot.start_s)
    assert grants[-1] - grants[0] >= 5 / rate


class _ThrottledAtFirst:
    """moto's DynamoDB, throttled for its first `refusals` calls (a hot pace item, after botocore's retries)."""

    def __init__(self, refusals: int) -> None:
        import boto3

        self.db = boto3.client("dynamodb")
        self.refusals = refusals

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        if self.refusals > 0:
            self.refusals -= 1
            error = {"Code": "ProvisionedThroughputExceededException", "Message": "Throughput exceeds the limit."}
            raise ClientError({"Error": error}, operation)
        return getattr(self.db, operation)(**kwargs)

    def update_item(self, **kwargs: Any) -> Any:
        return self._call("update_item", **kwargs)

    def get_item(self, **kwargs: Any) -> Any:
        return self._call("get_item", **kwargs)


def test_a_throttled_pace_item_holds_the_batch_back_instead_of_failing_the_dispatcher(
    functions: dict[str, ModuleType], servers: Servers
) -> None:
    from messaging.pacing import Pacer
    from tests.conftest import SENDS_TABLE

    clock, slept = [NOW], list[float]()

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    channel = f"sms{uuid.uuid4().hex[:6]}"
    pacer = Pacer(_ThrottledAtFirst(4), SENDS_TABLE, {channel: 200}, clock=lambda: clock[0], sleep=sleep)  # type: ignore[dict-item]
    # The table takes requests again a moment later: the batch goes, paced.
    assert pacer.acquire(channel, 10, lambda: 3600.0, 5.0)  # type: ignore[arg-type]
    assert slept
    assert float(_pace(channel)["tat"]["N"]) > int(NOW * 1000)

    # It stays throttled past the time left: the batch waits for the continuation, nothing is unpaced.
    pacer = Pacer(_ThrottledAtFirst(1000), SENDS_TABLE, {channel: 200}, clock=lambda: clock[0], sleep=sleep)  # type: ignore[dict-item]
    deadline = clock[0] + 30
    assert not pacer.acquire(channel, 10, lambda: deadline - clock[0], 5.0)  # type: ignore[arg-type]
    # and a rate change it cannot write is lost, not the batch's outcome
    pacer.record(channel, 10, 8)  # type: ignore[arg-type]


def test_a_batch_larger_than_the_paced_size_takes_the_slots_of_all_its_messages(
    functions: dict[str, ModuleType], servers: Servers
) -> None:
    # Planned while the rate was unknown (SES's quota unreadable in that sandbox: unpaced batches of
    # 10) or higher (a configuration lowered mid-send), sent by a dispatcher pacing 14 per second.
    clock, slept = [NOW], list[float]()
    pacer, channel = _pacer(clock, slept, 14)
    assert pacer.batch_limits()[channel] == 1
    starts = []
    for _ in range(4):
        slot = pacer.acquire(channel, 10, lambda: 3600.0, 5.0)
        assert slot is not None
        assert slot.start_s is not None
        starts.append(slot.start_s)
    # 40 messages at 14 per second (98 %): the fourth batch leaves about 30 messages' time after the first
    assert starts[-1] - starts[0] >= 30 / 14


def test_dispatchers_taking_turns_pay_two_requests_a_reservation_at_most(
    functions: dict[str, ModuleType], servers: Servers
) -> None:
    # Four dispatchers at SES's 14 per second: a paced batch is one e-mail, and each finds the pace
    # moved since it last looked. The refused write's answer tells where it is: no read after it.
    import boto3

    from messaging.pacing import Pacer
    from tests.conftest import SENDS_TABLE

    clock = [NOW]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    channel = f"email{uuid.uuid4().hex[:6]}"
    pacers = [
        Pacer(boto3.client("dynamodb"), SENDS_TABLE, {channel: 14}, clock=lambda: clock[0], sleep=sleep)  # type: ignore[dict-item]
        for _ in range(4)
    ]
    for turn in range(200):
        assert pacers[turn % 4].acquire(channel, 1, lambda: 3600.0, 5.0)  # type: ignore[arg-type]
    assert sum(pacer.requests for pacer in pacers) <= 2 * 200
