"""The names the sends spell in storage: batch ids never collide across channels, and sort keys
order as the failures pages and the queries need."""

from __future__ import annotations

import itertools
from typing import cast

from messaging.models.common import CHANNELS, Channel
from messaging.sends import keys

SEND_ID = "0123456789abcdef0123456789abcdef"  # messaging.service.new_send_id: uuid4().hex


def test_two_channels_sharing_a_first_letter_never_make_the_same_batch_id() -> None:
    slack = cast(Channel, "slack")  # a channel that could come: it shares its first letter with sms
    made = {
        keys.batch_id(SEND_ID, segment, channel, number)
        for channel in (*CHANNELS, slack)
        for segment, number in itertools.product(range(12), range(12))
    }
    assert len(made) == (len(CHANNELS) + 1) * 12 * 12
    assert keys.batch_id(SEND_ID, 1, "sms", 11) != keys.batch_id(SEND_ID, 1, slack, 11)
    assert keys.batch_id(SEND_ID, 1, "sms", 11) != keys.batch_id(SEND_ID, 11, "sms", 1)


def test_a_batch_id_names_its_send_segment_channel_and_number_within_64_characters() -> None:
    assert keys.batch_id(SEND_ID, 3, "email", 7) == f"{SEND_ID}-3-email-7"
    # The largest sends: 100,000 segments, 16,000 batches per segment item, their throttle retries,
    # and a retry's messages handed back late twice (messaging.sends.batches.HAND_BACKS).
    longest = keys.late_batch_id(keys.retry_batch_id(keys.batch_id(SEND_ID, 99_999, "voice", 15_999), 20), 2)
    assert len(longest) <= keys.MAX_BATCH_ID


def test_a_batch_key_reads_back_and_sorts_under_its_segment() -> None:
    key = keys.batch_key(12, "push", 34)
    assert key == "batch#000012#push#000034"
    assert key.startswith(keys.batch_prefix(12))
    assert keys.parse_batch_key(key) == ("push", 34)
    assert keys.applied_name("push", 34) == "push#34"


def test_the_failures_of_delivery_events_follow_the_dispatchs_in_the_pages() -> None:
    dispatch = [
        keys.failures_key(keys.batch_failures(999_999, "voice", 999_999), 9),
        keys.failures_key(keys.unsent_failures(999_999), 9),
        keys.failures_key(keys.PLAN_MISSING, 9),
        keys.failures_key(keys.SYNC_FAILURES, 9),
    ]
    event = keys.failures_key(keys.event_failures("email", "bounced", "0000"), 0)
    assert all(keys.FAIL <= sk < event < keys.FAIL + "~" for sk in dispatch)


def test_each_planning_attempt_has_its_own_objects() -> None:
    assert keys.send_object("s", keys.JOB_OBJECT) == "sends/s/request.json"
    assert keys.segment_object("a1", 4) == "plans/a1/segments/4.json"
    assert keys.missing_object("a1") == "plans/a1/missing.json"
    assert keys.segment_object("", 4) == "segments/4.json"  # planned before attempts had prefixes
