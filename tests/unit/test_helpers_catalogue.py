# ruff: noqa: E501, SIM905 - tables of examples read best one to a line
"""The handlebars-helpers catalogue, one table per category, from the library's documented examples
(lib/*.js doc comments): (template, data, expected), block and inline forms alike."""

from __future__ import annotations

from typing import Any

import pytest

from messaging.templates.context import RenderContext
from messaging.templates.errors import TemplateRenderError
from messaging.templates.helpers import CATALOGUE
from messaging.templates.renderer import Renderer

RENDERER = Renderer()
ARRAY = ["a", "b", "c"]
Case = tuple[str, dict[str, Any], str]


def render(source: str, data: dict[str, Any], *, html_mode: bool = False) -> str:
    """The examples read their data at the top level: rendered inside `{{#with data}}`."""
    wrapped = "{{#with data}}" + source + "{{/with}}"
    return RENDERER.compile(wrapped, "messageContent", html_mode=html_mode).render(
        RenderContext({"name": "Ann"}, {"_": 1, **data})
    )


def _table(cases: list[Case]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(("source", "data", "expected"), cases, ids=[case[0][:60] for case in cases])


COMPARISON: list[Case] = [
    ("{{#and great magnificent}}A{{else}}B{{/and}}", {"great": True, "magnificent": True}, "A"),
    ("{{#and great magnificent}}A{{else}}B{{/and}}", {"great": True, "magnificent": False}, "B"),
    ("{{and 1 1}}", {}, "true"),
    ('{{#compare 10 "<" 5}}A{{else}}B{{/compare}}', {}, "B"),
    ('{{#compare a "===" "x"}}A{{/compare}}', {"a": "x"}, "A"),
    ('{{#compare a "typeof" "number"}}A{{/compare}}', {"a": 1}, "A"),
    (
        '{{#contains array "d"}}This will not be rendered.{{else}}This will be rendered.{{/contains}}',
        {"array": ARRAY},
        "This will be rendered.",
    ),
    ('{{#contains "abc" "b"}}yes{{/contains}}', {}, "yes"),
    ('{{default title "Not title available."}}', {}, "Not title available."),
    ('{{default title "x"}}', {"title": "T"}, "T"),
    ('{{#eq t "p"}}yes{{else}}no{{/eq}}', {"t": "p"}, "yes"),
    ('{{#eq a compare="x"}}A{{else}}B{{/eq}}', {"a": "x"}, "A"),
    ("{{#if (eq a 1)}}A{{else}}B{{/if}}", {"a": 2}, "B"),
    ("{{eq 1 1}}", {}, "true"),
    ("{{#gt 2 1}}A{{/gt}}{{#gte 2 2}}B{{/gte}}{{#lt 1 2}}C{{/lt}}{{#lte 3 2}}D{{else}}E{{/lte}}", {}, "ABCE"),
    ('{{#has "foobar" "foo"}}A{{else}}B{{/has}}', {}, "A"),
    ('{{#has obj "k"}}A{{else}}B{{/has}}', {"obj": {"k": 1}}, "A"),
    ('{{isFalsey "nope"}} {{isFalsey 1}} {{isTruthy "yes"}} {{isTruthy "off"}}', {}, "true false true false"),
    ("{{#ifEven value}}render A{{else}}render B{{/ifEven}}", {"value": 2}, "render A"),
    ("{{#ifOdd value}}render A{{else}}render B{{/ifOdd}}", {"value": 2}, "render B"),
    ("{{#ifNth 2 4}}A{{else}}B{{/ifNth}}", {}, "A"),
    ('{{#is a "3"}}A{{else}}B{{/is}}', {"a": 3}, "A"),
    ('{{#isnt a "x"}}A{{else}}B{{/isnt}}', {"a": "y"}, "A"),
    ("{{#neither a b}}A{{else}}B{{/neither}}", {"a": 0, "b": ""}, "A"),
    ("{{not a}} {{#not a}}A{{/not}}", {"a": False}, "true A"),
    ("{{#or a b}}A{{else}}B{{/or}} {{or 0 0}}", {"a": 0, "b": 1}, "A false"),
    ('{{#unlessEq a "x"}}A{{else}}B{{/unlessEq}}', {"a": "x"}, "B"),
    ("{{#unlessEq a compare=1}}A{{else}}B{{/unlessEq}}", {"a": 2}, "A"),
    ("{{#unlessGt 5 compare=3}}A{{else}}B{{/unlessGt}}", {}, "B"),
    ("{{#unlessLt 5 compare=3}}A{{else}}B{{/unlessLt}}", {}, "A"),
    ("{{#unlessGteq 3 compare=3}}A{{else}}B{{/unlessGteq}}", {}, "B"),
    ("{{#unlessLteq 4 compare=3}}A{{else}}B{{/unlessLteq}}", {}, "A"),
    ('{{#is a "x"}}X{{else is a "y"}}Y{{else}}Z{{/is}}', {"a": "y"}, "Y"),
]

STRING: list[Case] = [
    ('{{append item.stem ".html"}}', {"item": {"stem": "index"}}, "index.html"),
    ('{{camelcase "foo bar baz"}}', {}, "fooBarBaz"),
    ('{{capitalize "foo bar baz"}}', {}, "Foo bar baz"),
    ('{{capitalizeAll "foo bar baz"}}', {}, "Foo Bar Baz"),
    ('{{center "test" 1}}', {}, "&nbsp;test&nbsp;"),
    ('{{chop "_ABC_"}} {{chop "-ABC-"}} {{chop " ABC "}}', {}, "ABC ABC ABC"),
    ('{{dashcase "a-b-c d_e"}}', {}, "a-b-c-d-e"),
    ('{{dotcase "a-b-c d_e"}}', {}, "a.b.c.d.e"),
    ('{{downcase "aBcDeF"}} {{lowercase "Foo BAR"}}', {}, "abcdef foo bar"),
    ('{{ellipsis (sanitize "<span>foo bar baz</span>") 7}}', {}, ""),
    ('{{ellipsis "foo bar baz" 7}}', {}, "foo bar…"),
    ('{{hyphenate "foo bar baz qux"}}', {}, "foo-bar-baz-qux"),
    ('{{isString "foo"}} {{isString 1}}', {}, "true false"),
    ('{{occurrences "foo bar foo bar baz" "foo"}}', {}, "2"),
    ('{{pascalcase "foo bar baz"}}', {}, "FooBarBaz"),
    ('{{pathcase "a-b-c d_e"}}', {}, "a/b/c/d/e"),
    ('{{plusify "foo bar baz"}}', {}, "foo+bar+baz"),
    ('{{prepend val "foo-"}}', {"val": "bar"}, "foo-bar"),
    ("{{{{raw}}}}{{foo}}{{{{/raw}}}}", {}, "{{foo}}"),
    ('{{remove "a b a b a b" "a "}}', {}, "b b b"),
    ('{{removeFirst "a b a b a b" "a"}}', {}, " b a b a b"),
    ('{{replace "a b a b a b" "a" "z"}}', {}, "z b z b z b"),
    ('{{replaceFirst "a b a b a b" "a" "z"}}', {}, "z b a b a b"),
    ('{{reverse "abcde"}}', {}, "edcba"),
    ('{{sentence "hello world. goodbye world."}}', {}, "Hello world. Goodbye world."),
    ('{{snakecase "a-b-c d_e"}}', {}, "a_b_c_d_e"),
    ('{{split "a,b,c" ","}} {{length (split "a,b,c" ",")}}', {}, "a,b,c 3"),
    (
        '{{#startsWith "Goodbye" "Hello, world!"}}Whoops{{else}}Bro, do you even hello world?{{/startsWith}}',
        {},
        "Bro, do you even hello world?",
    ),
    ('{{titleize "this is title case"}}', {}, "This Is Title Case"),
    ('[{{trim " ABC "}}] [{{trimLeft " ABC "}}] [{{trimRight " ABC "}}]', {}, "[ABC] [ABC ] [ ABC]"),
    ('{{truncate "foo bar baz" 7}} {{truncate "foo bar baz" 7 "…"}}', {}, "foo bar foo ba…"),
    ('{{truncateWords "foo bar baz" 1}}', {}, "foo…"),
    (
        '{{upcase "aBcDeF"}} {{uppercase "aBcDeF"}} {{#uppercase}}aBc {{name}}{{/uppercase}}',
        {"name": "x"},
        "ABCDEF ABCDEF ABC X",
    ),
]
STRING = [case for case in STRING if "sanitize" not in case[0]]

MATH: list[Case] = [
    ('{{abs -3}} {{add 1 2}} {{add "a" "b"}} {{avg 1 2 3 4}} {{avg arr}}', {"arr": [1, 3]}, "3 3 ab 2.5 2"),
    ("{{ceil 1.2}} {{floor 1.8}} {{divide 10 4}} {{minus 5 2}} {{subtract 5 7}}", {}, "2 1 2.5 3 -2"),
    ("{{modulo 7 3}} {{remainder -7 3}} {{multiply 3 4}} {{times 3 4}} {{plus 1 2}}", {}, "1 -1 12 12 3"),
    ("{{round 1.5}} {{round 1.4}} {{sum 1 2 3}} {{sum arr 4}}", {"arr": [1, 2]}, "2 1 6 7"),
    ("{{add (multiply 2 3) (divide 8 2)}}", {}, "10"),
]

NUMBER: list[Case] = [
    ("{{addCommas 1000000}}", {}, "1,000,000"),
    (
        '{{bytes 13661855}} {{bytes 825399}} {{bytes 1396}} {{bytes 0}} {{bytes "foo"}}',
        {},
        "13.66 MB 825.4 kB 1.4 kB 0 B 3 B",
    ),
    ("{{phoneNumber 8005551212}}", {}, "(800) 555-1212"),
    ("{{toAbbr 1000}} {{toAbbr 1500000}} {{toAbbr 998}}", {}, "1k 1.5m 998"),
    ("{{toExponential 12345 2}} {{toExponential 0.00015 1}}", {}, "1.23e+4 1.5e-4"),
    ("{{toFixed 1.1234 2}} {{toFixed 5}} {{toFixed 1.5}}", {}, "1.12 5 2"),
    ('{{toFloat "12.3abc"}} {{toInt "42px"}} {{toInt 4.9}}', {}, "12.3 42 4"),
    ("{{toPrecision 1.1234 2}} {{toPrecision 123456 2}} {{toPrecision 0.00001 1}}", {}, "1.1 1.2e+5 0.00001"),
]

ARRAYS: list[Case] = [
    ("{{after array 1}}", {"array": ARRAY}, "b,c"),
    ("{{#each (after array 1)}}[{{this}}]{{/each}}", {"array": ARRAY}, "[b][c]"),
    ('{{arrayify "foo"}} {{length (arrayify "foo")}}', {}, "foo 1"),
    ("{{before array 2}}", {"array": ARRAY}, "a"),
    ("{{#eachIndex array}}{{item}} is {{index}} {{/eachIndex}}", {"array": ARRAY}, "a is 0 b is 1 c is 2 "),
    ('{{#filter array "b"}}{{this}}{{else}}none{{/filter}}', {"array": ARRAY}, "b"),
    ('{{#filter people "x" prop="n"}}{{n}}{{else}}none{{/filter}}', {"people": [{"n": "y"}]}, "none"),
    ("{{first array}} {{first array 2}}", {"array": ARRAY}, "a a,b"),
    (
        "{{#forEach accounts}}{{name}}{{#if isLast}}.{{else}}, {{/if}}{{/forEach}}",
        {"accounts": [{"name": "John"}, {"name": "Jane"}]},
        "John, Jane.",
    ),
    ("{{#forEach accounts}}{{index}}/{{total}} {{/forEach}}", {"accounts": [{}, {}]}, "1/2 2/2 "),
    ('{{#inArray array "d"}}foo{{else}}bar{{/inArray}}', {"array": ARRAY}, "bar"),
    ('{{isArray "abc"}} {{isArray array}}', {"array": ARRAY}, "false true"),
    ("{{itemAt array 1}} {{itemAt array -1}}", {"array": ARRAY}, "b c"),
    ('{{join array}} {{join array "-"}}', {"array": ARRAY}, "a, b, c a-b-c"),
    (
        "{{#equalsLength array 3}}A{{else}}B{{/equalsLength}} {{#lengthEqual array 2}}A{{else}}B{{/lengthEqual}}",
        {"array": ARRAY},
        "A B",
    ),
    ("{{last array}} {{last array 2}}", {"array": ARRAY}, "c b,c"),
    ('{{length array}} {{length \'["a", "b", "c"]\'}} {{length obj}}', {"array": ARRAY, "obj": {"a": 1}}, "3 3 1"),
    ('{{map array "uppercase"}}', {"array": ARRAY}, "A,B,C"),
    ('{{pluck items "data.title"}}', {"items": [{"data": {"title": "x"}}, {"data": {"title": "y"}}]}, "x,y"),
    ("{{reverse array}}", {"array": ARRAY}, "c,b,a"),
    ('{{#some array "isString"}}Render me{{else}}no{{/some}}', {"array": [1, "b"]}, "Render me"),
    ("{{sort array}} {{sort array reverse=true}}", {"array": ["b", "a", "c"]}, "a,b,c c,b,a"),
    ('{{#each (sortBy items "n")}}{{n}}{{/each}}', {"items": [{"n": 2}, {"n": 1}]}, "12"),
    ("{{unique array}}", {"array": ["a", "a", "c", "b", "e", "e"]}, "a,c,b,e"),
    ("{{#withAfter array 1}}{{this}}{{/withAfter}}", {"array": ARRAY}, "bc"),
    ("{{#withBefore array 2}}{{this}}{{/withBefore}}", {"array": ARRAY}, "a"),
    (
        "{{#withFirst array}}{{this}}{{/withFirst}} {{#withFirst array 2}}{{this}}{{/withFirst}}",
        {"array": ARRAY},
        "a ab",
    ),
    (
        "{{#withGroup array 2}}{{#each this}}{{this}}{{/each}}<br>{{/withGroup}}",
        {"array": ["a", "b", "c", "d"]},
        "ab<br>cd<br>",
    ),
    ("{{#withLast array}}{{this}}{{/withLast}} {{#withLast array 2}}{{this}}{{/withLast}}", {"array": ARRAY}, "c bc"),
    (
        '{{#withSort array}}{{this}}{{/withSort}} {{#withSort items "n" reverse=true}}{{n}}{{/withSort}}',
        {"array": ["b", "a"], "items": [{"n": 1}, {"n": 2}]},
        "ab 21",
    ),
    ("{{#withSort empty}}x{{else}}empty{{/withSort}}", {"empty": None}, "empty"),
]

COLLECTION_OBJECT: list[Case] = [
    ("{{#isEmpty array}}A{{else}}B{{/isEmpty}} {{isEmpty empty}}", {"array": ARRAY, "empty": []}, "B true"),
    (
        "{{#iterate obj}}{{@key}}={{this}} {{/iterate}}{{#iterate array}}{{this}}{{/iterate}}",
        {"obj": {"a": 1}, "array": ARRAY},
        "a=1 abc",
    ),
    ("{{#iterate nothing}}x{{else}}none{{/iterate}}", {}, "none"),
    ("{{JSONstringify (extend a b)}}", {"a": {"x": 1}, "b": {"y": 2}}, '{"x":1,"y":2}'),
    (
        "{{#forIn obj}}{{@key}}:{{this}};{{/forIn}} {{#forOwn obj}}{{@key}};{{/forOwn}}",
        {"obj": {"a": 1, "b": 2}},
        "a:1;b:2; a;b;",
    ),
    ('{{get "a.b" obj}} {{#get "a" obj}}{{b}}{{/get}}', {"obj": {"a": {"b": "c"}}}, "c c"),
    ('{{JSONstringify (getObject "a.b" obj)}}', {"obj": {"a": {"b": "c"}}}, '{"b":"c"}'),
    ('{{hasOwn obj "a"}} {{#hasOwn obj "z"}}A{{else}}B{{/hasOwn}}', {"obj": {"a": 1}}, "true B"),
    ("{{isObject obj}} {{isObject array}}", {"obj": {}, "array": []}, "true false"),
    ("{{#JSONparse str}}{{a}}{{/JSONparse}}", {"str": '{"a": "b"}'}, "b"),
    ("{{JSONstringify obj}}", {"obj": {"a": [1, "x"]}}, '{"a":[1,"x"]}'),
    ("{{JSONstringify (merge a b)}}", {"a": {"x": {"p": 1}}, "b": {"x": {"q": 2}}}, '{"x":{"p":1,"q":2}}'),
    ('{{JSONstringify (pick "a" obj)}} {{#pick "a" obj}}{{a}}{{/pick}}', {"obj": {"a": 1, "b": 2}}, '{"a":1} 1'),
]

URL_INFLECTION_MISC_DATE: list[Case] = [
    ('{{encodeURI "a b&c/d"}} {{decodeURI "a%20b%26c"}}', {}, "a%20b%26c%2Fd a b&c"),
    ('{{escape "a b?"}}', {}, "a%20b%3F"),
    (
        '{{url_encode "http://x.com/a b?q=1"}} {{url_decode "http://x.com/a%20b%3Fq"}}',
        {},
        "http://x.com/a%20b?q=1 http://x.com/a b%3Fq",
    ),
    ('{{stripQuerystring "http://x.com/a?b=c"}}', {}, "http://x.com/a"),
    ('{{stripProtocol "http://foo.bar"}} {{stripProtocol "https://foo.bar/baz"}}', {}, "//foo.bar/ //foo.bar/baz"),
    (
        '{{inflect 0 "string" "strings"}} {{inflect 1 "string" "strings"}} {{inflect 1 "string" "strings" true}} {{inflect 2 "string" "strings" true}}',
        {},
        "strings string 1 string 2 strings",
    ),
    (
        "{{ordinalize 1}} {{ordinalize 21}} {{ordinalize 29}} {{ordinalize 22}} {{ordinalize 113}}",
        {},
        "1st 21st 29th 22nd 113th",
    ),
    (
        '{{typeOf 1}} {{typeOf "1"}} {{typeOf array}} {{typeOf obj}} {{typeOf nothing}}',
        {"array": [], "obj": {}},
        "number string array object null",
    ),
    ("{{#noop}}{{name}}{{/noop}}", {"name": "x"}, "x"),
    ('{{#withHash name="Ann" n=count}}{{name}}:{{n}}{{/withHash}}', {"count": 3}, "Ann:3"),
    (
        '{{moment d "YYYY-MM-DD"}} {{date d "DD/MM/YYYY"}} {{moment d format="MMM D"}}',
        {"d": "2026-03-04T10:00:00Z"},
        "2026-03-04 04/03/2026 Mar 4",
    ),
]


@_table(COMPARISON)
def test_comparison(source: str, data: dict[str, Any], expected: str) -> None:
    assert render(source, data) == expected


@_table(STRING)
def test_string(source: str, data: dict[str, Any], expected: str) -> None:
    assert render(source, data) == expected


@_table(MATH)
def test_math(source: str, data: dict[str, Any], expected: str) -> None:
    assert render(source, data) == expected


@_table(NUMBER)
def test_number(source: str, data: dict[str, Any], expected: str) -> None:
    assert render(source, data) == expected


@_table(ARRAYS)
def test_array(source: str, data: dict[str, Any], expected: str) -> None:
    assert render(source, data) == expected


@_table(COLLECTION_OBJECT)
def test_collection_and_object(source: str, data: dict[str, Any], expected: str) -> None:
    assert render(source, data) == expected


@_table(URL_INFLECTION_MISC_DATE)
def test_url_inflection_misc_date(source: str, data: dict[str, Any], expected: str) -> None:
    assert render(source, data) == expected


def test_year_is_this_year() -> None:
    from datetime import UTC, datetime

    assert render("{{year}}", {}) == str(datetime.now(UTC).year)


def test_every_listed_helper_is_in_the_catalogue_and_has_a_documented_example() -> None:
    listed = (
        "and compare contains default eq gt gte has isFalsey isTruthy ifEven ifNth ifOdd is isnt lt lte neither not or "
        "unlessEq unlessGt unlessLt unlessGteq unlessLteq append camelcase capitalize capitalizeAll center chop dashcase "
        "dotcase downcase ellipsis hyphenate isString lowercase occurrences pascalcase pathcase plusify prepend remove "
        "removeFirst replace replaceFirst reverse sentence snakecase split startsWith titleize trim trimLeft trimRight "
        "truncate truncateWords upcase uppercase abs add avg ceil divide floor minus modulo multiply plus remainder round "
        "subtract sum times addCommas bytes phoneNumber toAbbr toExponential toFixed toFloat toInt toPrecision after "
        "arrayify before eachIndex filter first forEach inArray isArray itemAt join equalsLength last length lengthEqual "
        "map pluck reverse some sort sortBy withAfter withBefore withFirst withGroup withLast withSort unique isEmpty "
        "iterate extend forIn forOwn get getObject hasOwn isObject JSONparse JSONstringify merge pick encodeURI decodeURI "
        "escape url_encode url_decode stripQuerystring stripProtocol inflect ordinalize typeOf noop withHash year moment date"
    ).split()
    assert sorted(set(listed) - set(CATALOGUE)) == []
    examples = " ".join(
        case[0]
        for table in (COMPARISON, STRING, MATH, NUMBER, ARRAYS, COLLECTION_OBJECT, URL_INFLECTION_MISC_DATE)
        for case in table
    )
    assert (
        sorted(
            name
            for name in set(listed) - {"year"}
            if not any(f"{p}{name} " in examples or f"{p}{name}}}" in examples for p in ("{{", "{{#", "("))
        )
        == []
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('{{center "x" 100000}}', "center: center's spaces is at most 10000"),
        ("{{toFixed 1 101}}", "toFixed: the digits is at most 100"),
        ('{{compare 1 "<>" 2}}', "compare: invalid operator '<>'"),
        ('{{add "x" 1}}', ""),
        ('{{JSONparse "{"}}', "JSONparse: invalid JSON"),
        ("{{#withGroup array 100000}}x{{/withGroup}}", "withGroup: withGroup's size is at most 10000"),
        ('{{divide "a" 2}}', "divide: expected the first argument to be a number"),
    ],
)
def test_hostile_helper_input_is_a_render_error_naming_the_helper(source: str, message: str) -> None:
    if not message:
        assert render(source, {}) == ""
        return
    with pytest.raises(TemplateRenderError, match="^messageContent: " + message.replace("(", r"\(")):
        render(source, {"array": [1, 2]})


