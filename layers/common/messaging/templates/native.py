"""The one adapter over the native Handlebars engine (handlebars-rust through dotprompt-handlebars'
`handlebarrz._native`): nothing else imports it.

The native API is used directly: templates are parsed once and rendered by name (the Python wrapper
re-parses on every render and logs each one), syntax errors carry line and column, and `eq ne lt gt
and or not` are built in. What the service relies on of it (its calls, its error texts, the panic it
may raise) is pinned by tests/unit/test_engine_contract.py to the version in
layers/common/requirements.txt: an upgrade that changes any of it fails there first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from handlebarrz._native import HandlebarrzHelperOptions, HandlebarrzTemplate

PINNED_VERSION = "0.1.1"  # dotprompt-handlebars, as layers/common/requirements.txt pins it

# What a helper receives: its positional arguments as JSON, and the options (hash, context, blocks).
HelperOptions = HandlebarrzHelperOptions
HelperFn = Callable[[str, HelperOptions], str]


@dataclass(frozen=True)
class SyntaxProblem:
    """A parse error as the engine reports it: where (1-based, when it says) and why."""

    line: int | None
    column: int | None
    reason: str


class EngineSyntaxError(ValueError):
    """The engine could not parse a template."""

    def __init__(self, problem: SyntaxProblem) -> None:
        super().__init__(problem.reason)
        self.problem = problem


class EngineRenderError(ValueError):
    """A parsed template failed for some input; the message is in the service's words."""


class EnginePanicError(Exception):
    """The engine panicked (a Rust panic, which pyo3 raises as a BaseException): the registry is
    unchanged, the call failed."""


def is_panic(exc: BaseException) -> bool:
    # `except Exception` would let a PanicException through the resolver and kill the invocation.
    return type(exc).__name__ == "PanicException"


# A parse error: `... --> Template error in "<name>":<line>:<column> ... = reason: <why>`.
_ERROR_AT = re.compile(r'Template error in "[^"]*":(\d+):(\d+)')
_ERROR_REASON = re.compile(r"reason: (.+)")


def parse_syntax_error(text: str) -> SyntaxProblem:
    """The native parse error's line, column and reason."""
    where = _ERROR_AT.search(text)
    reason = _ERROR_REASON.search(text)
    detail = reason.group(1).strip() if reason else (text.splitlines()[0] if text else text)
    if where is None:
        return SyntaxProblem(None, None, detail)
    return SyntaxProblem(int(where.group(1)), int(where.group(2)), detail)


# A render error: `Error rendering "<name>" line 1, col 1: <why>`, where <why> may be one of:
_RENDER_PREFIX = re.compile(r'^Error rendering "[^"]*" ')
# a helper that raised (`Helper execution failed: ValueError: <its message>`),
_HELPER_FAILED = re.compile(r"Helper execution failed: \w+: ")
# a variable missing in strict mode (`... strict mode Some("data.when")`), or an unknown helper.
_STRICT_MISSING = re.compile(r'Failed to access variable in strict mode Some\("([^"]*)"\)')
_NOT_FOUND = re.compile(r"Helper not found (\S+)")


def describe_render_error(text: str) -> str:
    """The native engine's render error without its template name, in the service's words."""
    detail = _RENDER_PREFIX.sub("", text.splitlines()[0] if text else text)
    detail = _HELPER_FAILED.sub("", detail)
    detail = _STRICT_MISSING.sub(
        lambda match: f"{match.group(1)} is missing (strict mode: not in the data, and no helper of that name)", detail
    )
    return _NOT_FOUND.sub(lambda match: f"unknown helper {match.group(1)}", detail)


@contextmanager
def _native_call(name: str, error: Callable[[str], ValueError]) -> Iterator[None]:
    """The native engine's ValueError as `error(text)`; a panic as EnginePanicError."""
    try:
        yield
    except ValueError as exc:
        raise error(str(exc)) from exc
    except BaseException as exc:
        if not is_panic(exc):
            raise
        raise EnginePanicError(name) from None


def _syntax_error(text: str) -> ValueError:
    return EngineSyntaxError(parse_syntax_error(text))


def _render_error(text: str) -> ValueError:
    return EngineRenderError(describe_render_error(text))


class NativeEngine:
    """One native registry: its escaping (HTML or none), its strict mode, helpers and templates."""

    def __init__(self, *, html_escape: bool) -> None:
        self._native = HandlebarrzTemplate()
        self._native.set_escape_fn("html_escape" if html_escape else "no_escape")

    def register_helper(self, name: str, helper: HelperFn) -> None:
        # The stub types helpers as one-argument; the native call passes (params_json, options).
        self._native.register_helper(name, helper)  # type: ignore[arg-type]

    def set_strict(self, strict: bool) -> None:
        self._native.set_strict_mode(strict)

    def register(self, name: str, source: str) -> None:
        """Parses and keeps a template; EngineSyntaxError or EnginePanicError when it cannot."""
        with _native_call(name, _syntax_error):
            self._native.register_template(name, source)

    def unregister(self, name: str) -> None:
        self._native.unregister_template(name)

    def has_template(self, name: str) -> bool:
        return bool(self._native.has_template(name))

    def render(self, name: str, context_json: str) -> str:
        """Renders a registered template; EngineRenderError (described) or EnginePanicError."""
        with _native_call(name, _render_error):
            return self._native.render(name, context_json)
