"""Handlebars rendering: templates compiled once per container, rendered per user.

Engine: handlebars-rust, reached only through `messaging.templates.native` (the adapter over the
native API, with its contract test). Two engines exist because escaping is a per-engine setting:
HTML e-mail bodies escape `{{x}}`, every other text is plain.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from messaging.templates.cache import TemplateCache
from messaging.templates.compiled import CompiledTemplate

DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


class Renderer:
    """Holds the engines of one container; compiled templates survive across invocations, up to
    `cache_bytes` of estimated native memory per engine. No message renders to more than
    `max_message_bytes`."""

    def __init__(
        self,
        *,
        default_locale: str = "en-US",
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.max_message_bytes = max_message_bytes
        self._text = TemplateCache(html_mode=False, max_bytes=cache_bytes, default_locale=default_locale)
        self._html = TemplateCache(html_mode=True, max_bytes=cache_bytes, default_locale=default_locale)

    def engine(self, *, html_mode: bool = False) -> TemplateCache:
        return self._html if html_mode else self._text

    def compile(
        self, source: str, label: str, *, html_mode: bool = False, strict: bool = False, line_break: str = "<br/>"
    ) -> CompiledTemplate:
        """Checks the template (a TemplateSyntaxError names what is refused); compiling waits
        for the first render. Strict: a missing variable is an error, not an empty string.
        `line_break`: what a line break in a value becomes in an escaped text."""
        engine = self.engine(html_mode=html_mode)
        return CompiledTemplate(engine, source, label, self.max_message_bytes, strict=strict, line_break=line_break)

    @contextmanager
    def deadline(self, seconds: float | None) -> Iterator[None]:
        """Renders within the block stop at their next helper call once `seconds` have passed
        (RenderDeadlineError); None sets no deadline."""
        states = (self._text.state, self._html.state)
        for state in states:
            state.deadline = None if seconds is None else time.monotonic() + seconds
        try:
            yield
        finally:
            for state in states:
                state.deadline = None
