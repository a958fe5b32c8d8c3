"""The leaderboard: per-env and overall tables of a run's results, for the terminal (rich) and for reports."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from toolgym.benchmarks.stats import BOUNDED, METRICS, Estimate, Row, summarize, summarize_policies
from toolgym.benchmarks.store import read_meta, read_records

__all__ = ["CI_NOTE", "format_estimate", "leaderboard", "leaderboard_tables", "print_leaderboard"]

CI_NOTE = (
    "95% confidence intervals: [low-high] for success and score, ± half-width for the others; Student t over "
    "seeds (bootstrap over episodes, or over envs in the overall table, when there is one seed). Errored "
    "episodes count as failures; tool cost is unweighted; time is wall-clock seconds per episode."
)


def format_number(value: float, name: str) -> str:
    """A metric value as text (success in %, tokens in thousands...)."""
    if math.isnan(value):
        return "-"
    if name == "success":
        return f"{100 * value:.0f}%"
    if name == "tokens_total":
        return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"
    if name == "steps":
        return f"{value:.1f}"
    if name == "wall_s":
        return f"{value:.3f}" if value < 1 else f"{value:.2f}"
    return f"{value:.2f}"


def format_estimate(name: str, e: Estimate) -> str:
    """Text of an estimate of metric ``name``: ``"75% [60-90]"`` for fractions, ``"3.2 ±0.4"`` otherwise.

    Fractions (success, score) show their interval clipped to [0, 1]; other metrics the half-width.

    Example:
        >>> format_estimate("success", Estimate(0.75, 0.6, 0.9, 3, "t"))
        '75% [60-90]'
        >>> format_estimate("steps", Estimate(3.2, 2.8, 3.6, 3, "t"))
        '3.2 ±0.4'
        >>> format_estimate("score", Estimate(0.5, 0.5, 0.5, 3, "t"))
        '0.50'
    """
    mean = format_number(e.mean, name)
    if e.method == "none" or math.isnan(e.lo) or e.hi - e.lo <= 1e-12:
        return mean
    if name in BOUNDED:
        lo, hi = format_number(e.lo, name), format_number(e.hi, name)
        return f"{mean} [{lo.rstrip('%')}-{hi.rstrip('%')}]"
    return f"{mean} ±{format_number(e.half_width, name)}"


#: Column titles of the compact (narrow terminal) tables.
_SHORT = {"cost_total": "cost", "tokens_total": "tok", "wall_s": "s/ep"}


def _table(title: str, rows: Sequence[Row], *, first: str, compact: bool = False) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
    table.add_column(first, overflow="fold", no_wrap=not compact)
    table.add_column("policy", overflow="fold", no_wrap=True)
    table.add_column("n", justify="right", min_width=2)
    for name, label in METRICS:
        label = _SHORT.get(name, label) if compact else label
        table.add_column(label, justify="right", overflow="fold", min_width=len(label))
    table.add_column("err" if compact else "errors", justify="right")
    last_env = None
    for row in rows:
        env = row.env if row.env != last_env else ""
        if row.env != last_env and last_env is not None and first == "env":
            table.add_section()
        last_env = row.env
        cells = [
            format_estimate(name, row.metrics[name])
            if not compact or name == "success"
            else format_number(row.metrics[name].mean, name)
            for name, _ in METRICS
        ]
        errors = Text(str(row.errors), style="red") if row.errors else Text("0", style="dim")
        table.add_row(env.removeprefix("toolgym/"), row.policy, f"{row.episodes}", *cells, errors)
    return table


def leaderboard_tables(records: Sequence[Mapping[str, Any]], *, title: str = "", compact: bool = False) -> list[Table]:
    """The overall table (one row per policy, macro-averaged over envs) and the per-env table.

    ``compact`` (for narrow terminals) shows the confidence interval of success only.
    """
    head = f"{title}: " if title else ""
    return [
        _table(f"{head}overall (macro-average over envs)", summarize_policies(records), first="envs", compact=compact),
        _table(f"{head}per environment", summarize(records), first="env", compact=compact),
    ]


def leaderboard(root: str | os.PathLike[str], *, width: int = 160) -> str:
    """A run folder's leaderboard as plain text."""
    console = Console(width=width, record=True, file=open(os.devnull, "w"), color_system=None)  # noqa: SIM115
    print_leaderboard(root, console)
    console.file.close()
    return console.export_text()


def print_leaderboard(root: str | os.PathLike[str], console: Console) -> None:
    """Print a run folder's leaderboard (with its status and the CI note)."""
    meta = read_meta(root)
    records = read_records(root)
    planned = meta.get("episodes_planned", "?")
    status = meta.get("status", "?")
    console.print(
        f"[bold]{meta.get('suite')}[/bold] - {len(records)}/{planned} episodes, status {status}, "
        f"commit {str(meta.get('provenance', {}).get('git_commit') or 'unknown')[:10]}"
    )
    if not records:
        console.print("[yellow]no episodes recorded yet[/yellow]")
        return
    compact = console.width < 140
    console.print(Group(*leaderboard_tables(records, compact=compact)))
    note = CI_NOTE + (
        " Narrow terminal: only success shows its interval; cost = tool cost, tok = tokens, s/ep = seconds per "
        "episode (widen the terminal for all intervals)."
        if compact
        else ""
    )
    console.print(Text(note, style="dim"))
