"""The date helpers: the service's own `dateNow`, `dateFormat` (Day.js format tokens) and
`toLocale`, registered natively; and handlebars-helpers' `year`, and `moment`/`date` formatting
through the same Day.js-compatible formatter (`{{moment value "YYYY-MM-DD"}}`,
`{{date value format="..."}}`)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from messaging.templates import user_defaults
from messaging.templates.errors import TemplateRenderError
from messaging.templates.helpers.core import Call, HelperError, Spec
from messaging.templates.native import HelperFn, HelperOptions

if TYPE_CHECKING:
    # arrow is imported where a date is read (20 ms of SendFunction's cold start otherwise): only
    # templates that format dates need it.
    import arrow

# Day.js's default format, ISO 8601 with offset.
DEFAULT_DATE_FORMAT = "YYYY-MM-DDTHH:mm:ssZ"
DEFAULT_FORMAT = "MMMM DD, YYYY"  # helper-date's
# Day.js tokens whose arrow spelling differs; bracketed text is literal in both.
_DAYJS_TOKENS = re.compile(r"\[[^\]]*\]|dddd|ddd|dd|d|ZZ|Z")
_DAYJS_MIN_DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
# The longest date, format, time zone or locale read. Day.js's and arrow's `[literal]` patterns
# scan from every `[` to the next `]` (quadratic on a long run of `[`), and arrow's parser is no
# better on long texts: a longer date is no date, a longer format, zone or locale is refused.
MAX_DATE_TEXT = 256


def _hash(options: HelperOptions, key: str) -> Any:
    raw = options.hash_value_json(key)
    return json.loads(raw) if raw else None


def _zone(explicit: Any) -> str:
    """The template's zone, else the user's (a valid one), else UTC."""
    return str(explicit or user_defaults.zone() or "UTC")


def _as_datetime(value: Any) -> arrow.Arrow | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    import arrow

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
        _zone(_hash(options, "tz")),
        str(_hash(options, "format") or DEFAULT_DATE_FORMAT),
    )


@lru_cache(maxsize=4096)
def _format_date(value: str | float | None, zone: str, fmt: str) -> str:
    # Pure in its inputs, and a request renders the same `data` dates for every user: cached.
    if len(fmt) > MAX_DATE_TEXT or len(zone) > MAX_DATE_TEXT:
        raise TemplateRenderError(f"dateFormat: the format and the time zone hold at most {MAX_DATE_TEXT} characters")
    if isinstance(value, str) and len(value) > MAX_DATE_TEXT:
        return ""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    import arrow

    try:
        local = moment.to(zone)
    except (arrow.parser.ParserError, ValueError) as exc:
        raise TemplateRenderError(f"dateFormat: unknown time zone {zone!r}") from exc
    return _dayjs_format(local, fmt)


def parse_date(value: Any) -> arrow.Arrow | None:
    if isinstance(value, str) and len(value) > MAX_DATE_TEXT:
        return None
    return _as_datetime(value)


def format_date(value: str | float | None, zone: str, fmt: str) -> str:
    return _format_date(value, zone, fmt)


def to_locale(default_locale: str) -> HelperFn:
    """`{{toLocale value locale="it-IT" tz="Europe/Rome"}}`: a number or an ISO 8601 date written the
    locale's way (BCP 47 tag, default DEFAULT_LOCALE); any other text as given; nothing for nothing."""

    def helper(params_json: str, options: HelperOptions) -> str:
        params = json.loads(params_json)
        value = params[0] if params else None
        value = value if isinstance(value, (str, int, float)) else None
        zone = _zone(_hash(options, "tz"))
        explicit = _hash(options, "locale")
        if explicit:
            return _format_locale(value, str(explicit), zone)
        own = user_defaults.locale()
        if own is not None:
            try:
                return _format_locale(value, own, zone)
            except TemplateRenderError:
                pass  # a locale Babel does not know (`zz-ZZ`): the service's default, never the user's failure
        return _format_locale(value, default_locale, zone)

    return helper


@lru_cache(maxsize=4096)
def _format_locale(value: str | float | None, locale_tag: str, zone: str) -> str:
    if value is None or value == "" or isinstance(value, bool):
        return ""
    if len(locale_tag) > MAX_DATE_TEXT or len(zone) > MAX_DATE_TEXT:
        raise TemplateRenderError(f"toLocale: the locale and the time zone hold at most {MAX_DATE_TEXT} characters")
    if isinstance(value, str) and len(value) > MAX_DATE_TEXT:
        return value  # no date: as given, like any other text
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
    import arrow

    try:
        local = arrow.Arrow.fromdatetime(parsed, tzinfo=parsed.tzinfo or UTC).to(zone)
    except (arrow.parser.ParserError, ValueError) as exc:
        raise TemplateRenderError(f"toLocale: unknown time zone {zone!r}") from exc
    return str(format_datetime(local.datetime, "medium", tzinfo=local.tzinfo, locale=locale))


def native_helpers(default_locale: str) -> dict[str, HelperFn]:
    """The service's own date helpers, registered on the native engine as they are."""
    return {"dateNow": date_now, "dateFormat": date_format, "toLocale": to_locale(default_locale)}


def year(call: Call) -> Any:
    return datetime.now(UTC).year


def moment(call: Call) -> Any:
    value = call.arg(0)
    fmt = call.arg(1) if isinstance(call.arg(1), str) else call.hash("format")
    if len(call.args) == 1 and isinstance(value, str) and parse_date(value) is None and fmt is None:
        value, fmt = None, value  # {{moment "YYYY"}}: now, in that format
    if value is None:
        value = datetime.now(UTC).isoformat()
    try:
        return format_date(
            value if isinstance(value, (str, int, float)) else None,
            _zone(call.hash("tz")),
            str(fmt or DEFAULT_FORMAT),
        )
    except TemplateRenderError as exc:
        raise HelperError(str(exc).split(": ", 1)[-1]) from exc


HELPERS: dict[str, Spec] = {"year": Spec(year), "moment": Spec(moment), "date": Spec(moment)}
