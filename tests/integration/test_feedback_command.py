"""`make feedback` (local/feedback.py): every documented sample, re-aimed at a real send and user,
is an event FeedbackFunction records against that send (in-process, against SecantusDB and moto)."""

from __future__ import annotations

from types import ModuleType

import pytest

from local.feedback import SAMPLES, aimed, channel_of
from tests.conftest import ApiCall
from tests.integration.test_delivery_events import BODY, Feedback, _send_id

# What each sample adds to the send's counts on its channel.
COUNTED = {
    "ses-delivery": "delivered",
    "ses-bounce": "bounced",
    "ses-complaint": "complained",
    "eum-text-delivered": "delivered",
    "eum-text-carrier-unreachable": "undelivered",
}


@pytest.mark.parametrize("sample", SAMPLES)
def test_each_sample_aimed_at_a_real_send_is_recorded_on_it(
    api: ApiCall, functions: dict[str, ModuleType], sample: str
) -> None:
    channel = channel_of(sample)
    status, body = api({**BODY, "channels": [channel], "recipients": ["u1"]})
    assert (status, body) == (200, {"failures": []})
    send_id = _send_id(api)
    feedback = Feedback(functions)

    answer = feedback(aimed(sample, send_id, "u1"))

    if sample == "ses-subscription":  # an unsubscribe counts nothing: it opts the user out of e-mail
        assert (answer["recorded"], answer["optedOut"]) == (0, 1)
        return
    assert (answer["recorded"], answer["ignored"]) == (1, 0)
    assert feedback.status(send_id)["channels"][channel][COUNTED[sample]] == 1
