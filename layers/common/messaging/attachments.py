"""E-mail attachments: fetched once per request from the File Service, staged in S3.

Batches then carry only S3 keys (a Lambda invoke payload is limited to 6 MB), and each
EmailFunction invocation reads every object once.
"""

from __future__ import annotations

import mimetypes
import tempfile
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import urllib3
from botocore.exceptions import BotoCoreError, ClientError

from messaging.errors import BadRequest, ServiceUnavailable
from messaging.models.batch import EmailAttachment
from messaging.models.common import file_name_problem

MAX_TOTAL_BYTES = 15 * 1024 * 1024  # 15 MB in all, as the original service allowed
_CHUNK = 256 * 1024


def content_type(name: str) -> str:
    # A file name, never a URL: guess_type reads "data:text/html,x" as a data URL, letting the name
    # choose any type ("data:a b/c d,x" wrote an invalid MIME header). Rooted, no scheme is read.
    guessed, _ = mimetypes.guess_type("/" + name, strict=False)
    return guessed or "application/octet-stream"


class FileService:
    """`GET {base}/download/{name}`, streamed, with connect and read timeouts. urllib3 rather than
    requests: botocore has loaded it already, and requests would add 20 ms to the cold start."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = urllib3.Timeout(connect=min(timeout_s, 5.0), read=timeout_s)
        self._pool = urllib3.PoolManager(retries=urllib3.Retry(total=2, connect=2, read=0, redirect=3))

    def download(self, name: str, into: Any, budget: int) -> int:
        """Writes the file into `into`; refuses it once more than `budget` bytes have come."""
        problem = file_name_problem(name)
        if problem is not None:  # the request models refuse these first; never build such a URL
            raise BadRequest(f"emailAttachments: a file name {problem}")
        # The whole name is one path segment: "/", "?", "#", "%" and non-ASCII are percent-encoded.
        url = f"{self._base}/download/{quote(name, safe='')}"
        try:
            response = self._pool.request("GET", url, preload_content=False, timeout=self._timeout)
            try:
                if response.status == 404:
                    raise BadRequest(f"emailAttachments: file {name!r} not found in the File Service")
                if response.status >= 400:
                    raise ServiceUnavailable(f"File Service answered {response.status} for {name!r}")
                size = 0
                for chunk in response.stream(_CHUNK):
                    size += len(chunk)
                    if size > budget:
                        return size  # over the limit: the caller reports it, no need to read on
                    into.write(chunk)
                return size
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise ServiceUnavailable(f"File Service unreachable: {_failure(exc)}") from exc


def _failure(exc: urllib3.exceptions.HTTPError) -> str:
    cause = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason else exc
    # NewConnectionError derives from ConnectTimeoutError: test it first.
    if isinstance(cause, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ProtocolError)):
        return "ConnectionError"
    if isinstance(cause, urllib3.exceptions.TimeoutError):
        return "Timeout"
    return type(cause).__name__


def merge_names(body: Sequence[str] | None, template: Sequence[str]) -> list[str]:
    """The body's and the template's attachments, each file once, in order."""
    return list(dict.fromkeys([*(body or ()), *template]))


def stage_attachments(
    names: Sequence[str],
    file_service: FileService | None,
    s3: Any,
    bucket: str,
    max_total: int = MAX_TOTAL_BYTES,
    root: str = "attachments",  # a scheduled send's: `scheduled/attachments`, kept until it runs
) -> list[EmailAttachment]:
    if not names:
        return []
    if file_service is None:
        raise BadRequest("emailAttachments: no File Service is configured (FILE_SERVICE_URL)")
    prefix = uuid.uuid4().hex
    staged: list[EmailAttachment] = []
    total = 0
    for index, name in enumerate(names):
        # Spooled: small files stay in memory, large ones go to /tmp, never twice in memory.
        with tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024) as buffer:
            size = file_service.download(name, buffer, max_total - total)
            total += size
            if total > max_total:
                raise BadRequest(
                    f"emailAttachments: at most {max_total} bytes (15 MB) in all; with {name!r} "
                    f"they come to at least {total} bytes"
                )
            buffer.seek(0)
            key = f"{root}/{prefix}/{index}"
            try:
                # One PUT: at most 15 MB, far from the 5 GB that would need a multipart upload.
                s3.put_object(Bucket=bucket, Key=key, Body=buffer, ContentType=content_type(name))
            except (ClientError, BotoCoreError) as exc:
                raise ServiceUnavailable(f"attachment staging failed: {type(exc).__name__}") from exc
        staged.append(EmailAttachment(name=name, key=key, contentType=content_type(name), size=size))
    return staged
