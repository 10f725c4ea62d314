"""How many provider calls this process saw throttled: counted where each attempt is answered
(botocore's retry hook, the FCM client's loop), read by the channel handler around one batch, and
carried back in the batch's answer so the dispatcher's pace can adapt (messaging.pacing).

A channel function runs one batch at a time per process (a Lambda sandbox), so one process-wide
count read before and after the batch is that batch's."""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_count = 0
# The batch in hand was paced by its dispatcher: a throttled call is answered throttled rather than
# retried here, unpaced; the dispatcher sends it again in a slot of its pace.
_paced = False


def set_paced(paced: bool) -> None:
    global _paced
    _paced = paced


def retried_here() -> bool:
    """Whether a throttled call is retried by this process (False: by the dispatcher, paced)."""
    return not _paced


def seen(calls: int = 1) -> None:
    global _count
    with _lock:
        _count += calls


def take() -> int:
    """The throttled calls seen since the last take."""
    global _count
    with _lock:
        taken, _count = _count, 0
    return taken


# What AWS answers a call over its rate (SES v2, End User Messaging, SNS), as botocore parses it.
AWS_CODES = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException", "ThrottledException"})


def note_aws_answer(response: tuple[Any, dict[str, Any]] | None) -> bool:
    """botocore's `needs-retry` hook sees every attempt's answer: a throttled one is counted (True)."""
    if response is None:
        return False
    code = (response[1] or {}).get("Error", {}).get("Code")
    if code in AWS_CODES or getattr(response[0], "status_code", None) == 429:
        seen()
        return True
    return False
