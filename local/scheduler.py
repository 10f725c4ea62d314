"""The local stand-in of EventBridge Scheduler's firing: moto keeps the schedules SendFunction makes
(CreateSchedule, DeleteSchedule) but fires nothing. This reads a group's schedules from moto and,
once one's `at(...)` time has come, invokes its target (a Lambda function, by the last part of its
ARN) with its `Input`, then deletes it as `ActionAfterCompletion: DELETE` does.

`make start` runs it in a thread beside the other stand-ins, invoking DispatchFunction on
`sam local start-lambda`; the integration tests call `fire_due` with the in-process dispatcher.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

# (function name, event) -> None: the target's asynchronous invoke.
Invoke = Callable[[str, dict[str, Any]], None]


def due_at(expression: str) -> datetime | None:
    """The moment of a one-time `at(yyyy-mm-ddThh:mm:ss)` expression (UTC); None for any other."""
    if not (expression.startswith("at(") and expression.endswith(")")):
        return None
    return datetime.fromisoformat(expression[3:-1]).replace(tzinfo=UTC)


class LocalScheduler:
    def __init__(self, client: Any, group: str, invoke: Invoke, clock: Callable[[], datetime] | None = None) -> None:
        self._client = client
        self._group = group
        self._invoke = invoke
        self._clock = clock or (lambda: datetime.now(UTC))
        self.fired: list[str] = []

    def fire_due(self) -> list[str]:
        """Every due schedule of the group fired once (and deleted): their names."""
        now = self._clock()
        fired: list[str] = []
        for summary in self._client.list_schedules(GroupName=self._group).get("Schedules", []):
            name = summary["Name"]
            schedule = self._client.get_schedule(Name=name, GroupName=self._group)
            moment = due_at(schedule.get("ScheduleExpression", ""))
            if schedule.get("State") != "ENABLED" or moment is None or moment > now:
                continue
            target = schedule["Target"]
            self._invoke(target["Arn"].rsplit(":", 1)[-1], json.loads(target.get("Input") or "{}"))
            if schedule.get("ActionAfterCompletion") == "DELETE":
                self._client.delete_schedule(Name=name, GroupName=self._group)
            fired.append(name)
        self.fired += fired
        return fired

    def run(
        self, stop: threading.Event, interval_s: float = 1.0, on_error: Callable[[Exception], None] = print
    ) -> None:
        """Fires due schedules every `interval_s` until `stop` is set (an error is reported, not fatal)."""
        while not stop.wait(interval_s):
            try:
                self.fire_due()
            except Exception as exc:  # noqa: BLE001 - moto or start-lambda busy: the next round tries again
                on_error(exc)
