"""Sends of any size: accepted by SendFunction (202), carried out by DispatchFunction.

The life of a send (states.py lists the states and their transitions):

- accept (SendFunction, accept.py): everything that can refuse the request runs (validation,
  channels, template and its syntax, attachments staged, the database reached and the first user
  rendered), the job is kept in S3, the send recorded `accepted`, and DispatchFunction invoked
  asynchronously (`Event`). Not invoked: the send ends `failed` and the API answers 503.
- plan (`{"sendId"}`, plan.py): the audience's ids are streamed (only ids: the recipients, then the
  clusters' members not among them; one cursor, so memory stays flat) into segments of
  `SEGMENT_USERS` in S3 under a prefix of this planning attempt's own; the users not found are
  failed; one conditional write moves the send `accepted -> running` naming its attempt, and only
  that attempt's segments are ever read (a repeated planning event may stream a changed audience
  meanwhile). The first `SEGMENT_PARALLEL` segments start; each starts the one `SEGMENT_PARALLEL`
  after it when it ends, so at most that many run per send. No segment: `completed` at once.
- run a segment (`{"sendId", "segment"}`, segment.py, resume.py): the segment's lease is claimed
  (`claimed`, `busy`: another live dispatcher holds it, `done`), its users rendered and its batches
  sent. A retried or resumed segment skips done batches and invokes started ones again with the
  same `batchId` (resume.py decides, from the checkpoints alone): the channel function answers what
  it did the first time (or `unknown: ...` if that attempt died while sending) and never sends
  twice. With less than `DISPATCH_MARGIN_S` left, the dispatcher releases its lease and hands the
  rest of its segment to a continuation (a new invocation).
- send batches (batches.py): each batch is checkpointed `started` with its users before the invoke,
  and done (counted once, with its failures) after; paced per channel; throttled messages go again
  in a smaller batch (`<batchId>-r<n>`, also sent once) after an exponential backoff.
- end (give_up.py): once every segment is done the send is `completed`, or `failed` if a dispatcher
  gave up: an SQS record from DispatchFunction's on-failure destination (Lambda gave up on an
  event) lists that segment chain's pending users as failures (started batches `unknown`).

Where it is kept: persistence/ (the sends table and S3), names spelled in keys.py only.
"""
