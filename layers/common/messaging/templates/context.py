"""One user's inputs to every template: the user and the request's data, serialised once (plain
and, for HTML bodies, with newlines marked) and measured for the render bound."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from messaging.templates.errors import TemplateRenderError
from messaging.templates.shape import GuardError, measure

# Newlines inside interpolated values become <br/> in HTML bodies: they are swapped for this
# private-use character before rendering, so escaping cannot touch the tag, then swapped back.
NEWLINE_MARK = "\ue000"
# The most a value could render to, per byte of its JSON: objects render as `[object]` (4 x `{}`)
# and a character is at most 4 bytes in UTF-8.
_RENDER_PER_JSON_CHAR = 16


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # ObjectId, Decimal128, UUID: as their text


def _mark_newlines(value: Any) -> Any:
    if isinstance(value, str):
        cleaned = value.replace(NEWLINE_MARK, "")
        return cleaned.replace("\r\n", NEWLINE_MARK).replace("\n", NEWLINE_MARK)
    if isinstance(value, dict):
        return {key: _mark_newlines(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mark_newlines(item) for item in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"))


def measure_data(value: Any) -> tuple[int, int]:
    """(widest array or object, longest rendered value) of a context value."""
    try:
        return measure(value)
    except GuardError as exc:
        raise TemplateRenderError(f"data: {exc}") from exc


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
