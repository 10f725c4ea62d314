"""The pacer's arithmetic on a fake clock: reservations never let more than the rate through in any
second, throttles cut the rate and quiet raises it back, and against a provider whose real limit is
half the configured rate the pace settles just under that limit with few throttles."""

from __future__ import annotations

from messaging.rate_control import (
    HEADROOM,
    Aimd,
    Move,
    ThrottleShare,
    batch_limit,
    next_move,
    slot_ms,
    wait_before_asking_s,
)


def _reserve(tat: int | None, now: int, count: int, rate: float, ahead: int) -> tuple[int | None, int | None]:
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
    grants: list[int] = []  # ms at which each batch of `count` may go
    tat: int | None = None
    clocks = [0] * 16  # sixteen callers (dispatchers' threads), each with its own notion of "now"
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


def test_throttles_cut_the_rate_once_per_cooldown_and_quiet_raises_it_back_to_the_ceiling() -> None:
    aimd = Aimd(200)
    ceiling = 200 * HEADROOM
    assert aimd.start(None) == ceiling
    assert aimd.start(500) == ceiling  # a configuration lowered since wins over the shared rate
    assert aimd.start(0.5) == aimd.floor

    # half the calls refused: lowered by the most one cut may take; a few: by the least
    cut = aimd.next_rate(ceiling, share=0.5, now_s=100.0, changed_s=None)
    assert cut == ceiling * (1 - aimd.max_cut)
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


def test_the_throttled_share_follows_recent_batches() -> None:
    share = ThrottleShare()
    assert share.add(10, 10) == share.weight
    for _ in range(30):
        share.add(10, 0)
    assert share.share < 0.002


def test_against_a_limit_half_the_configured_rate_the_pace_settles_under_it_with_few_throttles() -> None:
    """A provider that takes `limit` per second and throttles the rest; batches every 50 ms report
    what they met a batch later (the feedback's delay)."""
    aimd, share, limit = Aimd(200), ThrottleShare(), 100.0
    rate, changed = aimd.start(None), None
    sent = throttled = 0.0
    sent_late = 0.0
    step_s = 0.05
    reported = (0.0, 0.0)  # the previous step's batch: (messages, throttled)
    for tick in range(int(300 / step_s)):
        now = tick * step_s
        offered = rate * step_s
        refused = max(0.0, offered - limit * step_s)
        sent += offered - refused
        throttled += refused
        if now >= 60:
            sent_late += offered - refused
        messages, refused_before = reported
        if messages:
            moved = aimd.next_rate(rate, share.add(round(messages), round(refused_before)), now, changed)
            if moved is not None:
                if moved < rate:
                    share.reset()  # as messaging.pacing does: only what follows a cut judges it
                rate, changed = moved, now
        reported = (offered, refused)
    assert throttled / (sent + throttled) * 1000 <= 50  # throttled calls per 1,000
    assert sent_late / 240 >= 0.9 * limit  # after the first minute, at least 90 % of the real limit
    assert rate <= limit * 1.1


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
    assert share.add(10, 10, now_s=4_600.5) == share.weight


def test_a_count_no_batch_could_meet_is_the_whole_batch_throttled_not_an_overflow() -> None:
    # botocore's retries count a message's attempts (3 for one message is real); 10**400 is an answer
    # no channel function gives, but must not fail the dispatcher after its batch was sent.
    assert ThrottleShare().add(10, 30) == ThrottleShare().add(10, 10**400) == ThrottleShare.weight
