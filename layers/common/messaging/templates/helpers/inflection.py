"""handlebars-helpers' inflection helpers."""

from __future__ import annotations

from typing import Any

from messaging.templates.helpers.core import Call, Spec, is_number, js_str, to_number


def inflect(call: Call) -> Any:
    count, singular, plural = call.arg(0), call.arg(1), call.arg(2)
    amount = to_number(count)
    word = plural if (amount > 1 or amount == 0) else singular
    if call.arg(3) is True:
        return f"{js_str(count)} {js_str(word)}"
    return word


def ordinalize(call: Call) -> Any:
    value = call.arg(0)
    if not is_number(value):
        return js_str(value)
    text = js_str(value)
    number_value = abs(int(to_number(value)))
    if number_value % 100 in (11, 12, 13):
        return text + "th"
    return text + {1: "st", 2: "nd", 3: "rd"}.get(number_value % 10, "th")


HELPERS: dict[str, Spec] = {"inflect": Spec(inflect), "ordinalize": Spec(ordinalize)}
