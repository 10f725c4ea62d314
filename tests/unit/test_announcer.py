"""The announcer against a bus that answers badly (messaging.sends.announcer): partial failures,
throttling and a bus that hangs; it never raises, and never holds the send long."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError

from messaging.sends.announcer import BUDGET_S, Announcer


class Bus:
    """EventBridge's PutEvents as a stand-in: each call answers with the next of `answers` (an
    exception is raised); every call costs `cost_s` on the clock."""

    def __init__(self, *answers: Any, cost_s: float = 0.0) -> None:
        self.answers = list(answers)
        self.calls: list[list[str]] = []
        self.now = 0.0
        self.cost_s = cost_s

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append([entry["DetailType"] for entry in Entries])
        self.now += self.cost_s
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _announcer(bus: Bus) -> Announcer:
    return Announcer(bus, "messaging", sleep=bus.sleep, clock=lambda: bus.now)


EVENTS = [("Send Accepted", {"sendId": "s-1"}), ("Send Completed", {"sendId": "s-1"})]
THROTTLED = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutEvents")


def test_only_the_entries_that_failed_are_put_again_after_a_partial_failure_or_a_throttle() -> None:
    partial = {"FailedEntryCount": 1, "Entries": [{"EventId": "e-1"}, {"ErrorCode": "InternalFailure"}]}
    bus = Bus(partial, THROTTLED, {"FailedEntryCount": 0, "Entries": [{"EventId": "e-2"}]})
    _announcer(bus).put(EVENTS)
    assert bus.calls == [["Send Accepted", "Send Completed"], ["Send Completed"], ["Send Completed"]]


def test_a_bus_that_hangs_holds_the_send_for_one_budget_not_every_attempt(capsys: pytest.CaptureFixture[str]) -> None:
    hanging = ConnectTimeoutError(endpoint_url="https://events.eu-west-1.amazonaws.com")
    bus = Bus(hanging, hanging, hanging, cost_s=7.0)  # connect 5 s + read 2 s, then it fails
    _announcer(bus).put(EVENTS)  # never raises
    assert len(bus.calls) == 1  # a second attempt would start past the budget
    assert bus.now <= BUDGET_S + 7.0
    assert '"LifecycleEventsGivenUp":[2.0]' in capsys.readouterr().out.replace(" ", "")
