"""The pacer's arithmetic on a fake clock: reservations never let more than the rate through in any
second, throttles cut the rate and quiet raises it back, and against a provider whose real limit is
lower than the configured rate the pace settles at that limit with few throttles (tests/pace_model.py
plays several dispatchers against a token-bucket provider)."""

from __future__ import annotations

import math

import pytest

from messaging.rate_control import (
    HEADROOM,
    LEAD_MAX_MS,
    LEAD_MIN_MS,
    LEAD_MS,
    LEAD_SPARE_MS,
    Adapter,
    Aimd,
    Lead,
    Move,
    ThrottleShare,
    batch_limit,
    next_move,
    slot_ms,
    wait_before_asking_s,
)
from tests.pace_model import Pace, simulate


def _reserve(tat: float | None, now: float, count: int, rate: float, ahead: int) -> tuple[float | None, float | None]:
    """One caller's turn as messaging.pacing takes it: (slot start, new tat), or (None, tat) to wait."""
    move = next_move(tat, now, ahead)
    if move == Move.WAIT:
        return None, tat
    start = now if move == Move.RESTART else tat
    assert start is not None
    return start, start + slot_ms(count, rate)


def test_reservations_from_many_callers_never_let_more_than_the_rate_through_in_any_second() -> None:
    rate, ahead = 200.0, 500
    count = batch_limit(rate)
    grants: list[float] = []  # ms at which each batch of `count` may go
    tat: float | None = None
    clocks: list[float] = [0.0] * 16  # sixteen callers (dispatchers' threads), each with its own notion of "now"
    for turn in range(2000):
        caller = turn % len(clocks)
        start, tat = _reserve(tat, clocks[caller], count, rate, ahead)
        if start is None:
            assert tat is not None
            clocks[caller] += int(wait_before_asking_s(tat, clocks[caller], ahead) * 1000) + 1
            continue
        assert start - clocks[caller] <= ahead + slot_ms(count, rate)  # nobody waits past the horizon
        grants.append(start)
        clocks[caller] = max(clocks[caller], start) + 37  # the batch's own time, then it asks again
    grants.sort()
    assert len(grants) > 1000
    for first, at in enumerate(grants):
        in_second = sum(1 for other in grants[first:] if other < at + 1000) * count
        assert in_second <= rate + count  # the rate, plus the batch whose slot starts at the edge
    # and the pace is filled: the grants span no more time than the rate needs
    span_s = (grants[-1] - grants[0]) / 1000
    assert (len(grants) - 1) * count / span_s >= rate * 0.99


def test_an_idle_pace_restarts_at_now_rather_than_catching_up() -> None:
    assert next_move(None, 5_000, 500) == Move.RESTART
    assert next_move(1_000, 5_000, 500) == Move.RESTART  # 4 s unused are not owed to anyone
    assert next_move(5_300, 5_000, 500) == Move.QUEUE
    assert next_move(5_600, 5_000, 500) == Move.WAIT
    assert wait_before_asking_s(5_600, 5_000, 500) == 0.1


def test_paced_batches_are_a_twentieth_of_a_second_of_the_rate() -> None:
    assert [batch_limit(rate) for rate in (1, 14, 200, 3000)] == [1, 1, 10, 150]
    assert slot_ms(10, 200) == 50
    # to the microsecond: whole milliseconds (52 for 51.02) paced 196 per second at 192
    assert slot_ms(10, 196) == 51.02


def test_throttles_cut_the_rate_once_per_cooldown_and_quiet_raises_it_back_to_the_ceiling() -> None:
    aimd = Aimd(200)
    ceiling = 200 * HEADROOM
    assert aimd.start(None) == ceiling
    assert aimd.start(500) == ceiling  # a configuration lowered since wins over the shared rate
    assert aimd.start(0.5) == aimd.floor

    # most calls refused: lowered by the most one cut may take; half: by half (what got through);
    # a few: by the least
    assert aimd.next_rate(ceiling, share=0.9, now_s=100.0, changed_s=None) == ceiling * (1 - aimd.max_cut)
    cut = aimd.next_rate(ceiling, share=0.4, now_s=100.0, changed_s=None)
    assert cut == ceiling * 0.6
    assert aimd.next_rate(cut, share=0.5, now_s=100.5, changed_s=100.0) is None  # the same episode
    assert aimd.next_rate(cut, share=0.02, now_s=102.5, changed_s=100.0) == cut * (1 - aimd.cut)
    # a little noise neither cuts nor raises
    assert aimd.next_rate(cut, share=(aimd.cut_above + aimd.raise_below) / 2, now_s=110.0, changed_s=100.0) is None

    rate, now, changed = cut, 103.0, 100.0
    while (raised := aimd.next_rate(rate, share=0.0, now_s=now, changed_s=changed)) is not None:
        assert raised - rate <= 200 * aimd.step + 1e-9
        rate, changed = raised, now
        now += aimd.raise_every_s
    assert rate == ceiling


