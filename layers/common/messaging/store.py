"""MongoDB access behind a narrow interface: users by id or cluster, a template by id."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from bson import ObjectId
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from messaging.errors import ServiceUnavailable

Document = dict[str, Any]

# pymongo decodes a whole reply batch at once, and an unbounded batch is up to 16 MB of BSON: tens of
# thousands of users as dicts. 500 users bound that to a few MB for ~1 round trip per 500.
CURSOR_BATCH = 500
IN_CHUNK = 50  # ids per `$in` query


class Store(Protocol):
    def users_by_ids(self, id_field: str, ids: Sequence[Any], fields: Sequence[str]) -> Iterator[Document]: ...

    def users_in_clusters(
        self, clusters_field: str, clusters: Sequence[str], fields: Sequence[str]
    ) -> Iterator[Document]: ...

    def template(self, template_id: str) -> Document | None: ...

    def ping(self) -> None: ...


class MongoStore:
    """Queries are built here only, from plain strings: callers never pass operators."""

    def __init__(self, client: MongoClient[Document], database: str, users: str, templates: str) -> None:
        db = client[database]
        self._users = db[users]
        self._templates = db[templates]

    @property
    def users(self) -> Any:
        """The users collection, for messaging.preferences (the only writer of user documents)."""
        return self._users

    @classmethod
    def connect(cls, uri: str, database: str, users: str, templates: str, timeout_ms: int) -> MongoStore:
        # The client connects lazily and is reused by every invocation of a warm container.
        client: MongoClient[Document] = MongoClient(
            uri,
            appname="messaging-service",
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms * 4,
        )
        return cls(client, database, users, templates)

    def users_by_ids(self, id_field: str, ids: Sequence[Any], fields: Sequence[str]) -> Iterator[Document]:
        # In pieces: some wire-protocol servers match `$in` in time quadratic in its values (SecantusDB:
        # 1,000 ids 2.2 s, 5,000 ids 75 s; pieces of 50 about 0.2 ms per user); MongoDB pays one round
        # trip per piece.
        for start in range(0, len(ids), IN_CHUNK):
            yield from self._stream(self._users, {id_field: {"$in": list(ids[start : start + IN_CHUNK])}}, fields)

    def users_in_clusters(
        self, clusters_field: str, clusters: Sequence[str], fields: Sequence[str]
    ) -> Iterator[Document]:
        return self._stream(self._users, {clusters_field: {"$in": list(clusters)}}, fields)

    def ping(self) -> None:
        """Raises ServiceUnavailable unless the database answers."""
        try:
            self._users.database.command("ping")
        except PyMongoError as exc:
            raise ServiceUnavailable(f"database unreachable: {type(exc).__name__}") from exc

    def template(self, template_id: str) -> Document | None:
        try:
            document: Document | None = self._templates.find_one({"_id": ObjectId(template_id)})
        except PyMongoError as exc:
            raise ServiceUnavailable(f"database unreachable: {type(exc).__name__}") from exc
        return document

    @staticmethod
    def _stream(collection: Any, query: Document, fields: Sequence[str]) -> Iterator[Document]:
        # Only the fields used are read: less to decode, and nothing else of a user leaves the database.
        projection = dict.fromkeys(fields, 1)
        try:
            yield from collection.find(query, projection, batch_size=CURSOR_BATCH)
        except PyMongoError as exc:
            raise ServiceUnavailable(f"database unreachable: {type(exc).__name__}") from exc
