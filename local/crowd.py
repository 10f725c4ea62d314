"""A large cluster in `make start`'s database, to watch an asynchronous send of real size:

    .venv/bin/python -m local.crowd --users 20000          # cluster "crowd", replacing an earlier one
    .venv/bin/messaging send --async -c email -k crowd -t News -m 'Hi {{user.name}}' --watch

Users `crowd-00000`... with an e-mail address each, but every tenth without one (skipped, `noAddress`).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from pymongo import MongoClient


def crowd(users: int, cluster: str) -> list[dict[str, Any]]:
    return [
        {
            "_id": f"{cluster}-{i:05d}",
            "name": f"Crowd {i}",
            "clusters": [cluster],
            **({} if i % 10 == 9 else {"emailAddress": f"{cluster}-{i}@example.com"}),
        }
        for i in range(users)
    ]


def seed(uri: str, users: int, cluster: str) -> int:
    """Replaces the cluster's users with `users` new ones; how many it holds then."""
    client: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=10_000)
    try:
        collection = client["messaging"].users
        # Only the crowd's own users (their ids and sole cluster): a cluster may hold other users too.
        ours = {"_id": {"$regex": f"^{re.escape(cluster)}-[0-9]{{5,}}$"}, "clusters": [cluster]}
        collection.delete_many(ours)
        everyone = crowd(users, cluster)
        for start in range(0, users, 5_000):
            collection.insert_many(everyone[start : start + 5_000])
        return collection.count_documents({"clusters": cluster})
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--cluster", default="crowd")
    parser.add_argument("--mongo-uri", default="mongodb://127.0.0.1:27017/", help="make start's SecantusDB")
    args = parser.parse_args(argv)
    print(f"cluster {args.cluster}: {seed(args.mongo_uri, args.users, args.cluster)} users")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
