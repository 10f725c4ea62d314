"""What the service learns about a user after sending, kept in the user's own document: the
channels they opted out of, and the push token FCM reported stale. Reading is plain data (the
audience projects the two fields); writing goes through `UserPreferences`, the only code that
updates the users collection.

- Opt-outs: `userFields.optOuts` holds a list of channel names (`["email", "sms"]`); an object
  of channel -> true is read too (an operator's own shape). The service adds a channel with
  `$addToSet` (to a list), or sets `<channel>: true` (in an object), so a repeated event changes
  nothing; a value of neither shape names no channel and is replaced by the list.
- A document an update cannot apply to (a dotted field below a string, say) costs that user's note
  only: it is logged, never raised as an outage, so one odd document neither fails a send's
  bookkeeping nor makes Lambda retry, then drop, a delivery event.
- Stale tokens (`STALE_TOKENS`): `mark` (default) stores the rejected token in
  `userFields.staleDeviceToken`, and push skips the user while `deviceToken` is still that token
  (a new registration clears the skip by itself); `remove` unsets `deviceToken` (only if it is
  still the rejected one); `keep` changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pymongo.errors import PyMongoError, WriteError

from messaging.errors import ServiceUnavailable
from messaging.models.common import CHANNELS, Channel
from messaging.observability import logger
from messaging.user_ids import lookup_values

StaleTokens = Literal["mark", "remove", "keep"]


def opted_out_channels(value: Any) -> set[Channel]:
    """The channels a stored `optOuts` value names; anything unreadable names none."""
    if isinstance(value, list):
        return {item for item in value if isinstance(item, str) and item in CHANNELS}
    if isinstance(value, Mapping):
        return {key for key, flag in value.items() if key in CHANNELS and flag is True}
    return set()


def is_stale(token: str | None, stale: Any) -> bool:
    """The device token is the one FCM reported stale (and not a new registration since)."""
    return bool(token) and isinstance(stale, str) and stale == token


class UserPreferences:
    """Updates of one users collection; every filter is built here from plain strings."""

    def __init__(
        self,
        users: Any,
        id_field: str,
        opt_outs_field: str,
        token_field: str,
        stale_field: str,
        preferences_field: str = "preferences",
    ) -> None:
        self._users = users
        self._preferences = preferences_field
        self._id = id_field
        self._opt_outs = opt_outs_field
        self._token = token_field
        self._stale = stale_field

    def _user(self, user_id: str) -> dict[str, Any]:
        # The id as the API answers it: a string, or an ObjectId's hex.
        return {self._id: {"$in": lookup_values([user_id], self._id)}}

    def _update(self, query: dict[str, Any], update: dict[str, Any], user_id: str) -> Any:
        """The result, or None when this document refuses the update (its shape, not an outage)."""
        try:
            return self._users.update_one(query, update)
        except WriteError as exc:
            logger.warning("user document not updated", extra={"userId": user_id, "code": exc.code})
            return None
        except PyMongoError as exc:
            raise ServiceUnavailable(f"database unreachable: {type(exc).__name__}") from exc

    def opt_out(self, user_id: str, channel: Channel) -> bool:
        """True if the user was found and opted out (now or already)."""
        user, field = self._user(user_id), self._opt_outs
        # `$addToSet` refuses anything but a list: each shape gets its own update, in its shape.
        steps: list[tuple[dict[str, Any], dict[str, Any]]] = [
            ({"$or": [{field: {"$exists": False}}, {field: {"$type": "array"}}]}, {"$addToSet": {field: channel}}),
            ({field: {"$type": "object"}}, {"$set": {f"{field}.{channel}": True}}),
            # null, a string, a number: opted_out_channels reads no channel in it.
            ({"$nor": [{field: {"$type": "array"}}, {field: {"$type": "object"}}]}, {"$set": {field: [channel]}}),
        ]
        for shape, update in steps:
            result = self._update({**user, **shape}, update, user_id)
            if result is None:
                return False
            if result.matched_count:
                return True
        return False

    def refuse(self, user_id: str, category: str, channel: Channel) -> bool:
        """The user refuses the category on the channel (`preferences.<category>.<channel> = false`).
        True if the user was found and refuses it (now or already: `false` for the whole category)."""
        user, field = self._user(user_id), f"{self._preferences}.{category}"
        steps: list[tuple[dict[str, Any], dict[str, Any]]] = [
            ({field: {"$type": "object"}}, {"$set": {f"{field}.{channel}": False}}),
            ({field: False}, {"$set": {field: False}}),  # refused everywhere already: nothing to add
            # Missing, true, or a shape refused_channels reads nothing in: replaced by the refusal.
            ({field: {"$not": {"$type": "object"}}}, {"$set": {field: {channel: False}}}),
        ]
        for shape, update in steps:
            result = self._update({**user, **shape}, update, user_id)
            if result is None:
                return False
            if result.matched_count:
                return True
        return False

    def opt_out_many(self, user_ids: Sequence[str], channel: Channel) -> int:
        return sum(self.opt_out(user_id, channel) for user_id in dict.fromkeys(user_ids))

    def token_stale(self, user_id: str, token: str, mode: StaleTokens) -> bool:
        """Records that FCM rejected `token` for good; only while it is still the user's token.
        True if a document changed."""
        if mode == "keep" or not token:
            return False
        query = {**self._user(user_id), self._token: token}
        update: dict[str, Any] = {"$set": {self._stale: token}} if mode == "mark" else {"$unset": {self._token: ""}}
        result = self._update(query, update, user_id)
        return bool(result is not None and result.modified_count)
