"""A send's states: the transitions allowed and refused, the terminal ones, and the values the API answers."""

from __future__ import annotations

import pytest

from messaging.models.response import SendStatus
from messaging.sends.states import (
    TERMINAL,
    TRANSITIONS,
    EventVerdict,
    SegmentClaim,
    SendRecord,
    SendState,
    may_move,
    sources,
)

ACCEPTED, RUNNING, COMPLETED, FAILED = SendState.ACCEPTED, SendState.RUNNING, SendState.COMPLETED, SendState.FAILED
SCHEDULED, CANCELLING, CANCELLED = SendState.SCHEDULED, SendState.CANCELLING, SendState.CANCELLED


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (None, ACCEPTED),  # SendFunction accepted it, or a synchronous send opened its record
        (None, COMPLETED),  # a synchronous send recorded without its record opened first
        (ACCEPTED, RUNNING),  # planned
        (ACCEPTED, FAILED),  # DispatchFunction not invoked, or given up before planning
        (ACCEPTED, COMPLETED),  # a synchronous send's answer
        (RUNNING, COMPLETED),
        (RUNNING, FAILED),
        (None, SCHEDULED),  # accepted with a sendAt ahead
        (SCHEDULED, RUNNING),  # its schedule fired and planned it
        (SCHEDULED, CANCELLED),  # DELETE before it fired: at once
        (SCHEDULED, FAILED),  # its schedule could not be made
        (ACCEPTED, CANCELLING),  # DELETE before planning
        (RUNNING, CANCELLING),  # DELETE while dispatching
        (CANCELLING, CANCELLED),  # its last segment accounted for
    ],
)
def test_the_allowed_transitions(current: SendState | None, target: SendState) -> None:
    assert may_move(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (None, RUNNING),
        (None, FAILED),
        (RUNNING, ACCEPTED),
        (RUNNING, RUNNING),
        (None, CANCELLED),
        (SCHEDULED, ACCEPTED),
        (SCHEDULED, CANCELLING),  # nothing is in flight: cancelled at once
        (RUNNING, CANCELLED),  # only through cancelling: batches in flight finish first
        (CANCELLING, RUNNING),
        (CANCELLING, COMPLETED),
        *((terminal, target) for terminal in (COMPLETED, FAILED, CANCELLED) for target in SendState),
    ],
)
def test_the_refused_transitions(current: SendState | None, target: SendState) -> None:
    assert not may_move(current, target)


def test_completed_failed_and_cancelled_are_terminal_and_only_planning_leads_to_running() -> None:
    assert {COMPLETED, FAILED, CANCELLED} == TERMINAL
    assert set(TRANSITIONS) == {None, *SendState}
    assert sources(RUNNING) == {ACCEPTED, SCHEDULED}
    assert sources(FAILED) == {ACCEPTED, RUNNING, SCHEDULED}
    assert sources(CANCELLING) == {ACCEPTED, RUNNING}
    assert sources(CANCELLED) == {SCHEDULED, CANCELLING}


def test_the_api_answers_the_states_values_and_documents_them_inline() -> None:
    values = ["accepted", "running", "completed", "failed", "scheduled", "cancelling", "cancelled"]
    assert [state.value for state in SendState] == values
    schema = SendStatus.model_json_schema()["properties"]["status"]
    assert schema["enum"] == values
    assert "$ref" not in schema


def test_the_verdicts_keep_their_names() -> None:
    assert {claim.value for claim in SegmentClaim} == {"claimed", "busy", "done"}
    assert {verdict.value for verdict in EventVerdict} == {"recorded", "duplicate", "unknown"}


def test_a_record_is_over_only_in_a_terminal_state_and_its_counts_add_up() -> None:
    record = SendRecord(
        send_id="s",
        status=RUNNING,
        scope="",
        channels=["email"],
        created_at="t",
        updated_at="t",
        completed_at=None,
        audience=10,
        not_found=2,
        segments=1,
        segments_done=0,
        counts={"email": {"sent": 5, "failed": 3, "skipped": 1, "delivered": 4}},
    )
    assert not record.over
    counts = record.channel_counts("email")
    assert (counts["sent"], counts["failed"], counts["skipped"], counts["pending"]) == (5, 3, 1, 3)
    assert counts["delivered"] == 4
    assert counts["cancelled"] == 0


def test_what_a_cancel_left_unattempted_counts_cancelled_and_the_counts_still_add_up() -> None:
    record = SendRecord(
        send_id="s",
        status=CANCELLED,
        scope="",
        channels=["email"],
        created_at="t",
        updated_at="t",
        completed_at="t",
        audience=10,
        not_found=2,
        segments=1,
        segments_done=1,
        counts={"email": {"sent": 4, "failed": 2, "skipped": 1, "cancelled": 5}},
    )
    assert record.over
    counts = record.channel_counts("email")
    assert counts["pending"] == 0
    assert counts["sent"] + counts["failed"] + counts["skipped"] + counts["pending"] + counts["cancelled"] == 12
