"""Prints one closing line for several pytest runs, summed from each run's own closing line
("579 passed, 58 warnings in 250.10s"): `make test` runs the suite in two parts (in parallel, then
end to end) and its log should still end with the whole suite's count."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CLOSING = re.compile(r"^=*\s*(?P<counts>(?:\d+ \w+(?:, )?)+|no tests ran) in (?P<seconds>[\d.]+)s\b")
COUNT = re.compile(r"(\d+) (\w+)")
# pytest's own order and singular words ("1 error", "2 errors").
ORDER = ("failed", "passed", "skipped", "deselected", "xfailed", "xpassed", "warning", "error", "rerun")


def closing_line(log: Path) -> str | None:
    lines = [ANSI.sub("", line).strip() for line in log.read_text(errors="replace").splitlines()]
    return next((line for line in reversed(lines) if CLOSING.match(line)), None)


def main(logs: list[str]) -> int:
    counts: Counter[str] = Counter()
    seconds = 0.0
    for log in logs:
        line = closing_line(Path(log))
        if line is None:
            print(f"whole suite: {log} has no pytest closing line (the run stopped early)")
            return 1
        match = CLOSING.match(line)
        assert match is not None
        seconds += float(match["seconds"])
        for number, word in COUNT.findall(match["counts"]):
            counts[word.removesuffix("s") if word in ("warnings", "errors", "reruns") else word] += int(number)
    words = sorted(counts, key=lambda word: ORDER.index(word) if word in ORDER else len(ORDER))
    plural = {"warning", "error", "rerun"}
    parts = [f"{counts[w]} {w}{'s' if w in plural and counts[w] != 1 else ''}" for w in words]
    print(f"whole suite ({len(logs)} runs): {', '.join(parts) or 'no tests ran'} in {seconds:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
