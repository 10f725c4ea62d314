"""What SendFunction, DispatchFunction and FeedbackFunction build at cold start from their
settings: the MongoDB store (its URI from Secrets Manager when deployed), the template renderer,
the writer of user preferences."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities import parameters
from pymongo import MongoClient

from messaging.models.config import FeedbackSettings, SendSettings
from messaging.preferences import UserPreferences
from messaging.store import MongoStore
from messaging.templating import Renderer


def _mongodb_uri(settings: SendSettings | FeedbackSettings) -> str:
    # Deployed, the URI is a secret; local runs give it directly.
    return settings.mongodb_uri or str(parameters.get_secret(str(settings.mongodb_uri_secret_id)))


def connect_preferences(settings: FeedbackSettings) -> UserPreferences:
    timeout = settings.mongodb_timeout_ms
    client: MongoClient[dict[str, Any]] = MongoClient(
        _mongodb_uri(settings),
        appname="messaging-service",
        serverSelectionTimeoutMS=timeout,
        connectTimeoutMS=timeout,
        socketTimeoutMS=timeout * 4,
    )
    fields = settings.service.userFields
    return UserPreferences(
        client[settings.mongodb_database][settings.users_collection],
        fields.id,
        fields.optOuts,
        fields.address("deviceToken"),
        fields.staleDeviceToken,
    )


def connect_store(settings: SendSettings) -> MongoStore:
    uri = _mongodb_uri(settings)
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
