"""What a template's compile or render raises: the callers' errors, apart so that the helpers
(which raise them too) and the renderer share them without importing each other."""

from __future__ import annotations


class TemplateSyntaxError(ValueError):
    """A template that does not parse; the message names where."""


class TemplateRenderError(ValueError):
    """A template that parses but fails for some input (a helper given a bad zone, say)."""


class UserTooLargeError(TemplateRenderError):
    """The request's data fits the template's bound, one user's stored document does not: that
    user's message fails, the others' still go (a 2 MB name must not block a whole cluster)."""


class RenderDeadlineError(Exception):
    """The render's deadline passed (checked at every catalogue helper call): not the template's
    fault, so not a TemplateRenderError (a 400); the caller answers with what it had."""
