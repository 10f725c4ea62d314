"""Handlebars rendering: templates compiled once per container, rendered per user.

Engine: handlebars-rust, reached only through `messaging.engine` (the adapter over the native
API, with its contract test). Two engines exist because escaping is a per-engine setting: HTML
e-mail bodies escape `{{x}}`, every other text is plain.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections import OrderedDict
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import arrow

from messaging import template_guard
from messaging.engine import (
    Engine,
    EnginePanicError,
    EngineRenderError,
    EngineSyntaxError,
    HelperFn,
    HelperOptions,
    describe_render_error,
)
from messaging.helpers import CATALOGUE
from messaging.helpers.core import Call, Safe, Spec, decode_params, encode, js_str, truthy
from messaging.helpers.rewrite import ITEMS, RewriteError, rewrite

# Day.js's default format, ISO 8601 with offset.
DEFAULT_DATE_FORMAT = "YYYY-MM-DDTHH:mm:ssZ"
# Newlines inside interpolated values become <br/> in HTML bodies: they are swapped for this
# private-use character before rendering, so escaping cannot touch the tag, then swapped back.
_NEWLINE_MARK = "\ue000"
# A value a helper quotes in its error (repr: either quote), such as an unknown time zone.
_QUOTED = re.compile(r"'([^'\\]*)'|\"([^\"\\]*)\"")
# Day.js tokens whose arrow spelling differs; bracketed text is literal in both.
_DAYJS_TOKENS = re.compile(r"\[[^\]]*\]|dddd|ddd|dd|d|ZZ|Z")
_DAYJS_MIN_DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")


class TemplateSyntaxError(ValueError):
    """A template that does not parse; the message names where."""


class TemplateRenderError(ValueError):
    """A template that parses but fails for some input (a helper given a bad zone, say)."""


class UserTooLargeError(TemplateRenderError):
    """The request's data fits the template's bound, one user's stored document does not: that
    user's message fails, the others' still go (a 2 MB name must not block a whole cluster)."""


def _hash(options: HelperOptions, key: str) -> Any:
    raw = options.hash_value_json(key)
    return json.loads(raw) if raw else None


def _as_datetime(value: Any) -> arrow.Arrow | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            return arrow.get(value / 1000)  # JavaScript timestamps are in milliseconds
        try:
            # The standard library parses ISO 8601 far faster than arrow's general parser.
            parsed = datetime.fromisoformat(str(value))
            return arrow.Arrow.fromdatetime(parsed, tzinfo=parsed.tzinfo or UTC)
        except ValueError:
            return arrow.get(str(value))
    except (arrow.parser.ParserError, ValueError, TypeError, OverflowError):
        return None


def _dayjs_format(moment: arrow.Arrow, fmt: str) -> str:
    """Formats with Day.js semantics: arrow shares most tokens but swaps Z/ZZ and numbers
    weekdays from 1 (Monday) where Day.js counts from 0 (Sunday)."""

    def translate(match: re.Match[str]) -> str:
        part = match.group(0)
        if part == "Z":
            return "ZZ"
        if part == "ZZ":
            return "Z"
        if part == "d":
            return f"[{moment.isoweekday() % 7}]"
        if part == "dd":
            return f"[{_DAYJS_MIN_DAYS[moment.weekday()]}]"
        return part

    return str(moment.format(_DAYJS_TOKENS.sub(translate, fmt)))


def date_now(params_json: str, options: HelperOptions) -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def date_format(params_json: str, options: HelperOptions) -> str:
    """`{{dateFormat value format="DD/MM/YYYY" tz="Europe/Rome"}}` with Day.js format tokens."""
    params = json.loads(params_json)
    value = params[0] if params else None
    return _format_date(
        value if isinstance(value, (str, int, float)) else None,
        str(_hash(options, "tz") or "UTC"),
        str(_hash(options, "format") or DEFAULT_DATE_FORMAT),
    )


@lru_cache(maxsize=4096)
def _format_date(value: str | float | None, zone: str, fmt: str) -> str:
    # Pure in its inputs, and a request renders the same `data` dates for every user: cached.
    moment = _as_datetime(value)
    if moment is None:
        return ""
    try:
        local = moment.to(zone)
    except (arrow.parser.ParserError, ValueError) as exc:
        raise TemplateRenderError(f"dateFormat: unknown time zone {zone!r}") from exc
    return _dayjs_format(local, fmt)


def parse_date(value: Any) -> arrow.Arrow | None:
    return _as_datetime(value)


def format_date(value: str | float | None, zone: str, fmt: str) -> str:
    return _format_date(value, zone, fmt)


def to_locale(default_locale: str) -> HelperFn:
    """`{{toLocale value locale="it-IT" tz="Europe/Rome"}}`: a number or an ISO 8601 date written the
    locale's way (BCP 47 tag, default DEFAULT_LOCALE); any other text as given; nothing for nothing."""

    def helper(params_json: str, options: HelperOptions) -> str:
        params = json.loads(params_json)
        value = params[0] if params else None
        return _format_locale(
            value if isinstance(value, (str, int, float)) else None,
            str(_hash(options, "locale") or default_locale),
            str(_hash(options, "tz") or "UTC"),
        )

    return helper


