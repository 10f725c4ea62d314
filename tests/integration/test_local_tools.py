"""The newcomer's tools against `make start`'s parts: `local/crowd.py` on SecantusDB."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from local import crowd
from tests.conftest import Servers


def test_a_crowd_in_a_cluster_that_has_users_replaces_only_its_own(
    servers: Servers, db: Database[dict[str, Any]]
) -> None:
    theirs = sorted(user["_id"] for user in db.users.find({"clusters": "patients"}))
    alone = [user["_id"] for user in db.users.find({"clusters": ["patients"]})]
    assert alone  # users whose only cluster is the one the crowd joins: never the crowd's to delete

    for _ in range(2):  # run again, it replaces its users, not doubling them
        held = crowd.seed(servers.mongo_uri, 5, "patients")

    assert held == len(theirs) + 5
    in_cluster = sorted(user["_id"] for user in db.users.find({"clusters": "patients"}))
    assert in_cluster == sorted([*theirs, *(f"patients-{i:05d}" for i in range(5))])
    # A smaller crowd afterwards drops the crowd users it no longer has, and still none of theirs.
    assert crowd.seed(servers.mongo_uri, 2, "patients") == len(theirs) + 2
