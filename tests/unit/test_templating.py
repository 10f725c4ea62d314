"""Handlebars rendering with plain data: the overview's examples, helpers, escaping, errors."""

from __future__ import annotations

import re
from typing import Any

import pytest

from messaging.templates.context import RenderContext
from messaging.templates.errors import TemplateRenderError, TemplateSyntaxError
from messaging.templates.renderer import Renderer

renderer = Renderer(cache_bytes=16 * 1024)


def render(
    source: str, user: dict[str, Any] | None = None, data: dict[str, Any] | None = None, *, html: bool = False
) -> str:
    return renderer.compile(source, "test", html_mode=html).render(RenderContext(user or {}, data or {}))


def test_overview_example_interpolates_user_and_data() -> None:
    assert (
        render(
            "Hello, {{user.name}}! Your appointment is dated {{data.appointmentDate}}",
            {"name": "Mario"},
            {"appointmentDate": "2026-12-01"},
        )
        == "Hello, Mario! Your appointment is dated 2026-12-01"
    )


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ('{{#if (eq data.type "patients")}}P{{else}}O{{/if}}', {"type": "patients"}, "P"),
        ('{{#if (eq data.type "patients")}}P{{else}}O{{/if}}', {"type": "doctors"}, "O"),
        ("{{#if (and (gt data.n 3) (not data.off))}}big{{/if}}", {"n": 5, "off": False}, "big"),
        ("{{#if (or (lt data.n 3) (ne data.k 'a'))}}y{{else}}n{{/if}}", {"n": 5, "k": "a"}, "n"),
        ("{{#unless data.off}}on{{/unless}}", {"off": False}, "on"),
        ("{{#each data.items}}{{this}};{{/each}}", {"items": ["a", "b"]}, "a;b;"),
        ("{{#with data.who}}{{name}}{{/with}}", {"who": {"name": "Zoe"}}, "Zoe"),
        ("[{{data.missing}}][{{data.deep.missing.value}}]", {}, "[][]"),
        ("{{#if data.a}}A{{else if data.b}}B{{else}}C{{/if}}", {"b": 1}, "B"),
        ("{{#if data.a}}A{{^}}not A{{/if}}", {}, "not A"),
        # Literal braces: a raw block, an escaped tag, comments (one holding "}}").
        ("{{{{raw}}}}{{data.a}}{{{{/raw}}}} \\{{data.a}} {{data.a}}", {"a": 1}, "{{data.a}} {{data.a}} 1"),
        ("{{!-- a }} comment --}}{{! another }}{{&data.a}}{{{data.a}}}", {"a": "<b>"}, "<b><b>"),
        ("{{~data.a~}} \n {{data.a}}", {"a": 1}, "11"),
    ],
)
def test_block_helpers_and_comparisons(source: str, data: dict[str, Any], expected: str) -> None:
    assert render(source, data=data) == expected


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        (
            '{{dateFormat data.d format="DD/MM/YYYY HH:mm" tz="Europe/Rome"}}',
            {"d": "2026-01-15T23:30:00Z"},
            "16/01/2026 00:30",
        ),
        (
            '{{dateFormat data.d format="DD/MM/YYYY HH:mm" tz="Europe/Rome"}}',
            {"d": "2026-07-15T23:30:00Z"},
            "16/07/2026 01:30",
        ),
        ("{{dateFormat data.d}}", {"d": "2026-07-15T23:30:00+02:00"}, "2026-07-15T21:30:00+00:00"),
        (
            '{{dateFormat data.d format="Z|ZZ|d|dd|ddd|dddd|[YYYY]" tz="America/New_York"}}',
            {"d": "2026-03-01T12:00:00Z"},
            "-05:00|-0500|0|Su|Sun|Sunday|YYYY",
        ),
        ('{{dateFormat data.ms format="YYYY-MM-DD"}}', {"ms": 1767225600000}, "2026-01-01"),
        ("[{{dateFormat data.d}}]", {"d": "not a date"}, "[]"),
        ("[{{dateFormat data.missing}}]", {}, "[]"),
    ],
    ids=["winter-rome", "summer-rome", "default-iso-utc", "dayjs-tokens", "epoch-ms", "invalid", "missing"],
)
def test_date_format_speaks_dayjs_tokens_and_iana_zones(source: str, data: dict[str, Any], expected: str) -> None:
    assert render(source, data=data) == expected


def test_date_now_feeds_date_format() -> None:
    from datetime import UTC, datetime

    assert render('{{dateFormat (dateNow) format="YYYY"}}') == str(datetime.now(UTC).year)


def test_unknown_zone_is_a_render_error_naming_the_template() -> None:
    with pytest.raises(TemplateRenderError, match=r"test: .*unknown time zone 'Mars/Olympus'"):
        render('{{dateFormat data.d tz="Mars/Olympus"}}', data={"d": "2026-01-01T00:00:00Z"})


