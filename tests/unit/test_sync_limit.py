"""A synchronous send reaches no more users than its paced channels' providers accept before the
API's deadline: the 400 names the bound and `Prefer: respond-async`."""

from __future__ import annotations

from messaging.models.function_settings import SendSettings
from messaging.service import SYNC_SEND_WINDOW_S, sync_limit, too_large_for_sync


def _settings(**rates: float) -> SendSettings:
    return SendSettings.model_construct(sync_max_audience=10_000, max_rates=rates)


def test_unpaced_channels_keep_sync_max_audience() -> None:
    assert sync_limit(_settings(), ["email", "push"]) == (10_000, "SYNC_MAX_AUDIENCE")
    assert sync_limit(_settings(push=0), ["push"]) == (10_000, "SYNC_MAX_AUDIENCE")


def test_the_slowest_paced_channel_of_the_request_bounds_the_audience() -> None:
    limit, bound = sync_limit(_settings(email=14, sms=20), ["sms", "email", "push"])
    assert limit == int(14 * SYNC_SEND_WINDOW_S) == 280
    assert bound == "what EMAIL_MAX_RATE (14/s) sends in 20 s"
    assert sync_limit(_settings(email=14), ["sms"]) == (10_000, "SYNC_MAX_AUDIENCE")  # not in the request
    assert sync_limit(_settings(sms=1000), ["sms"]) == (10_000, "SYNC_MAX_AUDIENCE")  # faster than the cap
    assert sync_limit(_settings(voice=0.01), ["voice"])[0] == 1


def test_the_refusal_names_the_bound_and_the_asynchronous_way() -> None:
    error = too_large_for_sync(280, "what EMAIL_MAX_RATE (14/s) sends in 20 s")
    assert "exceeds what EMAIL_MAX_RATE (14/s) sends in 20 s (280 users)" in str(error.message)
    assert "Prefer: respond-async" in str(error.message)


def test_an_infinite_rate_paces_nothing_and_is_refused_at_cold_start() -> None:
    import pytest
    from pydantic import ValidationError

    assert sync_limit(_settings(voice=float("inf")), ["voice"]) == (10_000, "SYNC_MAX_AUDIENCE")
    with pytest.raises(ValidationError) as refused:
        SendSettings.model_validate({"max_rates": {"voice": "1e400"}})
    assert any(error["loc"][:2] == ("max_rates", "voice") for error in refused.value.errors())
