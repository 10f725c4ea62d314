"""Template compile time by size, and the cost of one render: `python -m bench.templates`.

Compile: one template of N `{{user.name}}` (one line, and one per line), checked and compiled
(the first render). Render: µs per render of a typical message once compiled.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "common"))

from messaging.templates.context import RenderContext
from messaging.templates.renderer import Renderer

TYPICAL = "Hello, {{user.name}}! Your appointment is dated {{data.appointmentDate}}, see {{data.note}}"
# The same message through ten handlebars-helpers catalogue helpers.
CATALOGUE = (
    '{{#eq data.kind "visit"}}Hello{{else}}Hi{{/eq}}, {{capitalize user.name}}! {{uppercase data.note}} '
    '{{default data.room "no room"}} {{add data.count 1}} {{join data.tags ", "}} {{truncate data.note 8}} '
    '{{moment data.appointmentDate "DD/MM"}} {{#forEach data.tags}}{{this}}{{/forEach}} {{toFixed data.price 2}}'
)


def compile_seconds(source: str) -> float:
    renderer = Renderer()
    context = RenderContext({"name": "Ann"}, {})
    started = time.perf_counter()
    renderer.compile(source, "bench").render(context)
    return time.perf_counter() - started


def render_microseconds(rounds: int = 20_000, source: str = TYPICAL) -> float:
    renderer = Renderer()
    template = renderer.compile(source, "bench")
    data = {
        "appointmentDate": "2026-12-01",
        "note": "bring the forms",
        "kind": "visit",
        "count": 2,
        "tags": ["a", "b"],
        "price": 9.5,
    }
    contexts = [RenderContext({"_id": f"u{n}", "name": f"User {n}"}, data) for n in range(rounds)]
    template.render(contexts[0])
    started = time.perf_counter()
    for context in contexts:
        template.render(context)
    return (time.perf_counter() - started) / rounds * 1e6


def main() -> None:
    print("expressions | bytes (one line) | compile one line | compile one per line")
    for count in (1_000, 2_000, 4_000, 7_000, 14_000):
        line = "{{user.name}}" * count
        lines = "Hi {{user.name}}\n" * count
        print(f"{count:>11} | {len(line):>16} | {compile_seconds(line):>14.3f} s | {compile_seconds(lines):>18.3f} s")
    print(f"render (typical message, 3 expressions): {render_microseconds():.1f} µs")
    print(f"render (ten catalogue helpers): {render_microseconds(5_000, CATALOGUE):.1f} µs")


if __name__ == "__main__":
    main()
