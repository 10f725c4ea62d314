"""handlebars-helpers' date helpers: `year`, and `moment`/`date` formatting through the service's
Day.js-compatible formatter (`{{moment value "YYYY-MM-DD"}}`, `{{date value format="..."}}`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from messaging.helpers.core import Call, HelperError, Spec

DEFAULT_FORMAT = "MMMM DD, YYYY"  # helper-date's


def year(call: Call) -> Any:
    return datetime.now(UTC).year


def moment(call: Call) -> Any:
    from messaging.templating import TemplateRenderError, format_date, parse_date

    value = call.arg(0)
    fmt = call.arg(1) if isinstance(call.arg(1), str) else call.hash("format")
    if len(call.args) == 1 and isinstance(value, str) and parse_date(value) is None and fmt is None:
        value, fmt = None, value  # {{moment "YYYY"}}: now, in that format
    if value is None:
        value = datetime.now(UTC).isoformat()
    try:
        return format_date(
            value if isinstance(value, (str, int, float)) else None,
            str(call.hash("tz") or "UTC"),
            str(fmt or DEFAULT_FORMAT),
        )
    except TemplateRenderError as exc:
        raise HelperError(str(exc).split(": ", 1)[-1]) from exc


HELPERS: dict[str, Spec] = {"year": Spec(year), "moment": Spec(moment), "date": Spec(moment)}
