"""Whether SES may send from an address: the address itself, its domain or a parent domain is a
verified SES identity. Asked once per container (SES v2 `GetEmailIdentity`), so an unverified
`emailSender` is refused before anything is sent instead of failing every user.

An outage of the check (SES unreachable, throttled, the grant missing) never blocks a send: the
answer is then unknown, the send goes on, and the check is not asked again for a while.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from messaging.observability import logger

# A verified identity rarely stops being one: an hour. A "not verified" answer only a minute, so an
# operator who has just verified the address waits no longer than that.
VERIFIED_TTL_S = 3600.0
UNVERIFIED_TTL_S = 60.0
# After an outage the check is skipped this long: each send would otherwise wait for the timeouts.
OUTAGE_PAUSE_S = 30.0
_NOT_AN_IDENTITY = "NotFoundException"
# SES is asked about at most this many identities per address: it, its domain and the parent domains
# of up to MAX_PARENT_LABELS labels. A domain may have over a hundred labels: asking about each would
# make one request cost a hundred SES calls (and SES throttles). Past the bound the answer is unknown.
MAX_PARENT_LABELS = 5
# Identities remembered per container: a caller naming ever new senders must not grow it for ever.
MAX_KNOWN = 1000


def identities_of(address: str) -> tuple[list[str], bool]:
    """The identities that cover `address`, most specific first: it, its domain, each parent domain
    of at least two labels (SES lets a verified domain send from its subdomains) and of at most
    MAX_PARENT_LABELS; and whether parent domains were left out by that bound."""
    _, _, domain = address.rpartition("@")
    labels = domain.lower().split(".")
    first = max(1, len(labels) - MAX_PARENT_LABELS)
    parents = [".".join(labels[i:]) for i in range(first, len(labels) - 1)]
    return [address, ".".join(labels), *parents], first > 1


class SenderIdentities:
    """`verified(address)`: True, False, or None when SES could not be asked (then never a refusal)."""

    def __init__(self, ses: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self._ses = ses
        self._clock = clock
        self._known: dict[str, tuple[bool, float]] = {}  # identity -> (verified, until)
        self._paused_until = 0.0

    @classmethod
    def connect(cls) -> SenderIdentities:
        # Short: an unreachable SES must not eat the request's time (the send goes on unchecked).
        config = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2})
        return cls(boto3.client("sesv2", config=config))

    def verified(self, address: str) -> bool | None:
        identities, cut = identities_of(address)
        for identity in identities:
            answer = self._identity_verified(identity)
            if answer is None:
                return None
            if answer:
                return True
        if cut:  # a parent domain not asked about may be verified: never a refusal SES might not make
            logger.info("sender identity not checked: its domain has too many labels")
            return None
        return False

    def __len__(self) -> int:
        """The identities remembered."""
        return len(self._known)

    def _identity_verified(self, identity: str) -> bool | None:
        now = self._clock()
        known = self._known.get(identity)
        if known is not None and known[1] > now:
            return known[0]
        if now < self._paused_until:
            logger.info("sender identity not checked: SES was unreachable moments ago")
            return None
        try:
            answer = self._ses.get_email_identity(EmailIdentity=identity)
            verified = answer.get("VerifiedForSendingStatus") is True or answer.get("VerificationStatus") == "SUCCESS"
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code != _NOT_AN_IDENTITY:
                self._outage(f"ClientError {code}")
                return None
            verified = False
        except BotoCoreError as exc:
            self._outage(type(exc).__name__)
            return None
        self._remember(identity, verified, now + (VERIFIED_TTL_S if verified else UNVERIFIED_TTL_S))
        return verified

    def _remember(self, identity: str, verified: bool, until: float) -> None:
        self._known.pop(identity, None)  # re-inserted last: the dict's order is the age of the answers
        while len(self._known) >= MAX_KNOWN:
            del self._known[next(iter(self._known))]
        self._known[identity] = (verified, until)

    def _outage(self, reason: str) -> None:
        self._paused_until = self._clock() + OUTAGE_PAUSE_S
        logger.warning("sender identity not checked: the send goes on", extra={"reason": reason})
