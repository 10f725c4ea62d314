"""A stack's shutdown removes its own SAM containers only: `make start` stopping while the e2e suite's
stack (or another checkout's) runs must leave that one's containers alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from local.sam_containers import owned

BUILD = Path("/work/checkout/.aws-sam/build")
MOTO = "http://host.docker.internal:5000"


def container(cid: str, source: str, moto: str) -> dict[str, Any]:
    return {
        "Id": cid,
        "Mounts": [{"Type": "bind", "Source": source, "Destination": "/var/task"}],
        "Config": {"Env": ["AWS_SAM_LOCAL=true", f"AWS_ENDPOINT_URL_DYNAMODB={moto}", "AWS_REGION=us-east-1"]},
    }


def test_a_stack_removes_its_own_containers_and_none_of_its_neighbours() -> None:
    containers = [
        container("a" * 64, f"{BUILD}/SendFunction", MOTO),  # this stack's
        container("b" * 64, f"{BUILD}/EmailFunction", MOTO),  # this stack's
        # The e2e suite's stack in the same checkout: same build, its own moto.
        container("c" * 64, f"{BUILD}/SendFunction", "http://host.docker.internal:45123"),
        # Another checkout's stack on the same moto port (one run after the other, or a leftover).
        container("d" * 64, "/work/other/.aws-sam/build/SendFunction", MOTO),
        # A build folder whose name merely starts like this one's.
        container("e" * 64, f"{BUILD}-old/SendFunction", MOTO),
        # This stack's kind, but already there when it started (a previous run's leftover).
        container("f" * 64, f"{BUILD}/PushFunction", MOTO),
    ]
    assert owned(containers, BUILD, MOTO, before={"f" * 12}) == ["a" * 64, "b" * 64]


def test_a_container_without_mounts_or_environment_is_left_alone() -> None:
    bare: list[dict[str, Any]] = [{"Id": "1" * 64, "Mounts": None, "Config": {"Env": None}}, {"Id": "2" * 64}]
    assert owned(bare, BUILD, MOTO, before=set()) == []
