"""The channels, by name: each one module of this package (see messaging.channels.base).

Adding a channel: its module (a ChannelSpec subclass, its models, its provider call and error
mapping), its name in this tuple and in models.common.Channel (the Literal the request schema
needs; a test holds the two equal), a function folder and one block in template.yaml.
"""

from __future__ import annotations

from collections.abc import Iterator

from messaging.channels import email, push, sms, voice
from messaging.channels.base import ChannelSpec
from messaging.models.common import CHANNELS, Channel

REGISTRY: dict[Channel, ChannelSpec] = {
    spec.name: spec for spec in (email.CHANNEL, sms.CHANNEL, push.CHANNEL, voice.CHANNEL)
}
if tuple(REGISTRY) != CHANNELS:
    raise ImportError(f"models.common.Channel {CHANNELS} differs from the registry {tuple(REGISTRY)}")


def spec(channel: Channel) -> ChannelSpec:
    return REGISTRY[channel]


def specs() -> Iterator[ChannelSpec]:
    return iter(REGISTRY.values())


def user_fields() -> dict[str, bool]:
    """Every `userFields` key of an address, once (SMS and voice share `phoneNumber`), and whether
    templates see it."""
    fields: dict[str, bool] = {}
    for each in specs():
        fields[each.user_field] = fields.get(each.user_field, False) or each.user_field_visible
    return fields
