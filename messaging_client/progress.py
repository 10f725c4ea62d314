"""A send's status as rich progress bars, one per channel (done against the audience, with sent, failed,
skipped and pending), refreshed in place on a terminal and printed as a new block on each change when
the output is a file or a pipe (a log then shows the progress too)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

ENDED = ("completed", "failed", "cancelled")
_COUNTS = ("sent", "failed", "skipped", "pending", "cancelled")


def headline(status: dict[str, Any]) -> str:
    line = f"{status['sendId']}  {status['status']}  audience {status['audience']}"
    if status.get("notFound"):
        line += f" (+{status['notFound']} not found)"
    if status.get("status") == "scheduled" and status.get("sendAt"):
        line += f"  sendAt {status['sendAt']}"
    return line


class SendProgress:
    """Shows one status after another; `show` answers whether the send has ended."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars = Progress(
            TextColumn("{task.description:<6}"),
            BarColumn(bar_width=32),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
            auto_refresh=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._last: tuple[Any, ...] | None = None

    def __enter__(self) -> SendProgress:
        if self.console.is_interactive:
            self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.console.is_interactive:
            self.bars.stop()

    def show(self, status: dict[str, Any]) -> bool:
        for channel, counts in status["channels"].items():
            self._update(channel, counts, status["audience"] + status.get("notFound", 0), status["status"])
        state = (status["status"], tuple(sorted((c, tuple(n.items())) for c, n in status["channels"].items())))
        if self.console.is_interactive:
            if self._last is None or state[0] != self._last[0]:
                self.console.print(headline(status))  # above the bars, once per state
            self.bars.refresh()
        elif state != self._last:
            self.console.print(headline(status))
            self.console.print(self.bars.get_renderable())
        self._last = state
        return status["status"] in ENDED

    def _update(self, channel: str, counts: dict[str, int], total: int, state: str) -> None:
        if channel not in self._tasks:
            self._tasks[channel] = self.bars.add_task(channel, total=None, counts="")
        shown = "  ".join(
            f"{name} {counts.get(name, 0)}" for name in _COUNTS if name != "cancelled" or counts.get(name)
        )
        counted = total > 0 or state in ENDED
        self.bars.update(
            self._tasks[channel],
            total=total if counted else None,
            completed=total - counts.get("pending", 0) if counted else 0,
            counts=shown,
        )
        if state in ENDED:
            self.bars.stop_task(self._tasks[channel])