@lru_cache(maxsize=4096)
def _format_locale(value: str | float | None, locale_tag: str, zone: str) -> str:
    if value is None or value == "" or isinstance(value, bool):
        return ""
    # Babel's locale data is large: loaded only by templates that use the helper.
    from babel import Locale, UnknownLocaleError
    from babel.dates import format_datetime
    from babel.numbers import format_decimal

    try:
        locale = Locale.parse(locale_tag, sep="-")
    except (ValueError, TypeError, UnknownLocaleError) as exc:
        raise TemplateRenderError(f"toLocale: unknown locale {locale_tag!r}") from exc
    if isinstance(value, (int, float)):
        return str(format_decimal(value, locale=locale))
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    try:
        local = arrow.Arrow.fromdatetime(parsed, tzinfo=parsed.tzinfo or UTC).to(zone)
    except (arrow.parser.ParserError, ValueError) as exc:
        raise TemplateRenderError(f"toLocale: unknown time zone {zone!r}") from exc
    return str(format_datetime(local.datetime, "medium", tzinfo=local.tzinfo, locale=locale))


def helpers(default_locale: str) -> dict[str, HelperFn]:
    return {"dateNow": date_now, "dateFormat": date_format, "toLocale": to_locale(default_locale)}


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
# The most a value could render to, per byte of its JSON: objects render as `[object]` (4 x `{}`)
# and a character is at most 4 bytes in UTF-8; escaping in HTML writes up to 6 bytes per byte.
_RENDER_PER_JSON_CHAR = 16
_HTML_ESCAPE_FACTOR = 6


def _cost(source: str) -> int:
    return _BYTES_PER_TEMPLATE + _BYTES_PER_SOURCE_BYTE * len(source) + _BYTES_PER_TAG * source.count("{{")


class _RenderState:
    """What catalogue helpers may spend in one render: the bytes they write (inline and as
    arguments) and the items a block iterates (no wider than what the guard's bound assumed)."""

    __slots__ = ("budget", "error", "widest")

    def __init__(self) -> None:
        self.budget = 0
        self.widest = 0
        self.error: str | None = None

    def reset(self, budget: int, widest: int) -> None:
        self.budget = budget
        self.widest = widest
        self.error = None

    def spend(self, text: str) -> str:
        self.budget -= len(text)
        if self.budget < 0:
            raise ValueError("helpers wrote more than the message may hold")
        return text


class _Engine:
    """The native registry, bounded by the estimated memory of the templates it holds."""

    def __init__(self, *, html_mode: bool, max_bytes: int, default_locale: str) -> None:
        self.html_mode = html_mode
        self._native = Engine(html_escape=html_mode)
        self._strict = False
        self.state = _RenderState()
        for name, helper in helpers(default_locale).items():
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
                call = Call(decode_params(params_json), options, html_mode)
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


def _name(source: str) -> str:
    return hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


