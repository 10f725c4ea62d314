"""Who receives: the users named in `recipients` plus the members of `clusters`, each once."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from bson import ObjectId

from messaging.channels import registry
from messaging.models.common import Channel
from messaging.models.config import ServiceConfig
from messaging.preferences import is_stale, opted_out_channels
from messaging.store import Document, Store
from messaging.user_ids import lookup_values, object_id


@dataclass(frozen=True)
class Recipient:
    user_id: str
    # The user's address for each channel's user field (`emailAddress`, `phoneNumber`...), or None.
    addresses: Mapping[str, str | None]
    document: Document  # what templates see as `user`: the allow-listed fields only
    # The channels the user opted out of (`userFields.optOuts`).
    opted_out: frozenset[Channel] = frozenset()
    # The device token is the one FCM reported stale (`userFields.staleDeviceToken`), unchanged since.
    stale_token: bool = False
    # The user's locale and time zone as stored (strings or None): checked where they are used.
    locale: str | None = None
    timezone: str | None = None
    # `userFields.preferences` as stored (read by messaging.categories, whatever its shape).
    preferences: Any = None

    def address(self, user_field: str) -> str | None:
        return self.addresses.get(user_field)


def _text(value: Any) -> str | None:
    """An address is a non-empty string; anything else means the user has none for that channel."""
    return value.strip() or None if isinstance(value, str) else None


def _json_safe(value: Any) -> Any:
    """NaN and Infinity are not JSON: the template engine would refuse the whole context. A value
    that cannot be written renders as a missing one."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def template_fields(config: ServiceConfig) -> list[str]:
    """The user fields templates see: the id, the addresses, the clusters and what the operator lists.
    The device token is left out: it is a credential of the user's device, never message text."""
    fields = config.userFields
    addresses = [fields.address(key) for key, visible in registry.user_fields().items() if visible]
    return list(dict.fromkeys([fields.id, *addresses, fields.clusters, *config.templateUserFields]))


def _path(document: Mapping[str, Any], name: str) -> Any:
    """A field by its configured name, dotted names read into subdocuments (`prefs.optOuts`)."""
    value: Any = document
    for part in name.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _projection(paths: Sequence[str]) -> list[str]:
    # MongoDB refuses a projection naming both `a` and `a.b`: the parent covers the child.
    unique = set(paths)
    return [path for path in dict.fromkeys(paths) if not any(path.startswith(f"{other}.") for other in unique)]


class Audience:
    """The recipients, streamed from the cursors one at a time so that no list of users is ever
    held: only the ids seen, to answer each user once. Two indexed `$in` queries merged by user id:
    `$or` would be one query, but some wire-protocol servers answer it with a full scan.

    `size` and `missing_ids` are final once the iteration has ended."""

    def __init__(
        self, store: Store, config: ServiceConfig, recipients: Sequence[str] | None, clusters: Sequence[str] | None
    ) -> None:
        self._store = store
        self._fields = config.userFields
        visible = template_fields(config)
        self._addresses = {key: self._fields.address(key) for key in registry.user_fields()}
        # Read for the skips, the variant and the date helpers' zone; never shown to templates as such.
        fields = self._fields
        preferences = [fields.optOuts, fields.staleDeviceToken, fields.locale, fields.timezone, fields.preferences]
        self._projection = _projection([*visible, *self._addresses.values(), *preferences])
        # A dotted name (`address.city`) is read as the top-level field, projected down to that path.
        self._visible = list(dict.fromkeys(name.split(".", 1)[0] for name in _projection(visible)))
        self._requested = list(dict.fromkeys(recipients or ()))
        self._clusters = list(dict.fromkeys(clusters or ()))
        self._seen: set[str] = set()
        self._seen_object_ids: set[ObjectId] = set()
        self.missing_ids: list[str] = []  # listed in `recipients`, no such user

    @property
    def size(self) -> int:
        return len(self._seen)

    def __iter__(self) -> Iterator[Recipient]:
        fields = self._fields
        documents: list[Iterable[Document]] = []
        if self._requested:
            lookup = lookup_values(self._requested, fields.id)
            documents.append(self._store.users_by_ids(fields.id, lookup, self._projection))
        if self._clusters:
            documents.append(self._store.users_in_clusters(fields.clusters, self._clusters, self._projection))
        for document in chain.from_iterable(documents):
            raw_id = document.get(fields.id)
            if raw_id is None:
                continue
            user_id = str(raw_id)
            if user_id in self._seen:
                continue
            self._seen.add(user_id)
            if isinstance(raw_id, ObjectId):
                self._seen_object_ids.add(raw_id)
            addresses = {key: _text(document.get(name)) for key, name in self._addresses.items()}
            yield Recipient(
                user_id=user_id,
                addresses=addresses,
                document={name: _json_safe(document[name]) for name in self._visible if name in document},
                opted_out=frozenset(opted_out_channels(_path(document, fields.optOuts))),
                stale_token=is_stale(addresses.get("deviceToken"), _path(document, fields.staleDeviceToken)),
                locale=_text(_path(document, fields.locale)),
                timezone=_text(_path(document, fields.timezone)),
                preferences=_path(document, fields.preferences),
            )
        self.missing_ids = [user_id for user_id in self._requested if not self._found(user_id)]

    def _found(self, requested: str) -> bool:
        """A requested id names a user seen under its own spelling or, for an ObjectId, in any case."""
        if requested in self._seen:
            return True
        oid = object_id(requested) if self._fields.id == "_id" else None
        return oid is not None and oid in self._seen_object_ids