def test_escaping_happens_in_html_bodies_only() -> None:
    data = {"v": "<script>alert('x')</script> & \"q\"\nnext", "d": "2026-01-01T00:00:00Z"}
    assert render("{{data.v}}", data=data) == data["v"]
    assert render("{{data.v}}|{{{data.v}}}", data=data, html=True) == (
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;<br/>next|"
        "<script>alert('x')</script> & \"q\"<br/>next"
    )
    # Helper output is escaped too; the template's own markup and newlines stay as written.
    assert render('<b>{{dateFormat data.d format="[<i>]YYYY"}}</b>\n', data=data, html=True) == "<b>&lt;i&gt;2026</b>\n"


def test_user_documents_with_bson_values_render_as_text() -> None:
    from datetime import datetime

    from bson import ObjectId

    user = {"_id": ObjectId("65f0000000000000000000e5"), "born": datetime(2000, 1, 2, 3, 4, 5)}
    assert render("{{user._id}} {{user.born}}", user) == "65f0000000000000000000e5 2000-01-02T03:04:05"


@pytest.mark.parametrize(
    ("source", "where"),
    [
        ("Hi {{#if data.x}}open", "line 1, column 22: unexpected end of template"),
        ("a\n{{#each x}}{{/if}}", 'line 2, column 12: helper "each" was opened, but "if" is closing'),
        ("{{user.name", "line 1, column 12: unexpected end of template"),
        ("{{data.x 'unclosed}}", "line 1, column 21: unexpected end of template"),
        ("{{lookup data [unclosed}}", "line 1, column 26: unexpected end of template"),
        ("a {{! never closed", "line 1, column 19: unexpected end of template: a comment is not closed"),
        ("{{{{raw}}}} {{x}}", "line 1, column 18: unexpected end of template: a raw block is not closed"),
        ("{{{{raw}}}} {{{{/raw", "line 1, column 21: unexpected end of template: a raw block is not closed"),
        ("x {{else}} y", "line 1, column 3: {{else}} outside a block"),
        ("a\n  {{/if}}", 'line 2, column 3: "if" is closing, but no block is open'),
        ("{{#else}}x{{/else}}", "line 1, column 1: a block may not be named else"),
    ],
)
def test_syntax_errors_name_the_template_and_position(source: str, where: str) -> None:
    with pytest.raises(TemplateSyntaxError, match=f"^test: invalid Handlebars syntax at {re.escape(where)}"):
        renderer.compile(source, "test")


@pytest.mark.parametrize(
    ("source", "refused"),
    [
        ("{{> header}}", "partials are not supported"),
        ("{{#> layout}}x{{/layout}}", "partials are not supported"),
        ("{{*decorator}}", "inline partials and decorators are not supported"),
        ("{{#if true}}" * 33 + "{{/if}}" * 33, "blocks nest deeper than 32 levels"),
        ("{{data.x " + "(not " * 33 + "1" + ")" * 33 + "}}", "subexpressions nest deeper than 32 levels"),
        (
            "{{#if true}}" + "{{data.x}}" * 1001 + "{{/if}}",
            "more than 1000 Handlebars tags in one top-level block or line; split it with line breaks",
        ),
    ],
    ids=["partial", "partial-block", "decorator", "deep-blocks", "deep-subexpressions", "tags-in-one-block"],
)
def test_what_the_engine_cannot_bound_is_refused_before_it_compiles(source: str, refused: str) -> None:
    with pytest.raises(TemplateSyntaxError, match=f"^test: {re.escape(refused)}$"):
        renderer.compile(source, "test")


def test_templates_evicted_from_the_cache_still_render() -> None:
    first = renderer.compile("first {{data.n}}", "test")
    assert first.render(RenderContext({}, {"n": 0})) == "first 0"
    for n in range(20):
        renderer.compile(f"filler {n} {{{{data.n}}}}" * 50, "test").render(RenderContext({}, {"n": n}))
    assert first.names[0] not in renderer.engine()
    assert first.render(RenderContext({}, {"n": 1})) == "first 1"


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ('{{toLocale data.n locale="it-IT"}}', {"n": 1234567.891}, "1.234.567,891"),
        ("{{toLocale data.n}}", {"n": 1234567.891}, "1,234,567.891"),
        ('{{toLocale data.d locale="it-IT" tz="Europe/Rome"}}', {"d": "2026-12-01T09:30:00Z"}, "1 dic 2026, 10:30:00"),
        ('{{toLocale data.d locale="en-US"}}', {"d": "2026-12-01T09:30:00Z"}, "Dec 1, 2026, 9:30:00\u202fAM"),
        ('{{toLocale data.s locale="it-IT"}}', {"s": "not a date"}, "not a date"),
        ("[{{toLocale data.missing}}]", {}, "[]"),
    ],
    ids=["number-it", "number-default", "date-it-rome", "date-en", "text", "missing"],
)
def test_to_locale_writes_numbers_and_dates_the_locale_way(source: str, data: dict[str, Any], expected: str) -> None:
    assert render(source, data=data) == expected


