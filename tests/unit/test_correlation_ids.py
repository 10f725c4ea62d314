"""The correlation id a request's logs and answer carry: the caller's only when it is a sane token,
else API Gateway's request id, else a new one per request."""

from __future__ import annotations

import pytest

from messaging.observability import correlation_id_from, safe_id


@pytest.mark.parametrize(
    "hostile",
    [
        "abc\n",  # a trailing newline: a second log line, or a header split where it is echoed
        "abc\r\nX-Injected: 1",
        "a" * 129,
        "",
        "ab c",
        "abc\u2028",
    ],
)
def test_a_hostile_correlation_id_is_replaced(hostile: str) -> None:
    event = {"headers": {"X-Correlation-Id": hostile}, "requestContext": {"requestId": "r1", "extendedRequestId": "e"}}
    assert correlation_id_from(event) == "r1"
    assert safe_id(hostile) is None  # a queued request's CorrelationId: replaced by the message id


def test_a_sane_one_is_kept_in_any_header_case_and_an_event_without_context_gets_a_new_one_each_time() -> None:
    assert correlation_id_from({"headers": {"x-correlation-id": "order-42/a+b=c@d:e"}}) == "order-42/a+b=c@d:e"
    ids = {correlation_id_from({"headers": None}) for _ in range(3)} | {correlation_id_from({})}
    assert len(ids) == 4
    # sam local's start-api: one requestId for every request of a run, no extendedRequestId.
    local = {"requestContext": {"requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"}}
    assert len({correlation_id_from(local) for _ in range(3)}) == 3
