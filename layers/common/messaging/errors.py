"""Domain errors: each carries the HTTP status the API answers with, and nothing has been sent."""

from __future__ import annotations

from http import HTTPStatus


class MessagingError(Exception):
    """A request that cannot be served; raised before any message leaves the service."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(MessagingError):
    status = HTTPStatus.BAD_REQUEST


class Forbidden(MessagingError):
    status = HTTPStatus.FORBIDDEN


class NotFound(MessagingError):
    status = HTTPStatus.NOT_FOUND


class Conflict(MessagingError):
    status = HTTPStatus.CONFLICT


class PayloadTooLarge(MessagingError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class UnsupportedMediaType(MessagingError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class ServiceUnavailable(MessagingError):
    status = HTTPStatus.SERVICE_UNAVAILABLE


class ConfigurationError(Exception):
    """The service configuration is invalid: the function must not start half-working."""
