"""What the functions build at cold start from their settings: the MongoDB store (its URI from
Secrets Manager when deployed) and the template renderer for SendFunction and DispatchFunction; the
writer of user documents (opt-outs, stale push tokens) for them, PushFunction and FeedbackFunction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities import parameters

from messaging.models.config import UserFieldsBase
from messaging.models.function_settings import SendSettings, UsersDatabase
from messaging.preferences import UserPreferences
from messaging.store import MongoStore

if TYPE_CHECKING:
    from messaging.templates.renderer import Renderer


def mongodb_uri(uri: str | None, secret_id: str | None) -> str:
    # Deployed, the URI is a secret; local runs give it directly.
    return uri or str(parameters.get_secret(str(secret_id)))


def connect_store(settings: SendSettings) -> MongoStore:
    return MongoStore.connect(
        mongodb_uri(settings.mongodb_uri, settings.mongodb_uri_secret_id),
        settings.mongodb_database,
        settings.users_collection,
        settings.templates_collection,
        settings.mongodb_timeout_ms,
    )


def user_preferences(store: MongoStore, fields: UserFieldsBase) -> UserPreferences:
    """On the store's own client: no second connection pool."""
    return UserPreferences(
        store.users,
        fields.id,
        fields.optOuts,
        fields.address("deviceToken"),
        fields.staleDeviceToken,
        fields.preferences,
    )


def connect_preferences(settings: UsersDatabase, fields: UserFieldsBase) -> UserPreferences | None:
    """PushFunction's and FeedbackFunction's own client; None when no database is configured."""
    if not settings.has_database:
        return None
    store = MongoStore.connect(
        mongodb_uri(settings.mongodb_uri, settings.mongodb_uri_secret_id),
        settings.mongodb_database,
        settings.users_collection,
        "templates",  # never read here
        settings.mongodb_timeout_ms,
    )
    return user_preferences(store, fields)


def make_renderer(settings: SendSettings) -> Renderer:
    from messaging.templates.renderer import Renderer  # not PushFunction's: its engine is loaded when used

    return Renderer(
        default_locale=settings.default_locale,
        max_message_bytes=settings.max_message_bytes,
        cache_bytes=settings.template_cache_bytes,
    )