def test_to_locale_defaults_to_the_configured_locale_and_names_a_bad_one() -> None:
    german = Renderer(default_locale="de-DE")
    assert german.compile("{{toLocale data.n}}", "t").render(RenderContext({}, {"n": 1234.5})) == "1.234,5"
    with pytest.raises(TemplateRenderError, match="toLocale: unknown locale 'xx-YY'"):
        render('{{toLocale data.n locale="xx-YY"}}', data={"n": 1})


def test_the_cache_stays_within_its_byte_budget_and_unregisters_old_templates() -> None:
    budget = 2 * 1024 * 1024
    bounded = Renderer(cache_bytes=budget)
    engine = bounded.engine()
    templates = [bounded.compile(f"{n} " + "Hi {{user.name}}\n" * 400, "test") for n in range(40)]
    for template in templates:
        template.render(RenderContext({"name": "Ann"}, {}))
        assert engine.size <= budget
    assert templates[0].names[0] not in engine  # evicted, and unregistered from the native engine
    assert not engine._native.has_template(templates[0].names[0])
    assert templates[-1].names[-1] in engine
    # Long templates compile as parts of about PART_TAGS tags; they still render whole.
    assert len(templates[0].names) == 2
    assert templates[0].render(RenderContext({"name": "Ann"}, {})) == "0 " + "Hi Ann\n" * 400


def test_nothing_is_compiled_before_the_first_render() -> None:
    lazy = Renderer()
    template = lazy.compile("Hi {{user.name}} {{data.x}}", "test")
    assert template.names[0] not in lazy.engine()
    template.render(RenderContext({"name": "Ann"}, {"x": 1}))
    assert template.names[0] in lazy.engine()


TRIMMED_ELSE_IF = [
    "{{#if data.x}}a{{~else if data.y}}b{{/if}}",
    "{{#unless data.x}}a{{~ else unless data.y~}}b{{/unless}}",
    "{{#each data.x}}a{{~else\nif data.y}}b{{/each}}",
]


@pytest.mark.parametrize("source", TRIMMED_ELSE_IF)
def test_a_trimmed_else_chain_is_a_syntax_error_not_an_engine_panic(source: str) -> None:
    # handlebars-rust panics ("entered unreachable code") while parsing these.
    with pytest.raises(TemplateSyntaxError, match='"~" before "else <helper>" is not supported'):
        render(source, data={"x": 1})


def test_an_engine_panic_that_slips_past_the_guard_is_still_a_syntax_error() -> None:
    # The native engine directly, as if the guard had missed it: the panic must not escape as a
    # BaseException, which no `except Exception` (the resolver's) would catch.
    with pytest.raises(TemplateSyntaxError, match="test: the template engine cannot parse this template"):
        renderer.engine().ensure("panics", TRIMMED_ELSE_IF[0], "test")


@pytest.mark.parametrize(
    "source",
    [
        "{{dateFormat data.d tz=user.emailAddress}}",
        "{{toLocale data.n locale=user.phoneNumber}}",
        "{{toLocale data.d tz=user.name}}",
    ],
)
def test_a_helper_error_never_quotes_a_users_data(source: str) -> None:
    # The 400 goes to the caller and to the logs: the user's address, number or name never does.
    user = {"name": "Ann O'Neil", "emailAddress": "ann@example.com", "phoneNumber": "+393330000001"}
    with pytest.raises(TemplateRenderError) as refused:
        render(source, user, {"d": "2026-01-01T00:00:00Z", "n": 1})
    message = str(refused.value)
    assert "(a value from the data)" in message
    assert not any(value in message for value in (*user.values(), "Ann", "393330000001"))


def test_data_nested_deeper_than_python_can_walk_is_a_render_error_not_a_crash() -> None:
    deep: dict[str, Any] = {}
    level = deep
    for _ in range(5_000):
        level["a"] = {}
        level = level["a"]
    # Refused while measuring it, or (where the interpreter's recursion limit was raised) by the
    # engine's JSON reader: a 400 either way, never a dead process.
    refused = r"^(data: the data nests too deeply to render|test: invalid JSON: recursion limit exceeded .*)$"
    with pytest.raises(TemplateRenderError, match=refused):
        render("{{data.x}}", data={"x": 1, "deep": deep})
