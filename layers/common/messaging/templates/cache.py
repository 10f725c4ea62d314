"""The native engine of one escaping mode, with every helper registered and the compiled
templates kept up to an estimate of their native memory (least recently used evicted first)."""

from __future__ import annotations

import html
import re
import time
from collections import OrderedDict
from typing import Any

from messaging.templates.context import dumps
from messaging.templates.errors import RenderDeadlineError, TemplateRenderError, TemplateSyntaxError
from messaging.templates.helpers import CATALOGUE
from messaging.templates.helpers.core import Call, Safe, Spec, decode_params, encode, js_str, truthy
from messaging.templates.helpers.date import native_helpers
from messaging.templates.native import (
    EnginePanicError,
    EngineRenderError,
    EngineSyntaxError,
    HelperFn,
    HelperOptions,
    NativeEngine,
    describe_render_error,
)
from messaging.templates.rewrite import ITEMS

# A value a helper quotes in its error (repr: either quote), such as an unknown time zone.
_QUOTED = re.compile(r"'([^'\\]*)'|\"([^\"\\]*)\"")


def _escaping(helper: HelperFn) -> HelperFn:
    # Custom helpers' output is not escaped by the engine; in HTML it must be.
    return lambda params, options: html.escape(helper(params, options))


def _describe_syntax_error(label: str, source: str, error: EngineSyntaxError) -> str:
    where = error.problem
    detail = where.reason
    lines = source.split("\n")
    if where.line == len(lines) and where.column is not None and where.column > len(lines[-1]):
        # The parser's list of expected tokens says less than this.
        detail = "unexpected end of template: a block or an expression is not closed"
    if where.line is not None:
        return f"{label}: invalid Handlebars syntax at line {where.line}, column {where.column}: {detail}"
    return f"{label}: invalid Handlebars syntax: {detail}"


# The native engine's memory per compiled template, measured by RSS over hundreds of
# registrations (bench/templates.py): about 720 bytes per tag, 2 per literal byte, 1 KB each.
_BYTES_PER_TEMPLATE = 1024
_BYTES_PER_SOURCE_BYTE = 2
_BYTES_PER_TAG = 768


def _cost(source: str) -> int:
    return _BYTES_PER_TEMPLATE + _BYTES_PER_SOURCE_BYTE * len(source) + _BYTES_PER_TAG * source.count("{{")


class _RenderState:
    """What catalogue helpers may spend in one render: the bytes they write (inline and as
    arguments), the items a block iterates (no wider than what the guard's bound assumed), and
    the time: a render cannot be interrupted from Python, but every helper call is a point where
    it can fail cleanly, so past `deadline` (time.monotonic) the next helper call ends it."""

    __slots__ = ("budget", "deadline", "error", "expired", "widest")

    def __init__(self) -> None:
        self.budget = 0
        self.widest = 0
        self.error: str | None = None
        self.deadline: float | None = None  # set for a whole send by Renderer.deadline
        self.expired = False

    def reset(self, budget: int, widest: int) -> None:
        self.budget = budget
        self.widest = widest
        self.error = None
        self.expired = False

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.expired = True
            raise ValueError("the render passed its deadline")

    def spend(self, text: str) -> str:
        self.budget -= len(text)
        if self.budget < 0:
            raise ValueError("helpers wrote more than the message may hold")
        return text