def test_the_throttled_share_is_exact_from_the_first_batch_and_follows_recent_ones() -> None:
    share = ThrottleShare()
    assert share.add(10, 5) == 0.5  # one batch is the whole evidence: a cut by half, not by a tenth
    for _ in range(30):
        share.add(10, 0)
    assert share.share < 0.002


@pytest.mark.parametrize(("configured", "limit"), [(200.0, 100.0), (100.0, 50.0), (200.0, 150.0)])
def test_against_a_lower_real_limit_the_pace_settles_at_it_with_few_throttles(configured: float, limit: float) -> None:
    """Four dispatchers of eight batches in flight each, reporting what they met after the call's
    latency, against a provider that takes `limit` per second plus a second's burst
    (tests/pace_model.py): one episode makes one cut, and the climb back finds the limit again."""
    outcome = simulate(configured, limit, messages=int(limit * 200))
    assert outcome.throttled / outcome.accepted * 1000 <= 50  # throttled calls per 1,000 messages
    assert outcome.achieved >= 0.9 * limit
    # the first cut lands near the limit at once (by the share refused), not in ten small steps
    first_cuts = [rate for _, rate in outcome.rates[:4]]
    assert min(first_cuts) <= limit * 1.1


def test_at_the_configured_limit_the_pace_fills_it_and_never_goes_over() -> None:
    outcome = simulate(200.0, 200.0, messages=20_000)
    assert outcome.throttled == 0
    assert outcome.achieved >= 0.97 * 200
    assert outcome.peak_second() <= 200


def test_dispatchers_that_meet_one_episode_cut_once_between_them() -> None:
    adapters = [Adapter(Aimd(200.0)) for _ in range(4)]
    pace = Pace()
    # every dispatcher's batches, paced at the ceiling, met half their calls throttled
    # (each read the pace before any of them wrote)
    changes = [adapter.after_batch(None, None, 196.0, 10, 5, now_s=100.0) for adapter in adapters]
    for change in changes:
        assert change is not None
        pace.change(change, now_ms=100_000.0)
    assert pace.rate == 98.0  # one cut by the share refused, not four
    # a batch paced at the old rate reports late: that episode was answered already
    assert adapters[0].after_batch(pace.rate, 100.0, 196.0, 10, 10, now_s=101.5) is None
    # batches at the new rate are the evidence now
    quiet = adapters[1].after_batch(pace.rate, 100.0, 98.0, 10, 0, now_s=101.5)
    assert quiet is not None
    assert quiet.rate > 98.0


def test_a_reservation_time_far_ahead_is_nobodys_and_started_over_rather_than_waited_for() -> None:
    now, ahead = 1_000_000, 500
    # a slow slot (one message at 1/s) just reserved past the half second ahead: wait for it
    assert next_move(now + ahead + 1000, now, ahead) == Move.WAIT
    # an hour ahead (a manual edit, a dispatcher whose clock ran ahead): the channel would stall an hour
    assert next_move(now + 3_600_000, now, ahead) == Move.RESTART


def test_a_rate_change_dated_far_ahead_does_not_freeze_the_rate() -> None:
    aimd = Aimd(100.0)
    an_hour_ahead = 1_000.0 + 3600
    assert aimd.next_rate(50.0, 0.0, 1_000.0, an_hour_ahead) == aimd.ceiling  # quiet: raised
    lowered = aimd.next_rate(50.0, 0.5, 1_000.0, an_hour_ahead)
    assert lowered is not None
    assert lowered < 50.0  # throttled: cut
    # a change a moment ago on a clock a little ahead still holds the next one off
    assert aimd.next_rate(50.0, 0.5, 1_000.0, 1_000.5) is None


def test_a_rate_cut_yesterday_rises_by_its_step_for_every_quiet_second_since_not_once() -> None:
    aimd = Aimd(100.0)
    # cut to the floor in a throttle episode, then idle for an hour: the next quiet batch finds the
    # rate back at the ceiling, as 1 % of the configured rate a second makes it
    assert aimd.next_rate(aimd.floor, 0.0, 10_000.0, 10_000.0 - 3600) == aimd.ceiling
    # a quiet minute with no batch: a step for each second; a busy pace: a step a batch
    assert aimd.next_rate(30.0, 0.0, 10_000.0, 10_000.0 - 65) == 30.0 + 65
    assert aimd.next_rate(50.0, 0.0, 10_000.0, 10_000.0 - 3) == 51.0


