"""make start's request lines (local/request_log.py), from an excerpt of sam local start-api's log."""

from __future__ import annotations

from local.request_log import RequestLines

LOG = """\
Invoking app.lambda_handler (python3.13)
START RequestId: 5ce1ae69-8984-4ee7-9bfa-29cfe4a6a1ba Version: $LATEST
{"level":"INFO","message":"send finished","correlation_id":"af73","audience":2}
{"level":"INFO","message":"answered","correlation_id":"af73","statusCode":200,"sendId":"a256180d57b14c19"}
END RequestId: 5ce1ae69-8984-4ee7-9bfa-29cfe4a6a1ba
REPORT RequestId: 5ce1ae69-8984-4ee7-9bfa-29cfe4a6a1ba\tDuration: 233.63 ms\tBilled Duration: 234 ms

2026-12-06 19:46:36 127.0.0.1 - - [06/Dec/2026 19:46:36] "POST /send HTTP/1.1" 200 -
START RequestId: 462dfa1a-029f-48e9-9094-aa1c8b76b035 Version: $LATEST
{"level":"INFO","message":"answered","correlation_id":"b1","statusCode":400,"sendId":null}
REPORT RequestId: 462dfa1a-029f-48e9-9094-aa1c8b76b035\tDuration: 6.83 ms\tBilled Duration: 7 ms
2026-12-06 19:46:36 127.0.0.1 - - [06/Dec/2026 19:46:36] "POST /send/preview HTTP/1.1" 400 -
2026-12-06 19:46:36 127.0.0.1 - - [06/Dec/2026 19:46:36] "\x1b[31m\x1b[1mGET /sends HTTP/1.1\x1b[0m" 403 -
"""


def test_one_line_per_request_with_its_status_send_id_and_duration() -> None:
    lines = RequestLines()
    printed = [line for line in map(lines.feed, LOG.splitlines()) if line is not None]
    assert printed == [
        "POST /send -> 200  send a256180d57b14c19  234 ms",
        "POST /send/preview -> 400  7 ms",
        # API Gateway's own 403 (no such route) never reaches the function: no send, no duration.
        "GET /sends -> 403",
    ]
