"""One user's render that runs past the deadline ends at its next helper call (issue 21, item 4):
a render cannot be interrupted from Python, so a synchronous send used to hold its answer for as
long as one user's helpers took (14 s with 5 s left), whatever API Gateway's 29 s."""

from __future__ import annotations

from typing import Any

from tests.conftest import ApiCall, Servers
from tests.lambda_runtime import InProcessInvoker

# Each `gt` reads the whole field as a number: linear, but 400 of them over a 1 MB profile field
# take seconds, far longer than the 0.2 s this send has before its launch margin.
SLOW_CONTENT = "{{#if (gt user.name 17)}}big{{/if}}" * 400


def test_a_render_past_the_deadline_stops_at_a_helper_call_and_is_a_503_with_nothing_sent(
    api: ApiCall, servers: Servers, invoker: InProcessInvoker, db: Any
) -> None:
    db.users.insert_one({"_id": "slow", "name": "1" * 1_000_000 + "x", "emailAddress": "slow@example.com"})

    # 5.2 s left: 0.2 s above the 5 s launch margin, and one user to render.
    status, body = api(
        {"channels": ["email"], "recipients": ["slow"], "messageTitle": "t", "messageContent": SLOW_CONTENT},
        remaining_ms=5_200,
    )

    assert (status, body["error"]) == (503, "Service Unavailable")
    assert body["message"] == "rendering did not finish before the deadline (0 users rendered); nothing was sent"
    assert invoker.payloads == []
    assert servers.outbox.emails() == []