class CompiledTemplate:
    """A checked template; the native engine compiles its parts when the first user is rendered."""

    def __init__(self, engine: _Engine, source: str, label: str, max_bytes: int, *, strict: bool = False) -> None:
        try:
            self._shape = template_guard.inspect(source)
            rewritten = [rewrite(part) for part in self._shape.parts]
        except (template_guard.GuardError, RewriteError) as exc:
            raise TemplateSyntaxError(f"{label}: {exc}") from exc
        self._engine = engine
        self._parts = [(_name(part.source), part.source) for part in rewritten]
        # Bodies the catalogue's iterating blocks render apart: compiled before the parts.
        self._subs = [sub for part in rewritten for sub in part.subs]
        self.strict = strict
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
        return output.replace(_NEWLINE_MARK, "<br/>") if self.html else output


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # ObjectId, Decimal128, UUID: as their text


def _mark_newlines(value: Any) -> Any:
    if isinstance(value, str):
        cleaned = value.replace(_NEWLINE_MARK, "")
        return cleaned.replace("\r\n", _NEWLINE_MARK).replace("\n", _NEWLINE_MARK)
    if isinstance(value, dict):
        return {key: _mark_newlines(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mark_newlines(item) for item in value]
    return value


class RenderContext:
    """The inputs of one user's messages, serialised once and shared by every template."""

    def __init__(
        self,
        user: dict[str, Any],
        data: dict[str, Any],
        *,
        data_json: str | None = None,
        data_measure: tuple[int, int] | None = None,
    ) -> None:
        self._user = user
        self._data = data
        self._data_json = data_json if data_json is not None else dumps(data)
        self._data_measure = data_measure
        self._text_json: str | None = None
        self._html_json: str | None = None
        self._quick: tuple[int, int] | None = None
        self._exact: tuple[int, int] | None = None

    @property
    def data_measure(self) -> tuple[int, int]:
        if self._data_measure is None:
            self._data_measure = measure_data(self._data)
        return self._data_measure

    def quick_measure(self, context_json: str) -> tuple[int, int]:
        """(widest, longest) with the user's side bounded by the length of the context's JSON
        (the user is part of it): no walk of the user document."""
        if self._quick is None:
            widest, longest = self.data_measure
            chars = len(context_json)
            self._quick = (max(widest, chars), max(longest, _RENDER_PER_JSON_CHAR * chars))
        return self._quick

    @property
    def exact_measure(self) -> tuple[int, int]:
        if self._exact is None:
            widest, longest = self.data_measure
            user_widest, user_longest = measure_data(self._user)
            self._exact = (max(widest, user_widest), max(longest, user_longest))
        return self._exact

    @property
    def text_json(self) -> str:
        if self._text_json is None:
            self._text_json = f'{{"user":{dumps(self._user)},"data":{self._data_json}}}'
        return self._text_json

    @property
    def html_json(self) -> str:
        if self._html_json is None:
            marked = {"user": _mark_newlines(self._user), "data": _mark_newlines(self._data)}
            self._html_json = dumps(marked)
        return self._html_json


def dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"))


def measure_data(value: Any) -> tuple[int, int]:
    """(widest array or object, longest rendered value) of a context value."""
    try:
        return template_guard.measure(value)
    except template_guard.GuardError as exc:
        raise TemplateRenderError(f"data: {exc}") from exc


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
        self._text = _Engine(html_mode=False, max_bytes=cache_bytes, default_locale=default_locale)
        self._html = _Engine(html_mode=True, max_bytes=cache_bytes, default_locale=default_locale)

    def engine(self, *, html_mode: bool = False) -> _Engine:
        return self._html if html_mode else self._text

    def compile(self, source: str, label: str, *, html_mode: bool = False, strict: bool = False) -> CompiledTemplate:
        """Checks the template (a TemplateSyntaxError names what is refused); compiling waits
        for the first render. Strict: a missing variable is an error, not an empty string."""
        return CompiledTemplate(self.engine(html_mode=html_mode), source, label, self.max_message_bytes, strict=strict)
