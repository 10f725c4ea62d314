"""Every name the sends spell in storage: the sends table's sort keys, the S3 objects, batch ids.

The sends table: partition key `pk` = the send id, sort key `sk`:

- `send`: the send's record (status, times, audience, counts of users not found and of delivery events).
- `seg#<k>`: a segment's lease, status and counters, and `applied`: the names (`<channel>#<n>`) of
  its batches counted.
- `batch#<k>#<channel>#<n>`: a batch's checkpoint, its user ids.
- `fail#<group>#<part>`: failures, zlib JSON; `<group>` is a batch (`<k>#<channel>#<n>`), a
  segment's unsent (`<k>#unsent`), the plan's users not found (`plan#missing`), a synchronous
  send's (`sync`), or a delivery event's (`{event#<channel>#<outcome>#<message id>`: '{' sorts
  after digits and letters, so they follow the dispatch's).
  A group too large for one transaction has one `fail#<group>#0000` item naming its pages,
  `fpage#<group>#<generation>#<part>`, written before it (a generation never committed is never read).
- `unk#<channel>#<user id>`: where a user listed `unknown: ...` on a channel is (the failures item
  holding the entry), for a delivery event that proves the message left.
- `left#<channel>#<user id>`: a delivery event proved the user's message left (whatever its outcome).
- `evt#<channel>#<outcome>#<message id>`: a delivery event's marker.

S3 (the attachments bucket): `sends/<id>/request.json` (the job), and per planning attempt
`sends/<id>/plans/<attempt>/segments/<k>.json` and `.../missing.json`; a scheduled send's job waits
under `scheduled/<id>/request.json` until it runs.

A batch's id (`batchId`, at most 64 characters) names the send, segment, whole channel name and
number: the channel functions' once-only records share one table (`batch#<batchId>`), so two
channels must never make the same id.
"""

from __future__ import annotations

from typing import cast

from messaging.models.common import Channel

SEND = "send"
SEGMENT = "seg#"
BATCH = "batch#"
FAIL = "fail#"
EVENT = "evt#"
EVENT_FAIL = "{event#"
FAIL_PAGE = "fpage#"
UNKNOWN = "unk#"
LEFT = "left#"
SYNC_FAILURES = "sync"
PLAN_MISSING = "plan#missing"

SENDS_PREFIX = "sends/"
JOB_OBJECT = "request.json"
# A scheduled send's job and staged attachments: kept a year and more (the bucket's lifecycle),
# where `sends/` and `attachments/` last days. The job moves to `sends/<id>/` when the send runs.
SCHEDULED_PREFIX = "scheduled/"
SCHEDULED_ATTACHMENTS = "scheduled/attachments"

MAX_BATCH_ID = 64  # messaging.models.batch.BatchRequest.batchId


def segment_key(segment: int) -> str:
    return f"{SEGMENT}{segment:06d}"


def batch_prefix(segment: int) -> str:
    """The sort keys of one segment's batch checkpoints begin so."""
    return f"{BATCH}{segment:06d}#"


def batch_key(segment: int, channel: Channel, number: int) -> str:
    return f"{batch_prefix(segment)}{channel}#{number:06d}"


def parse_batch_key(sk: str) -> tuple[Channel, int]:
    _, _, channel, number = sk.split("#")
    return cast(Channel, channel), int(number)  # written by batch_key


def applied_name(channel: Channel, number: int) -> str:
    """A batch's name in its segment's `applied` set."""
    return f"{channel}#{number}"


def batch_failures(segment: int, channel: Channel, number: int) -> str:
    return batch_key(segment, channel, number)[len(BATCH) :]


def unsent_failures(segment: int) -> str:
    return f"{segment:06d}#unsent"


def event_failures(channel: Channel, outcome: str, message_id: str) -> str:
    return f"{EVENT_FAIL}{channel}#{outcome}#{message_id}"


def failures_key(group: str, part: int) -> str:
    return f"{FAIL}{group}#{part:04d}"


def failures_page_key(group: str, generation: str, part: int) -> str:
    return f"{FAIL_PAGE}{group}#{generation}#{part:04d}"


def unknown_marker(channel: Channel, user_id: str) -> str:
    return f"{UNKNOWN}{channel}#{user_id}"


def left_marker(channel: Channel, user_id: str) -> str:
    return f"{LEFT}{channel}#{user_id}"


def event_marker(channel: Channel, outcome: str, message_id: str) -> str:
    return f"{EVENT}{channel}#{outcome}#{message_id}"


def send_object(send_id: str, name: str) -> str:
    return f"{SENDS_PREFIX}{send_id}/{name}"


def scheduled_job_object(send_id: str) -> str:
    return f"{SCHEDULED_PREFIX}{send_id}/{JOB_OBJECT}"


def plan_object(plan: str, name: str) -> str:
    """`segments/<k>.json` or `missing.json` of one planning attempt ("": a send planned before
    attempts had prefixes of their own)."""
    return f"plans/{plan}/{name}" if plan else name


def segment_object(plan: str, segment: int) -> str:
    return plan_object(plan, f"segments/{segment}.json")


def missing_object(plan: str) -> str:
    return plan_object(plan, "missing.json")


def batch_id(send_id: str, segment: int, channel: Channel, number: int) -> str:
    made = f"{send_id}-{segment}-{channel}-{number}"
    if len(made) > MAX_BATCH_ID:
        raise ValueError(f"batchId over {MAX_BATCH_ID} characters: {made}")
    return made


def legacy_batch_id(send_id: str, segment: int, channel: Channel, number: int) -> str:
    """The id a batch checkpointed before batch ids named the whole channel went out under (its
    checkpoint has no `ids` attribute): resumed, it must go under that id again, or its channel
    function's once-only record does not know it and its users get the message twice."""
    return f"{send_id}-{segment}-{channel[0]}{number}"


def retry_batch_id(first: str, attempt: int) -> str:
    """The batch of a batch's throttled messages, sent once like any."""
    return f"{first}-r{attempt}"


def late_batch_id(first: str, attempt: int) -> str:
    """The batch of a batch's messages its channel function handed back late, sent once like any."""
    return f"{first}-l{attempt}"
