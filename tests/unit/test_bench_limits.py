"""The benchmark's provider limits (bench/limits.py) on a fake clock: SES and End User Messaging
take their rate plus a short burst, FCM a rolling minute's quota; each answers as the provider does."""

from __future__ import annotations

import json

from bench.limits import THROTTLED_ANSWERS, RollingWindow, TokenBucket, burst


def test_a_token_bucket_takes_its_burst_at_once_then_only_its_rate() -> None:
    bucket = TokenBucket(rate=100, capacity=burst("sms", 100), now=0.0)  # End User Messaging: 10
    assert sum(bucket.take(0.0) for _ in range(50)) == 10
    # the next second, 100 more at most, whatever is asked
    assert sum(bucket.take(0.0 + i / 1000) for i in range(1, 1001)) == 100


def test_fcm_takes_a_minutes_quota_in_any_rolling_minute() -> None:
    window = RollingWindow(quota=600, window_s=60.0)
    assert sum(window.take(1.0) for _ in range(700)) == 600
    assert not window.take(60.5)
    assert window.take(61.5)  # the first minute's messages have rolled out


def test_the_stand_ins_throttle_with_each_providers_own_error() -> None:
    status, headers, body, _ = THROTTLED_ANSWERS["email"]
    assert (status, headers["x-amzn-ErrorType"], json.loads(body)["message"]) == (
        400,
        "Throttling",
        "Maximum sending rate exceeded.",
    )
    assert json.loads(THROTTLED_ANSWERS["sms"][2])["__type"] == "ThrottlingException"
    status, _, body, _ = THROTTLED_ANSWERS["push"]
    assert status == 429
    assert json.loads(body)["error"]["details"][0]["errorCode"] == "QUOTA_EXCEEDED"
