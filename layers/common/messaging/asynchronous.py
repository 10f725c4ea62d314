"""Sends of any size: accepted by SendFunction (202), carried out by DispatchFunction.

SendFunction runs everything that can refuse the request (validation, channels, template and its
syntax, attachments staged, the database reached and the first user rendered), keeps the request
in S3, writes the send record and invokes DispatchFunction asynchronously (`Event`).

DispatchFunction, per event:

- `{"sendId"}` plans: it streams the audience's ids (only ids: the recipients, then the clusters'
  members not among them; one cursor, so memory stays flat), writes them in segments of
  `SEGMENT_USERS` to S3 under a prefix of this planning attempt's own, counts the audience, fails
  the users not found, and starts the first `SEGMENT_PARALLEL` segments. A repeated planning event
  may stream a changed audience at the same time: the one conditional write that moves the send to
  running names its attempt, and only that attempt's segments are ever read (mixing two attempts'
  segments could put a user near a boundary in two segments, or in none). Each segment starts the
  one `SEGMENT_PARALLEL` after it when it ends, so at most that many run per send.
- `{"sendId", "segment"}` holds the segment's lease, renders its users and dispatches its batches
  to the channel functions (in parallel, paced per channel). Each batch is checkpointed in the
  sends table: `started` with its users before the invoke, `done` with its counts and failures in
  one transaction after. A retried or resumed segment skips done batches and invokes started ones
  again with the same `batchId`: the channel function answers what it did the first time (or
  `unknown: ...` if that attempt died while sending) and never sends twice. With less than
  `DISPATCH_MARGIN_S` left, the dispatcher hands the rest of its segment to a new invocation.
- Throttled messages (SES `Throttling`/`TooManyRequests`, SNS `Throttled`, FCM 429) go again in a
  smaller batch (`<batchId>-r<n>`, also sent once) after an exponential backoff.
- An SQS record from DispatchFunction's on-failure destination (Lambda gave up on an event) ends
  the send `failed`, its pending users listed as failures.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from messaging.audience import Audience
from messaging.channels.once import duplicate_reason
from messaging.dispatch import Batch, BatchBuilder, Invoker, _run
from messaging.errors import BadRequest, MessagingError, ServiceUnavailable
from messaging.models.common import Channel
from messaging.models.function_settings import SendSettings
from messaging.models.request import SendRequest
from messaging.models.response import Failure, FailureCode, SkipReason
from messaging.observability import count, logger, record_batch, record_plan, record_segment, record_skips
from messaging.pacing import Pacer
from messaging.preferences import UserPreferences
from messaging.sends import SendRecord, SendStore, plan_object
from messaging.service import (
    USER_NOT_FOUND,
    Stager,
    new_send_id,
    no_file_service,
    prepare,
    provider_opt_outs,
    remember_opt_outs,
)
from messaging.store import IN_CHUNK, Store
from messaging.templates.compose import Composer, texts_from_json, texts_json
from messaging.templates.renderer import Renderer
from messaging.user_ids import lookup_values, object_id

# (function name, event) -> None: an asynchronous (`Event`) invoke.
Launcher = Callable[[str, dict[str, Any]], None]

_THROTTLED = re.compile(
    r"^(Throttling|ThrottlingException|Throttled|TooManyRequests\w*|QUOTA_EXCEEDED|RESOURCE_EXHAUSTED|HTTP 429)\b"
)
THROTTLE_BACKOFF_S = 0.5
THROTTLE_BACKOFF_MAX_S = 20.0
# A resumed batch whose first attempt may still be running: asked again this often, this far apart.
IN_PROGRESS_CHECKS = 6
IN_PROGRESS_PAUSE_S = 5.0
GAVE_UP_UNSENT = "not attempted: the dispatcher gave up"
LEASE_WAIT_S = 30.0
# Batch names a segment item's `applied` set holds at most ("email#123456": about 15 bytes each).
MAX_BATCHES_PER_SEGMENT = 16_000


class _OutOfTimeError(Exception):
    """This invocation has no time left for the batch: a continuation takes it over."""


def is_throttled(error: str) -> bool:
    return bool(_THROTTLED.match(error))


class EventLauncher:
    """`lambda.invoke(InvocationType="Event")`. Retried by botocore: a repeated event is harmless
    (planning is conditional, segments are leased, batches checkpointed)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def connect(cls) -> EventLauncher:
        config = Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
        return cls(boto3.client("lambda", config=config))

    def __call__(self, function_name: str, event: dict[str, Any]) -> None:
        answer = self._client.invoke(
            FunctionName=function_name, InvocationType="Event", Payload=json.dumps(event).encode()
        )
        if answer.get("StatusCode") != 202:
            raise ServiceUnavailable(f"DispatchFunction was not invoked (status {answer.get('StatusCode')})")


