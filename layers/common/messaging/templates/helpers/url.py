"""handlebars-helpers' URL helpers: JavaScript's encodeURIComponent, encodeURI and their inverses."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from messaging.templates.helpers.core import Call, HelperError, Spec

_COMPONENT_SAFE = "-_.!~*'()"
_URI_SAFE = _COMPONENT_SAFE + ";,/?:@&=+$#"


def _text_helper(transform: Any) -> Any:
    def helper(call: Call) -> Any:
        value = call.arg(0)
        if not isinstance(value, str):
            return ""
        try:
            return transform(value)
        except (UnicodeError, ValueError) as exc:
            raise HelperError(f"malformed URI: {exc}") from exc

    return helper


def _decode(text: str, keep: str = "") -> str:
    if keep:
        for char in keep:
            text = text.replace(quote(char, safe="").lower(), "\0" + char.encode().hex()).replace(
                quote(char, safe=""), "\0" + char.encode().hex()
            )
    decoded = unquote(text, errors="strict")
    for char in keep:
        decoded = decoded.replace("\0" + char.encode().hex(), quote(char, safe=""))
    return decoded


def strip_protocol(text: str) -> str:
    parts = urlsplit(text)
    return (
        urlunsplit(("", parts.netloc, parts.path or ("/" if parts.netloc else ""), parts.query, parts.fragment))
        if parts.netloc
        else text
    )


HELPERS: dict[str, Spec] = {
    "encodeURI": Spec(_text_helper(lambda text: quote(text, safe=_COMPONENT_SAFE))),
    "decodeURI": Spec(_text_helper(_decode)),
    "escape": Spec(_text_helper(lambda text: quote(text, safe=_COMPONENT_SAFE))),
    "url_encode": Spec(_text_helper(lambda text: quote(text, safe=_URI_SAFE))),
    "url_decode": Spec(_text_helper(lambda text: _decode(text, ";/?:@&=+$,#"))),
    "stripQuerystring": Spec(_text_helper(lambda text: text.split("?")[0])),
    "stripProtocol": Spec(_text_helper(strip_protocol)),
}
