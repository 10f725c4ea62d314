"""Masks personal data inside free text, such as a provider's error message that names the address
it refused. Applied to every failure reason, so answers, logs, traces and stored records never carry
an address, a number or a token, whoever wrote the text."""

from __future__ import annotations

import re

# Loose on purpose: masking a little too much text is harmless, leaking an address is not.
_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+")
# E.164 (with its plus, maybe spaced) or a bare run of nine digits or more; not dates or durations.
_PHONE = re.compile(r"\+\d[\d ]{4,18}\d|\b\d{9,15}\b")
# FCM registration tokens and other bearer-like strings: long runs of token characters.
_TOKEN = re.compile(r"[A-Za-z0-9_:\-]{64,}")


def redact(text: str) -> str:
    if not text:
        return text
    text = _TOKEN.sub("<token>", text)
    if "@" in text:
        text = _ADDRESS.sub("<address>", text)
    return _PHONE.sub("<number>", text)
