"""The progress display of ``toolgym bench``: a rich progress bar with episodes done, success so far and ETA."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from toolgym.benchmarks.plan import Plan
from toolgym.benchmarks.runner import Observer

__all__ = ["RichProgress"]


class RichProgress(Observer):
    """A :class:`~toolgym.benchmarks.runner.Observer` drawing a progress bar on ``console``.

    The bar counts episodes (resumed ones included), shows the success rate of the episodes finished so far,
    the last env x policy that finished an episode, the elapsed time and the estimated time left.
    """

    def __init__(self, console: Console) -> None:
        """Args: console: where to draw (usually stderr)."""
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("episodes  success {task.fields[success]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("[dim]{task.fields[last]}"),
            console=console,
            transient=False,
        )
        self.task: Any = None
        self.wins = 0
        self.seen = 0

    def start(self, plan: Plan, done: int) -> None:
        """Show the bar, starting at the episodes already recorded."""
        self.progress.start()
        self.task = self.progress.add_task(plan.suite, total=plan.episodes, completed=done, success="-", last="")

    def record(self, record: Mapping[str, Any]) -> None:
        """Advance by one episode."""
        self.seen += 1
        self.wins += bool(record.get("success")) and not record.get("error")
        last = f"{str(record.get('env', '')).removeprefix('toolgym/')} x {record.get('policy', '')}"
        self.progress.update(self.task, advance=1, success=f"{100 * self.wins / self.seen:.0f}%", last=last)

    def finish(self, status: str) -> None:
        """Stop drawing."""
        if self.task is not None:
            self.progress.update(self.task, last=status)
        self.progress.stop()
