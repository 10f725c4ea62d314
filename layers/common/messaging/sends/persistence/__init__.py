"""Where the sends are kept: the sends table (one store per kind of item, over one plumbing) and S3.

- dynamodb: the table's plumbing (calls, conditional writes, conflict retries, queries, packing)
- records: the `send` item (status, counts), failures: `fail#...`, segments: `seg#...` and
  `batch#...`, events: `evt#...` (FeedbackFunction), unknowns: `unk#...`/`left#...` (users listed
  unknown whom an event proves sent), objects: the job and segments in S3
- store: SendStore, the ones SendFunction and DispatchFunction use, together
"""
