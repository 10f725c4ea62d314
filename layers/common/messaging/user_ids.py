"""How a user id from the API (always a string) finds its document: `_id` is usually an ObjectId,
so a 24-hex id matches either form, in any letter case."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bson import ObjectId


def object_id(value: str) -> ObjectId | None:
    return ObjectId(value) if len(value) == 24 and ObjectId.is_valid(value) else None


def lookup_values(ids: Sequence[str], id_field: str) -> list[Any]:
    """The values to match `id_field` against (`$in`): the ids, and for `_id` their ObjectIds too."""
    values: list[Any] = list(ids)
    if id_field == "_id":
        values += list(dict.fromkeys(oid for oid in map(object_id, ids) if oid is not None))
    return values
