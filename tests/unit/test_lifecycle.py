"""A send's lifecycle event detail, from its record alone (messaging.sends.lifecycle)."""

from __future__ import annotations

from messaging.sends.lifecycle import DETAIL_TYPES, event_id, refused_detail, send_detail
from messaging.sends.states import TERMINAL, SendRecord, SendState


def _record(status: SendState) -> SendRecord:
    return SendRecord(
        send_id="s-1",
        status=status,
        scope="userArn:arn:aws:iam::123456789012:user/ann",
        channels=["email", "sms"],
        created_at="2026-12-06T10:00:00.000Z",
        updated_at="2026-12-06T10:00:05.000Z",
        completed_at="2026-12-06T10:00:05.000Z" if status in TERMINAL else None,
        audience=3,
        not_found=1,
        segments=1,
        segments_done=1,
        counts={"email": {"sent": 2, "failed": 1, "skipped": 1}, "sms": {"sent": 1, "failed": 1, "skipped": 2}},
        reference="order-1",
        correlation_id="corr-1",
    )


def test_the_event_id_is_one_per_send_and_transition_whoever_announces_it() -> None:
    ids = {event_id("s-1", status) for status in DETAIL_TYPES}
    assert len(ids) == len(DETAIL_TYPES)
    assert (
        event_id("s-1", SendState.COMPLETED)
        == send_detail(_record(SendState.COMPLETED), SendState.COMPLETED)["eventId"]
    )
    assert event_id("s-2", SendState.COMPLETED) != event_id("s-1", SendState.COMPLETED)


def test_a_completed_send_detail_says_what_its_status_says_and_no_more() -> None:
    detail = send_detail(_record(SendState.COMPLETED), SendState.COMPLETED)
    assert detail["channels"]["email"] == {
        "sent": 2, "failed": 1, "skipped": 1, "pending": 0, "cancelled": 0,
        "noAddress": 0, "optedOut": 0, "staleToken": 0, "delivered": 0, "bounced": 0, "complained": 0, "undelivered": 0,
    }  # fmt: skip
    assert (detail["status"], detail["reference"], detail["correlationId"]) == ("completed", "order-1", "corr-1")
    assert detail["completedAt"] == "2026-12-06T10:00:05.000Z"
    assert "scope" not in detail  # who sent it is not announced
    # An accepted send's event has no completion time even if read later.
    assert send_detail(_record(SendState.COMPLETED), SendState.ACCEPTED)["completedAt"] is None


def test_a_refusal_carries_its_code_and_message_cut_to_1000_characters() -> None:
    detail = refused_detail("sender:AIDA\nkey", 400, "x" * 5000, "order-9", None, "2026-12-06T10:00:00.000Z")
    assert (detail["status"], detail["statusCode"], len(detail["message"])) == ("refused", 400, 1000)
    assert detail["eventId"] == refused_detail("sender:AIDA\nkey", 400, "other", None, None, "later")["eventId"]
