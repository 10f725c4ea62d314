"""What SendFunction and DispatchFunction both build at cold start from their settings: the
MongoDB store (its URI from Secrets Manager when deployed) and the template renderer."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from messaging.models.config import SendSettings
from messaging.store import MongoStore
from messaging.templating import Renderer


def connect_store(settings: SendSettings) -> MongoStore:
    # Deployed, the URI is a secret; local runs give it directly.
    uri = settings.mongodb_uri or str(parameters.get_secret(str(settings.mongodb_uri_secret_id)))
    return MongoStore.connect(
        uri,
        settings.mongodb_database,
        settings.users_collection,
        settings.templates_collection,
        settings.mongodb_timeout_ms,
    )


def make_renderer(settings: SendSettings) -> Renderer:
    return Renderer(
        default_locale=settings.default_locale,
        max_message_bytes=settings.max_message_bytes,
        cache_bytes=settings.template_cache_bytes,
    )
