"""boto3 clients with explicit timeouts and retries; endpoints come from boto3's standard
AWS_ENDPOINT_URL_<SERVICE> variables, so the same code reaches AWS, moto or sam local."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config


def client(service: str, *, read_timeout: float = 10, max_attempts: int = 3) -> Any:
    config = Config(
        connect_timeout=5,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": max_attempts},
        max_pool_connections=64,
    )
    return boto3.client(service, config=config)
