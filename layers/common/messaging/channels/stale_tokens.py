"""Push tokens FCM reports gone for good (`UNREGISTERED`, or `INVALID_ARGUMENT` saying the
registration token is not valid), recorded in the user's document (`STALE_TOKENS`,
messaging.preferences): the failure is still answered for this send, and later sends skip the user
on push until the token changes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from messaging.errors import ServiceUnavailable
from messaging.models.response import ChannelFailure
from messaging.observability import count, logger

if TYPE_CHECKING:
    from messaging.channels.push import PushBatch
    from messaging.preferences import StaleTokens, UserPreferences


def is_stale_token(failure: ChannelFailure) -> bool:
    """FCM says the token will never work again: the app was uninstalled, or it is no token at all."""
    if failure.code == "UNREGISTERED":
        return True
    reason = failure.error.lower()
    return failure.code == "INVALID_ARGUMENT" and "registration token" in reason and "not a valid" in reason


def mark_stale_tokens(
    batch: PushBatch, failures: list[ChannelFailure], preferences: UserPreferences | None, mode: StaleTokens
) -> int:
    """Records each stale token in its user's document; how many documents changed. A database
    outage loses only the note (logged without the token): the batch's answer stands."""
    tokens = {message.userId: message.token for message in batch.messages}
    stale = [
        (failure.userId, tokens[failure.userId])
        for failure in failures
        if failure.userId in tokens and is_stale_token(failure)
    ]
    if preferences is None or mode == "keep" or not stale:
        return 0
    marked = 0
    try:
        for user_id, token in stale:
            marked += preferences.token_stale(user_id, token, mode)
    except ServiceUnavailable as exc:
        logger.warning("stale tokens not recorded", extra={"users": len(stale), "reason": exc.message[:200]})
    if marked:
        count("StaleTokensMarked", marked, channel="push")
    logger.info("stale tokens", extra={"reported": len(stale), "recorded": marked, "mode": mode})
    return marked