class TemplateCache:
    """The native registry, bounded by the estimated memory of the templates it holds."""

    def __init__(self, *, html_mode: bool, max_bytes: int, default_locale: str) -> None:
        self.html_mode = html_mode
        self._native = NativeEngine(html_escape=html_mode)
        self._strict = False
        self.state = _RenderState()
        for name, helper in native_helpers(default_locale).items():
            self._native.register_helper(name, _escaping(helper) if html_mode else helper)
        for name, spec in CATALOGUE.items():
            for suffix, form in (("", "inline"), ("__sub", "sub"), ("__block", "block")):
                self._native.register_helper(name + suffix, self._adapt(name, spec, form))
            if spec.kind in ("iter", "with"):
                self._native.register_helper(name + "__iter", self._adapt(name, spec, "iter"))
        self._native.register_helper("each__iter", self._adapt("each", Spec(_first_arg, "iter"), "iter"))
        self._native.register_helper("with__iter", self._adapt("with", Spec(_first_arg, "with"), "iter"))
        self._names: OrderedDict[str, int] = OrderedDict()
        self._max_bytes = max_bytes
        self.size = 0  # the estimated bytes of the templates registered

    def set_strict(self, strict: bool) -> None:
        if strict != self._strict:
            self._native.set_strict(strict)
            self._strict = strict

    def _adapt(self, name: str, spec: Spec, form: str) -> HelperFn:
        """The native helper of one catalogue entry in one form; any failure is recorded (the
        first one wins) so the render's error names the helper and why."""
        state = self.state
        html_mode = self.html_mode

        def native(params_json: str, options: HelperOptions) -> str:
            try:
                state.check_time()
                call = Call(decode_params(params_json), options, html_mode, CATALOGUE)
                if form == "iter":
                    return self._iterate(spec, call)
                if form == "block":
                    if spec.kind in ("cond", "unless"):
                        value = spec.fn(call)
                        return call.fn() if truthy(value) != (spec.kind == "unless") else call.inverse()
                    if spec.kind == "body":
                        body = html.unescape(call.fn()) if html_mode else call.fn()
                        call.args.append(body)
                if form == "sub":
                    return state.spend(encode(spec.fn(call)))
                value = spec.fn(call)
                text = js_str(value)
                if html_mode and not isinstance(value, Safe):
                    text = html.escape(text)
                return state.spend(text)
            except Exception as exc:
                if state.error is None:
                    reason = str(exc) if not isinstance(exc, ValueError) or str(exc) else type(exc).__name__
                    if not reason.startswith(f"{name}:"):
                        reason = f"{name}: {describe_render_error(reason)}"
                    state.error = reason
                raise

        return native

    def _iterate(self, spec: Spec, call: Call) -> str:
        value = spec.fn(call)
        if spec.kind == "with":
            value = None if value is None or value is False else [value]
        if not isinstance(value, (list, dict)) or not value:
            inverse = call.hash("__inv")
            return self._native.render(str(inverse), call.options.context_json()) if inverse else ""
        if spec.kind == "iter" and len(value) > self.state.widest:
            raise ValueError(f"{len(value)} items to iterate, more than the render was bounded for")
        root = call.options.context_json()
        items = dumps(value)
        context = f'{root[:-1]}{"," if root != "{}" else ""}"{ITEMS}":{items}}}'
        return self._native.render(str(call.hash("__fn")), context)

    def __contains__(self, name: str) -> bool:
        return name in self._names

    def ensure(self, name: str, source: str, label: str) -> None:
        if name in self._names:
            self._names.move_to_end(name)
            return
        try:
            self._native.register(name, source)
        except EngineSyntaxError as exc:
            raise TemplateSyntaxError(_describe_syntax_error(label, source, exc)) from exc
        except EnginePanicError:
            raise TemplateSyntaxError(f"{label}: the template engine cannot parse this template") from None
        cost = _cost(source)
        self._names[name] = cost
        self.size += cost
        while self.size > self._max_bytes and len(self._names) > 1:
            evicted, evicted_cost = self._names.popitem(last=False)
            self._native.unregister(evicted)
            self.size -= evicted_cost

    def render(self, name: str, source: str, context_json: str, label: str) -> str:
        self.ensure(name, source, label)  # compiled on first use, again if evicted since
        try:
            return self._native.render(name, context_json)
        except EngineRenderError as exc:
            if self.state.expired:
                raise RenderDeadlineError(f"{label}: the render passed its deadline") from exc
            detail = _only_template_values(self.state.error or str(exc), source)
            raise TemplateRenderError(f"{label}: {detail}") from exc
        except EnginePanicError:
            raise TemplateRenderError(f"{label}: the template engine failed on this template") from None


def _only_template_values(detail: str, source: str) -> str:
    """A render error answers the caller and is logged: a value it quotes stays only if the template
    itself holds it (`tz="Mars/Olympus"`). One from the data (`tz=user.emailAddress`) is masked,
    whoever's data it is."""

    def mask(match: re.Match[str]) -> str:
        value = match.group(1) if match.group(1) is not None else match.group(2)
        return match.group(0) if value and value in source else "(a value from the data)"

    return _QUOTED.sub(mask, detail)


def _first_arg(call: Call) -> Any:
    return call.arg(0)
