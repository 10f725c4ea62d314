"""Delivery events through sam local: a synchronous send answers X-Send-Id; SES's documented bounce
event, SNS-wrapped and tagged with that send and a user, is invoked on FeedbackFunction through
`sam local start-lambda` (as SNS would invoke it); the send's status and failures then show it."""

from __future__ import annotations

from tests.delivery_events import sns_event
from tests.e2e.conftest import Stack


def test_a_bounce_event_of_a_synchronous_send_shows_in_its_status_and_failures(e2e: Stack) -> None:
    status, body = e2e.post(
        {"channels": ["email"], "recipients": ["alice", "bob"], "messageTitle": "Hi", "messageContent": "Results ready"}
    )
    assert (status, body) == (200, {"failures": []})
    send_id = e2e.send_id()

    answer = e2e.invoke("FeedbackFunction", sns_event("ses-bounce", send_id, "bob"))
    assert answer == {"recorded": 1, "duplicates": 0, "ignored": 0, "optedOut": 0}

    code, sent = e2e.get(f"/sends/{send_id}")
    assert code == 200, sent
    assert sent["status"] == "completed"
    email = sent["channels"]["email"]
    assert (email["sent"], email["failed"], email["pending"], email["bounced"]) == (2, 0, 0, 1)
    code, page = e2e.get(f"/sends/{send_id}/failures")
    assert (code, page) == (
        200,
        {"failures": [{"userId": "bob", "channel": "email", "error": "bounced: Permanent/General"}], "nextToken": None},
    )
