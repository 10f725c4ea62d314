"""Hostile templates and data never kill the process: every render answers 200 or a 4xx.

The renders run in one long-lived child process fed over a pipe, so a native crash (stack
overflow, failed allocation) is a failing example with its reproducing case, not a dead runner.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
_WORKER = """
import json, sys
from messaging.errors import BadRequest
from messaging.templates.context import RenderContext
from messaging.templates.errors import TemplateRenderError, TemplateSyntaxError
from messaging.templates.renderer import Renderer
renderer = Renderer(cache_bytes=4 * 1024 * 1024)
for line in sys.stdin:
    case = json.loads(line)
    try:
        template = renderer.compile(case["source"], "messageContent", html_mode=case["html"])
        output = template.render(RenderContext(case["user"], case["data"]))
        answer = {"status": 200, "size": len(output.encode())}
    except (TemplateSyntaxError, TemplateRenderError) as exc:
        answer = {"status": 400, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - any other exception is a 500: reported, not raised
        answer = {"status": 500, "error": repr(exc)}
    print(json.dumps(answer), flush=True)
"""


class Worker:
    def __init__(self) -> None:
        self.process = self._start()

    @staticmethod
    def _start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", _WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={"PYTHONPATH": f"{ROOT / 'layers' / 'common'}:{ROOT}", "PATH": "/usr/bin:/bin"},
        )

    def render(self, case: dict[str, Any]) -> dict[str, Any]:
        if self.process.poll() is not None:
            self.process = self._start()
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(case) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            code = self.process.wait(timeout=10)
            pytest.fail(f"the renderer died (exit {code}) on {json.dumps(case)[:2000]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    running = Worker()
    yield running
    running.close()


LEAVES = st.sampled_from(
    [
        "x",
        "\n",
        " ",
        "{{user.name}}",
        "{{this}}",
        "{{.}}",
        "{{@index}}",
        "{{@key}}",
        "{{data.a}}",
        "{{../data.a}}",
        "{{../../..}}",
        "{{{data.s}}}",
        "{{&data.s}}",
        "{{lookup data.a 0}}",
        '{{dateFormat data.d format="YYYY dddd MMMM"}}',
        '{{toLocale data.n locale="it-IT"}}',
        "{{else}}",
        "{{^}}",
        "{{else if data.x}}",
        "{{> p}}",
        "{{#> p}}x{{/p}}",
        '{{#*inline "p"}}{{> p}}{{/inline}}',
        "{{*decorator}}",
        "{{!-- }} --}}",
        "{{! c }}",
        "{{{{raw}}}}{{#each}}{{{{/raw}}}}",
        "\\{{#each data.a}}",
        "{{~data.s~}}",
        "{{#if",
        "}}",
        "{{/each}}",
        "{{/if}}",
        "{{a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p}}",
        "{{center data.s 10000}}",
        "{{JSONstringify data}}",
        '{{join data.a ","}}',
        '{{uppercase (join (split data.s "") "--")}}',
        "{{toFixed data.n 100}}",
        "{{repeat data.s 5}}",
        "{{index}}{{total}}{{item}}",
    ]
)
OPENERS = st.sampled_from(
    [
        "{{#each data.a}}",
        "{{#each this}}",
        "{{#each ../data.a}}",
        "{{#each data.o}}",
        "{{#if data.x}}",
        "{{#with data.o}}",
        "{{#unless data.x}}",
        "{{^data.x}}",
        "{{#lookup data.a 0}}",
        # The catalogue's iterating blocks: bounded by the guard exactly as each.
        "{{#forEach data.a}}",
        "{{#eachIndex data.a}}",
        '{{#withSort data.a "x"}}',
        "{{#iterate data.o}}",
        "{{#forIn data.o}}",
        "{{#forOwn data.a}}",
        "{{#withGroup data.a 2}}",
        "{{#withFirst data.a 5}}",
        '{{#each (sortBy data.a "x")}}',
        "{{#eq data.x true}}",
        '{{#is data.s "x"}}',
    ]
)


def _close(opener: str) -> str:
    name = opener[3:].split()[0].rstrip("}")
    return "{{/" + name + "}}"


def _block(parts: tuple[str, list[str]]) -> str:
    opener, body = parts
    return opener + "".join(body) + _close(opener)


BALANCED = st.recursive(
    LEAVES, lambda inner: st.tuples(OPENERS, st.lists(inner, max_size=5)).map(_block), max_leaves=40
)
DEEP = st.builds(
    lambda opener, depth, middle: opener * depth + middle + _close(opener) * depth,
    OPENERS,
    st.integers(0, 6000),
    LEAVES,
)
SUBEXPRESSIONS = st.builds(
    lambda depth: "{{" + "(lookup " * depth + "data" + ' "a")' * depth + "}}", st.integers(0, 6000)
)
ELSE_CHAIN = st.builds(lambda n: "{{#if data.x}}" + "{{else if data.x}}" * n + "{{/if}}", st.integers(0, 6000))
TEMPLATES = st.lists(st.one_of(BALANCED, DEEP, SUBEXPRESSIONS, ELSE_CHAIN, LEAVES), min_size=1, max_size=6).map("".join)

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=50))
DATA = st.fixed_dictionaries(
    {
        "a": st.one_of(
            st.lists(SCALARS, max_size=20),
            st.integers(0, 30_000).map(lambda n: list(range(n))),
            st.integers(0, 300).map(lambda n: [list(range(n))] * n),
        ),
        "o": st.dictionaries(st.text(max_size=10), SCALARS, max_size=10),
        "s": st.one_of(st.text(max_size=20), st.integers(0, 400_000).map(lambda n: "<\n" * n)),
        "x": st.booleans(),
        "d": st.just("2026-01-01T00:00:00Z"),
        "n": st.floats(allow_nan=False, allow_infinity=False),
    }
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(source=TEMPLATES, data=DATA, html=st.booleans())
def test_hostile_templates_answer_200_or_400_and_never_kill_the_process(
    worker: Worker, source: str, data: dict[str, Any], html: bool
) -> None:
    answer = worker.render({"source": source, "data": data, "html": html, "user": {"name": "Ann"}})

    assert answer["status"] in (200, 400), answer
    if answer["status"] == 200:
        assert answer["size"] <= 1024 * 1024