def test_throttles_a_warm_process_met_long_ago_are_no_evidence_against_todays_batches() -> None:
    aimd, share = Aimd(100.0), ThrottleShare()
    share.add(10, 10, now_s=1_000.0)  # the end of a throttle episode, then the sandbox idles an hour
    today = share.add(10, 0, now_s=4_600.0)
    # a quiet batch an hour later raises the rate, where the old episode's share would cut it
    raised = aimd.next_rate(50.0, today, 4_600.0, 1_000.0)
    assert raised is not None
    assert raised > 50.0
    # within a burst of batches the share still follows them
    assert 0.5 < share.add(10, 10, now_s=4_600.5) < 0.6


def test_a_count_no_batch_could_meet_is_the_whole_batch_throttled_not_an_overflow() -> None:
    # botocore's retries count a message's attempts (3 for one message is real); 10**400 is an answer
    # no channel function gives, but must not fail the dispatcher after its batch was sent.
    assert ThrottleShare().add(10, 30) == ThrottleShare().add(10, 10**400) == 1.0


@pytest.mark.parametrize(
    ("send_at", "send_by", "now", "waited", "lag_ms", "late"),
    [
        (100.05, 100.15, 100.0, [0.05], -50.0, False),  # invoked ahead of its slot: waits for its start
        (100.0, 100.1, 100.08, [], 80.0, False),  # a little after it, within HAND_BACK_MS: goes at once
        (100.0, 100.1, 100.25, [], 250.0, True),  # past sendBy: handed back
        (99.0, None, 100.0, [], 1000.0, False),  # the last attempt carries no sendBy: goes, however late
        (None, None, 100.0, [], None, False),  # unpaced: nothing to wait for
        (None, 99.0, 100.0, [], None, False),  # a sendBy without its slot is no slot
        # a slot far ahead is a clock that disagrees: a bounded wait, then the messages go
        (130.0, 130.1, 100.0, [0.5], -30_000.0, False),
    ],
)
def test_a_paced_batch_waits_for_its_slot_at_most_a_little_and_is_late_only_past_send_by(
    send_at: float | None, send_by: float | None, now: float, waited: list[float], lag_ms: float | None, late: bool
) -> None:
    from messaging.channels.handler import too_late, wait_for_slot

    clock = [now]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    lag = wait_for_slot(send_at, lambda: clock[0], sleep)

    assert sleeps == pytest.approx(waited)
    assert lag == (None if lag_ms is None else pytest.approx(lag_ms))
    assert too_late(send_at, send_by, lag) is late


def test_the_lead_follows_how_long_batches_take_to_be_ready_but_the_slowest_within_bounds() -> None:
    lead = Lead()
    assert lead.ms == LEAD_MS  # until it has seen enough batches
    for needed in [30.0] * 63 + [900.0]:  # a quiet fleet, and one cold start
        lead.add(needed)
    assert lead.ms == LEAD_MIN_MS  # 30 + spare, raised to the least lead
    for needed in [150.0 + n for n in range(64)]:  # a loaded fleet
        lead.add(needed)
    assert lead.ms == pytest.approx(150 + 62 + LEAD_SPARE_MS)  # all but the slowest one in fifty
    for _ in range(64):
        lead.add(5_000.0)  # a clock that disagrees, a stall: never past the reservations' horizon
    lead.add(math.nan)
    assert lead.ms == LEAD_MAX_MS


def test_a_hostile_slot_makes_a_late_answer_with_a_bounded_lag_that_is_handed_back_unsent() -> None:
    """A batch invoked by hand with its slot far ahead and its `sendBy` long past: nothing is sent, the
    wait is bounded, and the lag its error shows stays a short number (never a run of digits that
    reads as a phone number, or a page of them)."""
    import re
    from types import SimpleNamespace

    from messaging.channels.common import DeliveryReport
    from messaging.channels.handler import handle_batch

    sent: list[int] = []

    def send() -> DeliveryReport:
        sent.append(1)
        return DeliveryReport([])

    users = [SimpleNamespace(userId="u1")]
    batch = SimpleNamespace(
        channel="sms", correlationId=None, batchId=None, messages=users, paced=True, sendAt=1e12, sendBy=0.0
    )
    answer = handle_batch(batch, send)

    assert sent == []
    [failure] = answer["failures"]
    assert failure["code"] == "Late"
    assert max(len(run) for run in re.findall(r"\d+", failure["error"])) <= 8
