"""Which SAM Lambda containers a stack may remove when it stops: only its own.

SAM leaves some warm containers behind on SIGTERM. Every stack on this machine (`make start`, the
e2e suite's, another checkout's) makes containers with the same SAM label, so "the ones created
since I started" would remove a neighbour's too. A container is this stack's when its code is
mounted from this checkout's `.aws-sam/build` AND its environment points at this stack's moto
(each stack runs its own on a port of its own), and it was not there before the stack started.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SAM_LAMBDA = "label=sam.cli.container.type=lambda"


def sam_lambda_containers() -> set[str]:
    result = subprocess.run(
        ["docker", "ps", "-aq", "--filter", SAM_LAMBDA], capture_output=True, text=True, check=False
    )
    return set(result.stdout.split())


def inspected(ids: Iterable[str]) -> list[dict[str, Any]]:
    """`docker inspect` of each container (one gone meanwhile is simply missing)."""
    ids = sorted(ids)
    if not ids:
        return []
    result = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=False)
    try:
        found: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    except ValueError:
        return []
    return found


def owned(containers: Iterable[dict[str, Any]], build_dir: Path, marker: str, before: set[str]) -> list[str]:
    """The ids among `containers` (docker inspect's shape) that this stack made: not in `before`, code
    mounted from under `build_dir`, and an environment variable whose value is `marker` (this stack's
    moto endpoint as the containers see it)."""
    build = str(build_dir.resolve())
    mine = []
    for container in containers:
        cid = str(container.get("Id", ""))
        if not cid or cid in before or any(cid.startswith(old) for old in before):
            continue
        mounts = container.get("Mounts") or []
        from_build = any(
            str(mount.get("Source", "")) == build or str(mount.get("Source", "")).startswith(build + "/")
            for mount in mounts
        )
        env = (container.get("Config") or {}).get("Env") or []
        points_here = any(str(item).partition("=")[2] == marker for item in env)
        if from_build and points_here:
            mine.append(cid)
    return sorted(mine)
