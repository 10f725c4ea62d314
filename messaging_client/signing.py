"""SigV4 for API Gateway (`execute-api`), by botocore's signer: what a deployed stack with ApiAuth=IAM
asks of every call. docs/api.md, "Calling the deployed API", quotes `sigv4_headers` below."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.session import Session


class CannotSign(Exception):
    """No credentials (botocore's chain found none) or no region to sign for."""


def sigv4_headers(
    method: str, url: str, data: bytes | None, headers: dict[str, str], region: str | None = None
) -> dict[str, str]:
    """`headers` plus Authorization, X-Amz-Date and the session token, signed for this call."""
    session = Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise CannotSign("no AWS credentials found (environment, profile, SSO or role)")
    # {api-id}.execute-api.{region}.amazonaws.com names its region.
    host = str(urlsplit(url).hostname).split(".")
    region = region or (host[2] if host[1:2] == ["execute-api"] else None)
    region = region or os.environ.get("AWS_REGION") or session.get_config_variable("region")
    if not region:
        raise CannotSign("no region to sign for: pass --region or set AWS_REGION")
    signed = AWSRequest(method=method, url=url, data=data, headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(signed)
    return dict(signed.headers.items())
