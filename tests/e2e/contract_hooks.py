"""schemathesis hooks for the contract test through sam local (tests/e2e/test_contract_through_sam_local.py),
loaded by the CLI from SCHEMATHESIS_HOOKS. Real sends happen in the chain (moto, the stand-ins): a
generated body's audience is bounded to at most three demo users, and its clusters to the demo ones."""

from __future__ import annotations

from typing import Any

import schemathesis

from local.demo_data import USERS

DEMO_USERS = [str(user["_id"]) for user in USERS]
DEMO_CLUSTERS = sorted({cluster for user in USERS for cluster in user.get("clusters", [])})
AUDIENCE_MAX = 3


def _bounded(values: list[Any], known: list[str]) -> list[Any]:
    """As many (at most AUDIENCE_MAX) known names as the generated list had strings, in their places."""
    strings = iter(known * AUDIENCE_MAX)
    return [next(strings) if isinstance(value, str) else value for value in values[:AUDIENCE_MAX]]


def _positive(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    mode = getattr(getattr(meta, "generation", None), "mode", None)
    return str(getattr(mode, "value", mode)) == "positive"


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if isinstance(case.body, bytes):
        # Excluded: bytes that are not UTF-8 (`\xff.`) are sam local's own 502 (start-api decodes the
        # body and fails before SendFunction runs); API Gateway hands them on as a UTF-8 string, which
        # is what is sent instead (the function's 400 for both event shapes: test_hostile_requests.py).
        case.body = case.body.decode("utf-8", errors="replace").encode("utf-8")
    if case.method.upper() != "POST" or not isinstance(case.body, dict):
        return
    body = case.body
    for field, known in (("recipients", DEMO_USERS), ("clusters", DEMO_CLUSTERS)):
        if isinstance(body.get(field), list):
            body[field] = _bounded(body[field], known)
    if _positive(case):
        # What JSON Schema cannot say (one of recipients or clusters; a title and content without a
        # template), so that valid bodies send and the stateful phase has sends to follow.
        for field in ("templateId", "emailAttachments", "clusters"):
            body.pop(field, None)
        if not body.get("recipients"):
            body["recipients"] = DEMO_USERS[:2]
        body.setdefault("messageTitle", "Hello {{user.name}}")
        body.setdefault("messageContent", "A contract test")
