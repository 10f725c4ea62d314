"""The contract of the native Handlebars engine as messaging.templates.native uses it, pinned to the version
the layer ships (dotprompt-handlebars in layers/common/requirements.txt). An upgrade that changes a
call, an error text the service parses, or the escaping fails here, before any template does."""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from messaging.templates import native as engine
from messaging.templates.native import EngineRenderError, EngineSyntaxError, HelperOptions, NativeEngine

ROOT = Path(__file__).resolve().parents[2]
MESSAGING = ROOT / "layers" / "common" / "messaging"


def test_the_pinned_version_is_the_one_installed_and_the_one_the_layer_ships() -> None:
    requirements = (ROOT / "layers" / "common" / "requirements.txt").read_text()
    assert f"dotprompt-handlebars=={engine.PINNED_VERSION}" in requirements
    assert version("dotprompt-handlebars") == engine.PINNED_VERSION


def test_the_adapter_is_the_only_importer_of_the_native_module() -> None:
    importers = sorted(
        str(path.relative_to(ROOT))
        for folder in ("layers", "functions", "local", "bench", "tests")
        for path in (ROOT / folder).rglob("*.py")
        # Not bench/.layer: the built layer `make bench` keeps holds handlebarrz itself.
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
        and re.search(r"^\s*(from|import) handlebarrz", path.read_text(), re.MULTILINE)
    )
    assert importers == ["layers/common/messaging/templates/native.py"]


def test_register_and_render_by_name_with_either_escaping() -> None:
    plain, html = NativeEngine(html_escape=False), NativeEngine(html_escape=True)
    for each in (plain, html):
        each.register("t", "Hi {{user.name}}{{#if (eq n 2)}} two{{/if}}")
    context = json.dumps({"user": {"name": "<b>Ann</b>"}, "n": 2})
    assert plain.render("t", context) == "Hi <b>Ann</b> two"
    assert html.render("t", context) == "Hi &lt;b&gt;Ann&lt;/b&gt; two"
    assert plain.has_template("t")
    plain.unregister("t")
    assert not plain.has_template("t")


def test_a_helper_gets_its_arguments_as_json_and_its_hash_through_the_options() -> None:
    seen: list[object] = []

    def helper(params_json: str, options: HelperOptions) -> str:
        seen.append((json.loads(params_json), json.loads(options.hash_value_json("tz") or "null")))
        return "ok"

    each = NativeEngine(html_escape=False)
    each.register_helper("probe", helper)
    each.register("t", '{{probe a 3 tz="Europe/Rome"}}')
    assert each.render("t", json.dumps({"a": "x"})) == "ok"
    assert seen == [(["x", 3], "Europe/Rome")]


@pytest.mark.parametrize(
    ("source", "line", "column"),
    [("Hi {{#if x}}", 1, 13), ("a\n{{x", 2, 4)],
)
def test_a_syntax_error_carries_line_column_and_reason(source: str, line: int, column: int) -> None:
    with pytest.raises(EngineSyntaxError) as caught:
        NativeEngine(html_escape=False).register("t", source)
    problem = caught.value.problem
    assert (problem.line, problem.column) == (line, column)
    assert problem.reason.startswith("invalid handlebars syntax: expected ")


def test_render_errors_are_described_in_the_services_words() -> None:
    each = NativeEngine(html_escape=False)

    def failing(params_json: str, options: HelperOptions) -> str:
        raise ValueError("dateFormat: unknown time zone 'Mars'")

    each.register_helper("failing", failing)
    each.register("unknown", "{{shout x 1}}")
    each.register("helper", "{{failing 1}}")
    each.register("missing", "{{data.when}}")
    with pytest.raises(EngineRenderError, match=r"^line 1, col 1: unknown helper shout$"):
        each.render("unknown", "{}")
    with pytest.raises(EngineRenderError, match=r"^line 1, col 1: dateFormat: unknown time zone 'Mars'$"):
        each.render("helper", "{}")
    assert each.render("missing", '{"data": {}}') == ""  # not strict: a missing value renders as nothing
    each.set_strict(True)
    with pytest.raises(EngineRenderError) as caught:
        each.render("missing", '{"data": {}}')
    assert (
        str(caught.value)
        == "line 1, col 1: data.when is missing (strict mode: not in the data, and no helper of that name)"
    )


def test_the_native_error_texts_the_parsers_read() -> None:
    """The raw texts, as this version writes them: what parse_syntax_error and
    describe_render_error match."""
    assert engine.parse_syntax_error('x\n    --> Template error in "t":3:7\n     = reason: bad thing\n') == (
        engine.SyntaxProblem(3, 7, "bad thing")
    )
    assert engine.describe_render_error('Error rendering "t" line 1, col 1: Helper not found shout') == (
        "line 1, col 1: unknown helper shout"
    )
    assert engine.describe_render_error(
        "Error rendering \"t\" line 1, col 1: Helper execution failed: ValueError: toLocale: unknown locale 'xx'"
    ) == ("line 1, col 1: toLocale: unknown locale 'xx'")
