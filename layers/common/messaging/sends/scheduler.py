"""EventBridge Scheduler, behind the two calls the sends need: one one-time schedule per scheduled
send (named after it, in the stack's schedule group), and its deletion when the send is cancelled.

The schedule invokes DispatchFunction with `{"sendId", "scheduled": true}` (a planning event, as an
accepted send's), through a role that may invoke only that function; Scheduler retries a failed
invoke and then dead-letters it (an alarm watches the queue). It deletes itself once it ran.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from messaging.sends.schedule import schedule_expression

RETRY_ATTEMPTS = 10
RETRY_MAX_AGE_S = 24 * 3600


@dataclass(frozen=True)
class ScheduleTarget:
    group: str  # SCHEDULE_GROUP
    target_arn: str  # DispatchFunction's ARN (SCHEDULE_TARGET_ARN)
    role_arn: str  # the role Scheduler invokes it as (SCHEDULE_ROLE_ARN)
    dead_letter_arn: str | None = None  # SCHEDULE_DLQ_ARN


class Scheduler:
    def __init__(self, client: Any, target: ScheduleTarget) -> None:
        self._client = client
        self.target = target

    def create(self, send_id: str, moment: datetime, correlation_id: str | None = None) -> None:
        """The send's one-time schedule. Already there (a retry after a lost answer): kept."""
        target: dict[str, Any] = {
            "Arn": self.target.target_arn,
            "RoleArn": self.target.role_arn,
            "Input": json.dumps({"sendId": send_id, "scheduled": True, "correlationId": correlation_id}),
            "RetryPolicy": {"MaximumRetryAttempts": RETRY_ATTEMPTS, "MaximumEventAgeInSeconds": RETRY_MAX_AGE_S},
        }
        if self.target.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.target.dead_letter_arn}
        try:
            self._client.create_schedule(
                Name=send_id,
                GroupName=self.target.group,
                ScheduleExpression=schedule_expression(moment),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                State="ENABLED",
                Target=target,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConflictException":
                raise

    def delete(self, send_id: str) -> None:
        """The send's schedule gone; already gone (it ran, or a repeated cancel) is fine."""
        try:
            self._client.delete_schedule(Name=send_id, GroupName=self.target.group)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
