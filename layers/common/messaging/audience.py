"""Who receives: the users named in `recipients` plus the members of `clusters`, each once."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
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


def _text(value: Any) -> str | None:
    """An address is a non-empty string; anything else means the user has none for that channel."""
    return value.strip() or None if isinstance(value, str) else None


def _lookup_values(ids: Sequence[str], id_field: str) -> list[Any]:
    # `_id` is usually an ObjectId while requests carry strings: match either form.
    values: list[Any] = list(ids)
    if id_field == "_id":
        values += [ObjectId(value) for value in ids if ObjectId.is_valid(value) and len(value) == 24]
    return values


class Audience:
    """The recipients, streamed from the cursors one at a time so that no list of users is ever
    held: only the ids seen, to answer each user once. Two indexed `$in` queries merged by user id:
    `$or` would be one query, but some wire-protocol servers answer it with a full scan.

    `size` and `missing_ids` are final once the iteration has ended."""

    def __init__(
        self, store: Store, fields: UserFields, recipients: Sequence[str] | None, clusters: Sequence[str] | None
    ) -> None:
        self._store = store
        self._fields = fields
        self._requested = list(dict.fromkeys(recipients or ()))
        self._clusters = list(dict.fromkeys(clusters or ()))
        self._seen: set[str] = set()
        self.missing_ids: list[str] = []  # listed in `recipients`, no such user

    @property
    def size(self) -> int:
        return len(self._seen)

    def __iter__(self) -> Iterator[Recipient]:
        fields = self._fields
        documents: list[Iterable[Document]] = []
        if self._requested:
            documents.append(self._store.users_by_ids(fields.id, _lookup_values(self._requested, fields.id)))
        if self._clusters:
            documents.append(self._store.users_in_clusters(fields.clusters, self._clusters))
        for document in chain.from_iterable(documents):
            raw_id = document.get(fields.id)
            if raw_id is None:
                continue
            user_id = str(raw_id)
            if user_id in self._seen:
                continue
            self._seen.add(user_id)
            yield Recipient(
                user_id=user_id,
                email=_text(document.get(fields.emailAddress)),
                phone=_text(document.get(fields.phoneNumber)),
                token=_text(document.get(fields.deviceToken)),
                document=document,
            )
        self.missing_ids = [user_id for user_id in self._requested if user_id not in self._seen]
