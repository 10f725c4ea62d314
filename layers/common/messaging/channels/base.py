"""What a channel is: one subclass of `ChannelSpec` in one module of this package, listed in
`messaging.channels.registry`. Everything else (the configuration's `userFields` and `sender`, the
template model, composition, the service's envelopes, the function names, metrics, the benchmark
and the test fixtures) iterates the registry.

A spec declares, for its channel:

- `user_field`: the key in `userFields` (and its default stored name) of the user's address;
- `template_fields`: its fields in a stored template (pydantic field definitions), `required`
  (alternatives, one of each tuple must be present) and `template_texts` (fields -> texts);
- `request_texts`: how the request's `messageTitle`/`messageContent` become its texts;
- `message`: one user's rendered texts -> its message model (`message_model`), in a batch model
  (`batch_model`) whose envelope comes from `envelope`;
- `sender_type`: the type of `sender.<channel>` in the configuration (None: no sender), required
  when the channel is active unless `sender_required` is False;
- the provider call (`send_batch` in the module) and its error mapping, returning a (code, reason).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from messaging.models.batch import Envelope
from messaging.models.common import Channel

if TYPE_CHECKING:
    from messaging.models.request import SendRequest


class ServiceView(Protocol):
    """What a channel reads of the service configuration. Not models.config.ServiceConfig itself:
    that model is built from the registry, which imports every channel."""

    @property
    def androidIntentAction(self) -> str | None: ...  # noqa: N802 - the configuration's JSON name

    def sender_of(self, channel: Channel) -> str | None: ...


# What a line break inside a value becomes in an escaped (HTML) text.
DEFAULT_LINE_BREAK = "<br/>"


@dataclass(frozen=True)
class Source:
    """A text to compile: Handlebars source, and the label naming its field (and template) in errors."""

    text: str
    label: str
    html: bool = False  # rendered with HTML escaping (an HTML e-mail body)
    line_break: str = DEFAULT_LINE_BREAK  # what a line break inside an escaped value becomes (SSML: itself)


@dataclass(frozen=True)
class Tree:
    """A JSON value whose every string is a template (a push notification's data)."""

    value: Any
    label: str


Texts = Mapping[str, Source | Tree | None]
# One user's rendered texts, by the names of the channel's Texts: str for a Source, the rendered
# value for a Tree, None for a text the channel does not have.
Rendered = Mapping[str, Any]


class ChannelSpec(ABC):
    # Declared by a subclass's class attributes (or, for a family of alike channels, its __init__).
    name: Channel
    user_field: str
    # Whether templates see the address as `user.<stored name>`: a device token is a credential.
    user_field_visible: bool = True
    template_fields: Mapping[str, Any]
    required: tuple[tuple[str, ...], ...]
    message_model: type[BaseModel]
    batch_model: type[Envelope]
    sender_type: Any = None
    sender_required: bool = True

    @property
    def function_env(self) -> str:
        """The variable SendFunction reads the function's name from (set by the template)."""
        return f"{self.name.upper()}_FUNCTION_NAME"

    @property
    def max_rate_env(self) -> str:
        """The variable of its messages per second in asynchronous sends (DispatchFunction's pacing)."""
        return f"{self.name.upper()}_MAX_RATE"

    @property
    def function_id(self) -> str:
        """The function's logical id in template.yaml (and its local name)."""
        return f"{self.name.capitalize()}Function"

    @abstractmethod
    def request_texts(self, title: Source, content: Source) -> Texts: ...

    @abstractmethod
    def template_texts(self, template: BaseModel, template_id: str) -> Texts: ...

    @staticmethod
    def template_source(template: BaseModel, template_id: str, field: str, *, html: bool = False) -> Source | None:
        value = getattr(template, field)
        return Source(value, f"template {template_id} {field}", html) if isinstance(value, str) else None

    @abstractmethod
    def message(self, user_id: str, address: str, rendered: Rendered) -> BaseModel: ...

    def envelope(self, request: SendRequest, service: ServiceView) -> dict[str, object]:
        """What the channel's batches carry besides messages (and the correlation and batch ids)."""
        return {"sender": service.sender_of(self.name)} if self.sender_type is not None else {}

    def attachments(self, request: SendRequest, template: BaseModel | None) -> list[str]:
        """File names to stage for this channel's batches (only e-mail has any)."""
        return []