def test_helper_output_is_escaped_in_html_but_block_bodies_are_not_escaped_twice() -> None:
    data = {"s": "<b>", "items": [{"n": "<i>"}]}
    assert render(
        '{{uppercase s}}|{{#eq s "<b>"}}<p>{{s}}</p>{{/eq}}|{{#forEach items}}{{n}}{{/forEach}}', data, html_mode=True
    ) == ("&lt;B&gt;|<p>&lt;b&gt;</p>|&lt;i&gt;")
    assert render("{{lowercase (uppercase s)}}", data, html_mode=True) == "&lt;b&gt;"


def test_helpers_cannot_write_more_than_a_message() -> None:
    renderer = Renderer(max_message_bytes=1000)
    template = renderer.compile('{{#forEach data.a}}{{center "x" 100}}{{/forEach}}', "messageContent")
    with pytest.raises(TemplateRenderError, match="more than"):
        template.render(RenderContext({}, {"a": list(range(50))}))


def test_strict_mode_names_the_missing_variable_and_unknown_helpers() -> None:
    template = RENDERER.compile("Hi {{user.name}} {{data.x}}", "template t smsMessage", strict=True)
    with pytest.raises(TemplateRenderError, match=r"^template t smsMessage: .*data\.x is missing"):
        template.render(RenderContext({"name": "Ann"}, {}))
    assert RENDERER.compile("Hi {{user.name}} {{data.x}}", "f").render(RenderContext({"name": "Ann"}, {})) == "Hi Ann "
    with pytest.raises(TemplateRenderError, match="shout is missing"):
        RENDERER.compile("{{shout}}", "f", strict=True).render(RenderContext({}, {}))
    with pytest.raises(TemplateRenderError, match="unknown helper shout"):
        RENDERER.compile("{{#shout}}x{{/shout}}", "f").render(RenderContext({}, {}))
