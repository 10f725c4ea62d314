"""Who receives: the users named in `recipients` plus the members of `clusters`, each once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

from messaging.models.config import UserFields
from messaging.store import Document, Store


@dataclass(frozen=True)
class Recipient:
    user_id: str
    email: str | None
    phone: str | None
    token: str | None
    document: Document  # the whole stored user, visible to templates as `user`


@dataclass
class Audience:
    recipients: list[Recipient] = field(default_factory=list)
    missing_ids: list[str] = field(default_factory=list)  # listed in `recipients`, no such user


def _text(value: Any) -> str | None:
    """An address is a non-empty string; anything else means the user has none for that channel."""
    return value.strip() or None if isinstance(value, str) else None


def _lookup_values(ids: Sequence[str], id_field: str) -> list[Any]:
    # `_id` is usually an ObjectId while requests carry strings: match either form.
    values: list[Any] = list(ids)
    if id_field == "_id":
        values += [ObjectId(value) for value in ids if ObjectId.is_valid(value) and len(value) == 24]
    return values


def resolve_audience(
    store: Store, fields: UserFields, recipients: Sequence[str] | None, clusters: Sequence[str] | None
) -> Audience:
    """Two indexed `$in` queries, merged by user id. `$or` would be one query, but some
    wire-protocol servers answer it with a full scan."""
    audience = Audience()
    seen: set[str] = set()
    requested = list(dict.fromkeys(recipients or ()))

    def add(document: Document) -> None:
        raw_id = document.get(fields.id)
        if raw_id is None:
            return
        user_id = str(raw_id)
        if user_id in seen:
            return
        seen.add(user_id)
        audience.recipients.append(
            Recipient(
                user_id=user_id,
                email=_text(document.get(fields.emailAddress)),
                phone=_text(document.get(fields.phoneNumber)),
                token=_text(document.get(fields.deviceToken)),
                document=document,
            )
        )

    if requested:
        for document in store.users_by_ids(fields.id, _lookup_values(requested, fields.id)):
            add(document)
    if clusters:
        for document in store.users_in_clusters(fields.clusters, list(dict.fromkeys(clusters))):
            add(document)
    audience.missing_ids = [user_id for user_id in requested if user_id not in seen]
    return audience
