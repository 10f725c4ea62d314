"""A resumed segment, decided from its checkpoints alone: plain data in, plain data out."""

from __future__ import annotations

from messaging.models.response import FailureCode
from messaging.sends.resume import Placement, interrupted_failures, read_checkpoints
from messaging.sends.states import BatchState


def test_a_segment_without_checkpoints_sends_everyone_in_new_batches_numbered_from_zero() -> None:
    checkpoints = read_checkpoints(["email", "sms"], [])
    assert checkpoints.place("email", "u1") == (Placement.NEW, None)
    assert checkpoints.next_number == {"email": 0, "sms": 0}
    assert (checkpoints.unfinished, checkpoints.done) == ([], 0)


def test_done_batches_are_skipped_started_ones_resumed_and_new_ones_numbered_after_them() -> None:
    states = [
        BatchState("email", 0, done=True, user_ids=["u1", "u2"]),
        BatchState("email", 1, done=False, user_ids=["u3", "u4"]),
        BatchState("sms", 0, done=False, user_ids=["u1"]),
    ]
    checkpoints = read_checkpoints(["email", "sms"], states)

    assert checkpoints.place("email", "u1") == (Placement.DONE, None)
    assert checkpoints.place("email", "u3") == (Placement.RESUMED, 1)
    assert checkpoints.place("sms", "u1") == (Placement.RESUMED, 0)
    assert checkpoints.place("sms", "u2") == (Placement.NEW, None)  # done on e-mail only
    assert checkpoints.place("email", "u5") == (Placement.NEW, None)
    assert checkpoints.next_number == {"email": 2, "sms": 1}
    assert [(state.channel, state.number) for state in checkpoints.unfinished] == [("email", 1), ("sms", 0)]
    assert checkpoints.done == 1


def test_a_started_batchs_users_gone_or_no_longer_fitting_are_unknown_not_sent_again() -> None:
    state = BatchState("email", 1, done=False, user_ids=["u3", "u4", "u5"])
    failures = interrupted_failures(state, rendered={"u3", "u5"}, overflow=["u5"])
    assert [(f.userId, f.error) for f in failures] == [
        ("u4", "unknown: email batch interrupted and the user is no longer found"),
        ("u5", "unknown: the batch changed since its first attempt (email)"),
    ]
    assert {f.code for f in failures} == {FailureCode.UNKNOWN}