def parse_prefer(values: Sequence[str]) -> set[str]:
    """RFC 7240: comma-separated preferences, each `token[=value]` with `;` parameters; names are
    case-insensitive."""
    found: set[str] = set()
    for value in values:
        for preference in value.split(","):
            name = preference.split(";", 1)[0].split("=", 1)[0].strip().lower()
            if name:
                found.add(name)
    return found


# The job: what SendFunction checked and DispatchFunction sends, as JSON in S3.


def accept(
    request: SendRequest,
    settings: SendSettings,
    store: Store,
    renderer: Renderer,
    sends: SendStore,
    launcher: Launcher,
    stage: Stager = no_file_service,
    correlation_id: str | None = None,
    scope: str = "",
) -> str:
    """Everything that can refuse, then the record, then DispatchFunction: the new send's id."""
    if not settings.dispatch_function_name:
        raise ServiceUnavailable("asynchronous sends are not configured (DISPATCH_FUNCTION_NAME)")
    send_id = new_send_id()
    prepared = prepare(request, settings, store, renderer, stage, correlation_id, send_id)
    # The database answers before the 202, and the first listed recipient found renders. Not a
    # cluster's first member: some servers (SecantusDB) gather a whole cluster before the first
    # reply, and that is the dispatcher's work, not the API's.
    if request.recipients:
        first = next(iter(Audience(store, settings.service, request.recipients[:IN_CHUNK], None)), None)
        if first is not None:
            list(prepared.composer.messages(first))
    else:
        store.ping()
    try:
        sends.put_json(
            send_id,
            "request.json",
            {
                "request": request.model_dump(mode="json"),
                "texts": texts_json(prepared.texts),
                "envelopes": prepared.envelopes,
                "correlationId": correlation_id,
            },
        )
        sends.create(send_id, scope, request.channels)
    except (ClientError, BotoCoreError) as exc:
        raise ServiceUnavailable(f"the send could not be recorded ({type(exc).__name__}); nothing was sent") from exc
    try:
        launcher(settings.dispatch_function_name, {"sendId": send_id, "correlationId": correlation_id})
    except (ClientError, BotoCoreError, MessagingError) as exc:
        sends.finish(send_id, "failed", f"DispatchFunction was not invoked: {type(exc).__name__}")
        raise ServiceUnavailable(f"DispatchFunction was not invoked ({type(exc).__name__}); nothing was sent") from exc
    logger.info("send accepted", extra={"sendId": send_id, "channels": request.channels})
    return send_id


