"""A checked template: refused by the guard before any compile, cut into parts the native engine
parses quickly, and rendered for one user within the bound its shape allows."""

from __future__ import annotations

import hashlib

from messaging.templates.cache import TemplateCache
from messaging.templates.context import NEWLINE_MARK, RenderContext
from messaging.templates.errors import TemplateRenderError, TemplateSyntaxError, UserTooLargeError
from messaging.templates.guard import inspect
from messaging.templates.rewrite import RewriteError, rewrite
from messaging.templates.shape import GuardError

# Escaping in HTML writes up to 6 bytes per byte of a value.
_HTML_ESCAPE_FACTOR = 6


def _name(source: str) -> str:
    return hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


class CompiledTemplate:
    """A checked template; the native engine compiles its parts when the first user is rendered."""

    def __init__(
        self,
        engine: TemplateCache,
        source: str,
        label: str,
        max_bytes: int,
        *,
        strict: bool = False,
        line_break: str = "<br/>",
    ) -> None:
        try:
            self._shape = inspect(source)
            rewritten = [rewrite(part) for part in self._shape.parts]
        except (GuardError, RewriteError) as exc:
            raise TemplateSyntaxError(f"{label}: {exc}") from exc
        self._engine = engine
        self._parts = [(_name(part.source), part.source) for part in rewritten]
        # Bodies the catalogue's iterating blocks render apart: compiled before the parts.
        self._subs = [sub for part in rewritten for sub in part.subs]
        self.strict = strict
        self._line_break = line_break
        self._max_bytes = max_bytes
        self.label = label
        self.html = engine.html_mode
        self._factor = _HTML_ESCAPE_FACTOR if self.html else 1
        # Without `each` the bound is text + values x longest: checked inline on the hot path.
        self._flat = (self._shape.text[0], self._shape.values[0] * self._factor) if not self._shape.each_depth else None

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self._parts]

    def _check_bound(self, context: RenderContext, context_json: str) -> int:
        """The widest array the bound held for (what an iterating helper may walk)."""
        widest, longest = context.quick_measure(context_json)
        if self._flat is not None:
            if self._flat[0] + self._flat[1] * longest <= self._max_bytes:
                return 0
        elif self._shape.bound(widest, longest * self._factor) <= self._max_bytes:
            return widest
        widest, longest = context.exact_measure
        if self._shape.bound(widest, longest * self._factor) > self._max_bytes:
            shape = self._shape
            data_widest, data_longest = context.data_measure
            if shape.bound(data_widest, data_longest * self._factor) <= self._max_bytes:
                # No user data in the message: the operator finds the user by the failure's id.
                raise UserTooLargeError(
                    f"{self.label}: the user's document could render more than {self._max_bytes} bytes"
                )
            nesting = f" (each nested {shape.each_depth} deep)" if shape.each_depth else ""
            raise TemplateRenderError(
                f"{self.label}: could render more than {self._max_bytes} bytes for this data{nesting}"
            )
        return widest

    def render(self, context: RenderContext) -> str:
        context_json = context.html_json if self.html else context.text_json
        widest = self._check_bound(context, context_json)
        engine, label = self._engine, self.label
        engine.state.reset(self._max_bytes, widest)
        engine.set_strict(self.strict)
        for name, sub in self._subs:
            engine.ensure(name, sub, label)
        if len(self._parts) == 1:
            name, part = self._parts[0]
            output = engine.render(name, part, context_json, label)
        else:
            output = "".join(engine.render(name, part, context_json, label) for name, part in self._parts)
        if len(output) * 4 > self._max_bytes and len(output.encode()) > self._max_bytes:
            raise TemplateRenderError(f"{label}: rendered more than {self._max_bytes} bytes")
        return output.replace(NEWLINE_MARK, self._line_break) if self.html else output
