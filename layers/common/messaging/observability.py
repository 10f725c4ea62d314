"""The one Logger every module logs through (service name from POWERTOOLS_SERVICE_NAME)."""

from aws_lambda_powertools import Logger

logger = Logger()


def mask(value: str | None) -> str:
    """Hide personal data (address, number, token) in logs, keeping a hint of its shape."""
    if not value:
        return ""
    return f"{value[:2]}***({len(value)})"