@dataclass
class Engine:
    """DispatchFunction's work; every collaborator is injected (tests run it in-process)."""

    settings: SendSettings
    store: Store
    renderer: Renderer
    invoker: Invoker
    launcher: Launcher
    sends: SendStore
    pacer: Pacer
    self_name: str
    sleep: Callable[[float], None] = time.sleep
    # Where a provider's opt-outs are noted (the users' documents); None: not noted.
    preferences: UserPreferences | None = None
    # Counted for the benchmark and the logs.
    invokes: Counter[str] = field(default_factory=Counter)

    # Planning.

    def plan(self, send_id: str, correlation_id: str | None) -> None:
        record = self.sends.get(send_id)
        if record is None:
            logger.error("no such send", extra={"sendId": send_id})
            return
        if record.status in ("completed", "failed"):
            return
        won = False
        if record.status == "accepted":
            job = self.sends.get_json(send_id, "request.json")
            request = SendRequest.model_validate(job["request"])
            attempt = uuid.uuid4().hex
            audience, missing, segments = self._segment(send_id, request, attempt)
            self.sends.put_json(send_id, plan_object(attempt, "missing.json"), missing)
            not_found = self._list_missing(send_id, missing, request.channels)
            won = self.sends.planned(send_id, attempt, audience, len(missing), segments, request.channels)
            if won:
                record_plan(audience + len(missing), request.channels, not_found)
            logger.info(
                "send planned" if won else "send planned by another attempt",
                extra={"sendId": send_id, "audience": audience, "missing": len(missing), "segments": segments},
            )
            # Planned by this attempt or, concurrently, another: either way its segments start
            # (starting a segment twice is harmless: it is leased, its batches checkpointed).
            record = self.sends.get(send_id)
            if record is None or record.status != "running":
                return
        if not won and record.plan:
            # Another attempt (or this event's first try) planned it, and ours may have listed a
            # different audience's missing users after it: the list is the committed attempt's again.
            missing = self.sends.get_json(send_id, record.planned_object("missing.json"))
            self._list_missing(send_id, missing, record.channels)
        if record.segments == 0:
            self.sends.finish(send_id, "completed")
            return
        for segment in range(min(self.settings.segment_parallel, record.segments)):
            self._launch(send_id, segment, correlation_id)

    def segment_size(self, channels: Sequence[Channel]) -> int:
        """SEGMENT_USERS, or fewer when slow channels make small batches: each finished batch adds
        its name to its segment's item (`applied`), which must stay far under DynamoDB's 400 KB."""
        limits = self.pacer.batch_limits()
        batch = self.settings.batch_max_messages
        batches_per_user = sum(1 / max(1, min(limits.get(channel, batch), batch)) for channel in channels)
        fitting = int(MAX_BATCHES_PER_SEGMENT / batches_per_user) if batches_per_user else self.settings.segment_users
        return max(1, min(self.settings.segment_users, fitting))

    def _list_missing(self, send_id: str, missing: Sequence[str], channels: Sequence[Channel]) -> list[Failure]:
        failures = [
            Failure(userId=user_id, channel=channel, error=USER_NOT_FOUND, code=FailureCode.USER_NOT_FOUND)
            for user_id in missing
            for channel in channels
        ]
        self.sends.put_failures(send_id, "plan#missing", failures)
        return failures

    def _segment(self, send_id: str, request: SendRequest, attempt: str) -> tuple[int, list[str], int]:
        """Streams the audience's ids into this attempt's segments in S3: (audience, ids not found,
        segments)."""
        fields = self.settings.service.userFields
        size = self.segment_size(request.channels)
        requested = list(dict.fromkeys(request.recipients or ()))
        found: set[str] = set()
        found_object_ids: set[Any] = set()
        current: list[str] = []
        segments = 0
        audience = 0

        def add(user_id: str) -> None:
            nonlocal segments, audience
            current.append(user_id)
            audience += 1
            if len(current) >= size:
                self.sends.put_json(send_id, plan_object(attempt, f"segments/{segments}.json"), current)
                segments += 1
                current.clear()

        if requested:
            for document in self.store.users_by_ids(fields.id, lookup_values(requested, fields.id), [fields.id]):
                raw = document.get(fields.id)
                if raw is None or str(raw) in found:
                    continue
                found.add(str(raw))
                if not isinstance(raw, str):
                    found_object_ids.add(raw)
                add(str(raw))
        if request.clusters:
            # One query: MongoDB returns each matching user once, whatever clusters it is in.
            for document in self.store.users_in_clusters(fields.clusters, list(request.clusters), [fields.id]):
                raw = document.get(fields.id)
                if raw is None or str(raw) in found:
                    continue
                add(str(raw))
        if current:
            self.sends.put_json(send_id, plan_object(attempt, f"segments/{segments}.json"), current)
            segments += 1

        def was_found(user_id: str) -> bool:
            oid = object_id(user_id) if fields.id == "_id" else None
            return user_id in found or (oid is not None and oid in found_object_ids)

        return audience, [user_id for user_id in requested if not was_found(user_id)], segments

    def _launch(self, send_id: str, segment: int, correlation_id: str | None) -> None:
        self.launcher(self.self_name, {"sendId": send_id, "segment": segment, "correlationId": correlation_id})

    # A segment.

    def run_segment(
        self, send_id: str, segment: int, owner: str, remaining_s: Callable[[], float], correlation_id: str | None
    ) -> None:
        claim = self.sends.claim_segment(send_id, segment, owner, remaining_s() + 5)
        if claim == "busy":
            # Its holder ran out of time (its lease ends with it): wait briefly. A live holder
            # (this event repeated) finishes the segment and starts the next itself.
            wait_s = self.sends.lease_left_s(send_id, segment) + 1
            if wait_s < min(LEASE_WAIT_S, remaining_s() - self.settings.dispatch_margin_s):
                self.sleep(max(0.0, wait_s))
                claim = self.sends.claim_segment(send_id, segment, owner, remaining_s() + 5)
            if claim == "busy":
                logger.info("segment held by another dispatcher", extra={"sendId": send_id, "segment": segment})
                return
        record = self.sends.get(send_id)
        if record is None or record.status in ("completed", "failed"):
            self.sends.release_segment(send_id, segment, owner)
            return
        if claim == "done":
            self._next(send_id, segment, record.segments, correlation_id)
            return
        try:
            finished = self._dispatch_segment(send_id, segment, remaining_s, record)
        except BaseException:
            # Let the retry (or a later dispatcher) take it at once.
            self.sends.release_segment(send_id, segment, owner)
            raise
        if not finished:
            self.sends.release_segment(send_id, segment, owner)
            self._launch(send_id, segment, correlation_id)  # the rest, with a fresh 15 minutes
            return
        self._next(send_id, segment, record.segments, correlation_id)

    def _next(self, send_id: str, segment: int, segments: int, correlation_id: str | None) -> None:
        self._finish_if_done(send_id)
        following = segment + self.settings.segment_parallel
        if following < segments:
            self._launch(send_id, following, correlation_id)

    def _finish_if_done(self, send_id: str) -> None:
        """Once every segment is accounted for: completed, or failed if a dispatcher gave up."""
        record = self.sends.get(send_id)
        if record is None or record.status != "running" or record.segments_done < record.segments:
            return
        status = "failed" if record.reason else "completed"
        if self.sends.finish(send_id, status):
            logger.info(f"send {status}", extra={"sendId": send_id})

    def _context(self, send_id: str) -> tuple[SendRequest, Composer, dict[Channel, dict[str, Any]]]:
        job = self.sends.get_json(send_id, "request.json")
        request = SendRequest.model_validate(job["request"])
        # Decided when the send was accepted (the request's or the template's), kept in every envelope.
        transactional = any(bool(envelope.get("transactional")) for envelope in job["envelopes"].values())
        try:
            composer = Composer(
                texts_from_json(job["texts"]),
                request.channels,
                request.data,
                self.renderer,
                transactional=transactional,
            )
        except BadRequest as exc:  # checked before the 202: only a changed engine could refuse now
            raise RuntimeError(f"the accepted texts no longer compile: {exc.message}") from exc
        return request, composer, job["envelopes"]

    def _dispatch_segment(
        self, send_id: str, segment: int, remaining_s: Callable[[], float], record: SendRecord
    ) -> bool:
        """True when every user of the segment is accounted for on every channel."""
        settings = self.settings
        request, composer, envelopes = self._context(send_id)
        user_ids: list[str] = self.sends.get_json(send_id, record.planned_object(f"segments/{segment}.json"))
        states = self.sends.batches(send_id, segment)
        accounted: dict[Channel, set[str]] = {channel: set() for channel in request.channels}
        started_of: dict[tuple[Channel, str], int] = {}
        numbers: dict[Channel, int] = dict.fromkeys(request.channels, 0)
        for state in states:
            accounted[state.channel].update(state.user_ids)
            numbers[state.channel] = max(numbers[state.channel], state.number + 1)
            if not state.done:
                for user_id in state.user_ids:
                    started_of[(state.channel, user_id)] = state.number
        function_names = {channel: settings.function_name(channel) for channel in request.channels}
        numbered: dict[str, int] = {}

        def new_id(channel: Channel) -> str:
            number = numbers[channel]
            numbers[channel] += 1
            batch_id = f"{send_id}-{segment}-{channel[0]}{number}"
            numbered[batch_id] = number
            return batch_id

        builder = BatchBuilder(
            envelopes,
            function_names,
            max_messages=settings.batch_max_messages,
            max_bytes=settings.batch_max_bytes,
            batch_id=new_id,
            channel_max_messages=self.pacer.batch_limits(),
        )
        resumed: dict[tuple[Channel, int], BatchBuilder] = {}
        for state in states:
            if not state.done:
                fixed = f"{send_id}-{segment}-{state.channel[0]}{state.number}"
                numbered[fixed] = state.number
                resumed[(state.channel, state.number)] = BatchBuilder(
                    {state.channel: envelopes[state.channel]},
                    {state.channel: function_names[state.channel]},
                    max_messages=10_000,
                    max_bytes=5_000_000,
                    batch_id=_fixed(fixed),
                )
        rendered: dict[tuple[Channel, int], set[str]] = {key: set() for key in resumed}
        unsent: list[Failure] = []
        skipped: Counter[Channel] = Counter()
        skipped_by: Counter[tuple[Channel, str]] = Counter()
        audience = Audience(self.store, settings.service, user_ids, None)
        for recipient in audience:
            made = len(composer.failures)
            try:
                messages = dict(composer.messages(recipient))
            except BadRequest as exc:
                reason = f"not sent: {exc.message}"[:1000]
                unsent += [
                    Failure(userId=recipient.user_id, channel=channel, error=reason, code=FailureCode.NOT_ATTEMPTED)
                    for channel in request.channels
                    if recipient.user_id not in accounted[channel]
                ]
                continue
            # A user whose own document renders too large on a channel fails there, as in a synchronous send.
            refused = {failure.channel: failure for failure in composer.failures[made:]}
            for channel in request.channels:
                user_id = recipient.user_id
                number = started_of.get((channel, user_id))
                message = messages.get(channel)
                if number is not None:
                    if message is not None:
                        resumed[(channel, number)].add(channel, user_id, message)
                        rendered[(channel, number)].add(user_id)
                elif user_id in accounted[channel]:
                    continue  # in a batch already done
                elif message is not None:
                    builder.add(channel, user_id, message)
                elif channel in refused:
                    unsent.append(refused[channel])
                else:
                    skipped[channel] += 1
                    skipped_by[(channel, composer.skip_reason(recipient, channel) or SkipReason.NO_ADDRESS)] += 1
        unsent += [
            Failure(userId=user_id, channel=channel, error=USER_NOT_FOUND, code=FailureCode.USER_NOT_FOUND)
            for user_id in audience.missing_ids
            for channel in request.channels
            if user_id not in accounted[channel]
        ]
        jobs: list[tuple[Batch, bool, list[Failure]]] = []
        for state in states:
            if state.done:
                continue
            key = (state.channel, state.number)
            batches = resumed[key].batches()
            gone = [
                Failure(
                    userId=user_id,
                    channel=state.channel,
                    error=f"unknown: {state.channel} batch interrupted and the user is no longer found",
                    code=FailureCode.UNKNOWN,
                )
                for user_id in state.user_ids
                if user_id not in rendered[key]
            ]
            # Re-rendered larger than one payload (its users' documents changed since): the rest
            # cannot go under this batchId, and its first attempt may have reached them.
            changed = "unknown: the batch changed since its first attempt"
            gone += [
                Failure(
                    userId=user_id,
                    channel=state.channel,
                    error=f"{changed} ({state.channel})",
                    code=FailureCode.UNKNOWN,
                )
                for extra in batches[1:]
                for user_id in extra.user_ids
            ]
            if batches:
                batch = batches[0]
                batch.user_ids = list(state.user_ids)  # counted as checkpointed
                jobs.append((batch, False, gone))
            else:
                empty = Batch.of(state.channel, function_names[state.channel], b"{}", list(state.user_ids), "")
                empty.batch_id = f"{send_id}-{segment}-{state.channel[0]}{state.number}"
                jobs.append((empty, False, gone))
        jobs += [(batch, True, []) for batch in builder.batches()]
        logger.info(
            "dispatching segment",
            extra={
                "sendId": send_id,
                "segment": segment,
                "users": len(user_ids),
                "batches": len(jobs),
                "resumed": len(resumed),
                "done": sum(state.done for state in states),
            },
        )
        transactional = any(bool(envelope.get("transactional")) for envelope in envelopes.values())
        if not self._run_jobs(send_id, segment, jobs, numbered, remaining_s, transactional):
            return False
        if self.sends.finish_segment(send_id, segment, skipped, unsent, reasons=skipped_by):
            record_skips(skipped_by)
            record_segment(skipped, unsent, request.channels)
        return True

    def _run_jobs(
        self,
        send_id: str,
        segment: int,
        jobs: list[tuple[Batch, bool, list[Failure]]],
        numbered: Mapping[str, int],
        remaining_s: Callable[[], float],
        transactional: bool = False,
    ) -> bool:
        settings = self.settings
        deadline = time.monotonic() + remaining_s()

        def left() -> float:
            return deadline - time.monotonic()

        out_of_time: list[str] = []

        def one(batch: Batch, new: bool, known: list[Failure]) -> None:
            number = numbered[batch.batch_id]
            if new and not self.sends.start_batch(send_id, segment, batch.channel, number, batch.user_ids):
                # Only if this segment's lease ran out under us: leave the batch to whoever holds it now.
                logger.warning("batch already started elsewhere", extra={"batchId": batch.batch_id})
                out_of_time.append(batch.batch_id)
                return
            known_ids = {failure.userId for failure in known}
            try:
                answered = self._send(batch, resumed=not new, left=left)
            except _OutOfTimeError:
                # Left `started`: the continuation invokes it again under the same batchId.
                out_of_time.append(batch.batch_id)
                return
            failures, opted_out = provider_opt_outs(
                known + [failure for failure in answered if failure.userId not in known_ids], transactional
            )
            remember_opt_outs(self.preferences, opted_out)
            counted = self.sends.finish_batch(
                send_id, segment, batch.channel, number, len(batch.user_ids), failures, opted_out=len(opted_out)
            )
            if counted:
                record_batch(batch.channel, len(batch.user_ids), failures, len(opted_out))
            if counted and opted_out:
                record_skips({(batch.channel, SkipReason.OPTED_OUT): len(opted_out)})

        pending: set[Future[None]] = set()
        pool = ThreadPoolExecutor(max_workers=settings.max_parallel_invokes)
        stopped = False
        try:
            for batch, new, known in jobs:
                while len(pending) >= settings.max_parallel_invokes:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
                if left() < settings.dispatch_margin_s:
                    stopped = True
                    break
                pending.add(pool.submit(one, batch, new, known))
            done, pending = wait(pending)
            for future in done:
                future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if stopped or out_of_time:
            logger.info(
                "segment continues in a new invocation",
                extra={"sendId": send_id, "segment": segment, "waiting": len(out_of_time)},
            )
        return not (stopped or out_of_time)

    def _send(self, batch: Batch, *, resumed: bool, left: Callable[[], float]) -> list[Failure]:
        """One batch's failures, throttled messages sent again with backoff."""
        margin = self.settings.dispatch_margin_s  # no invoke starts with less left: it could not finish
        if batch.batch_id and batch.payload == b"{}":
            return []  # a resumed batch none of whose users renders any more: their failures are known
        if not self.pacer.acquire(batch.channel, len(batch.user_ids), left, margin):
            raise _OutOfTimeError(batch.batch_id)
        self.invokes[batch.channel] += 1
        failures = _run(batch, self.invoker, left, margin)
        if resumed:
            # The first attempt may still be running: its channel function keeps the answer when done.
            checks = 0
            in_progress = duplicate_reason(batch.batch_id)
            while failures and all(f.error == in_progress for f in failures) and checks < IN_PROGRESS_CHECKS:
                if left() - IN_PROGRESS_PAUSE_S < margin:
                    break
                checks += 1
                self.sleep(IN_PROGRESS_PAUSE_S)
                failures = _run(batch, self.invoker, left, margin)
        for attempt in range(1, self.settings.throttle_retries + 1):
            throttled = {f.userId for f in failures if is_throttled(f.error)}
            if not throttled:
                break
            pause = min(THROTTLE_BACKOFF_MAX_S, THROTTLE_BACKOFF_S * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)  # noqa: S311
            if left() - pause < margin:
                raise _OutOfTimeError(batch.batch_id)  # resumed, its retries run again under the same ids
            self.sleep(pause)
            count("ThrottledRetries", len(throttled), channel=batch.channel)
            retry = _subset(batch, throttled, f"{batch.batch_id}-r{attempt}")
            if not self.pacer.acquire(batch.channel, len(retry.user_ids), left, margin):
                raise _OutOfTimeError(batch.batch_id)
            self.invokes[batch.channel] += 1
            again = _run(retry, self.invoker, left, margin)
            failures = [f for f in failures if f.userId not in throttled] + again
        return failures

    # Giving up.

    def give_up(self, send_id: str, segment: int | None, reason: str) -> None:
        """Lambda gave up on an event: the users still pending in that segment's chain (or in the
        whole send, for the planning event) are listed as failures; the other segments finish, and
        then the send ends `failed`."""
        record = self.sends.get(send_id)
        if record is None or record.status in ("completed", "failed"):
            return
        logger.error("dispatcher gave up", extra={"sendId": send_id, "segment": segment, "reason": reason[:300]})
        reason = f"the dispatcher gave up: {reason}"
        if record.status == "accepted":
            self.sends.finish(send_id, "failed", reason)  # before planning: nobody is pending yet
            return
        self.sends.note_gave_up(send_id, reason)
        chain = (
            range(record.segments)
            if segment is None
            else range(segment, record.segments, self.settings.segment_parallel)
        )
        for number in chain:
            self._abandon(record, number, reason)
        self._finish_if_done(send_id)

    def _abandon(self, record: SendRecord, segment: int, reason: str) -> None:
        send_id, channels = record.send_id, record.channels
        owner = f"give-up-{uuid.uuid4()}"
        if self.sends.claim_segment(send_id, segment, owner, 900) != "claimed":
            return  # done, or held by a live dispatcher that will finish it
        user_ids: list[str] = self.sends.get_json(send_id, record.planned_object(f"segments/{segment}.json"))
        accounted: dict[Channel, set[str]] = {channel: set() for channel in channels}
        for state in self.sends.batches(send_id, segment):
            accounted[state.channel].update(state.user_ids)
            if not state.done:
                unknown = f"unknown: {state.channel} batch interrupted, the dispatcher gave up ({reason})"[:1000]
                failures = [
                    Failure(userId=u, channel=state.channel, error=unknown, code=FailureCode.UNKNOWN)
                    for u in state.user_ids
                ]
                if self.sends.finish_batch(
                    send_id, segment, state.channel, state.number, len(state.user_ids), failures
                ):
                    record_batch(state.channel, len(state.user_ids), failures)
        unsent = [
            Failure(userId=user_id, channel=channel, error=GAVE_UP_UNSENT, code=FailureCode.NOT_ATTEMPTED)
            for user_id in user_ids
            for channel in channels
            if user_id not in accounted[channel]
        ]
        if self.sends.finish_segment(send_id, segment, {}, unsent):
            record_segment({}, unsent, channels)


def _fixed(batch_id: str) -> Callable[[Channel], str]:
    return lambda channel: batch_id


def _subset(batch: Batch, user_ids: set[str], batch_id: str) -> Batch:
    payload = json.loads(batch.payload)
    payload["messages"] = [message for message in payload["messages"] if message["userId"] in user_ids]
    payload["batchId"] = batch_id
    kept = [message["userId"] for message in payload["messages"]]
    return Batch.of(batch.channel, batch.function_name, json.dumps(payload).encode(), kept, batch_id)
