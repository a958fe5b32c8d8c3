"""Comparing two runs: per env x policy, the change of each metric from run A to run B with a 95% CI.

When both runs have the same replicate seeds (two or more) for a cell, the interval is Student's t over the
per-seed differences (paired by seed). Otherwise it is a percentile bootstrap of the difference of means,
resampling the episodes of each run independently (1,000 resamples, fixed seed).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.table import Table
from rich.text import Text

from toolgym.benchmarks.leaderboard import format_number
from toolgym.benchmarks.stats import METRICS, Estimate, metric_value, t_interval
from toolgym.benchmarks.store import read_meta, read_records

__all__ = ["Comparison", "Delta", "compare_records", "compare_runs", "comparison_table"]


@dataclass(frozen=True)
class Delta:
    """The change of one metric of one env x policy cell.

    Attributes:
        a: Mean in run A.
        b: Mean in run B.
        diff: The difference ``b - a`` with its 95% CI.
    """

    a: float
    b: float
    diff: Estimate

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 0."""
        return self.diff.method != "none" and (self.diff.lo > 0 or self.diff.hi < 0)


@dataclass(frozen=True)
class Comparison:
    """Two runs side by side.

    Attributes:
        a: Run A's folder (or name).
        b: Run B's folder.
        same_suite: Whether both ran the same suite definition (same hash).
        cells: ``(env, policy)`` to metric name to :class:`Delta`, for the cells both runs have.
        only_a: Cells only run A has.
        only_b: Cells only run B has.
    """

    a: str
    b: str
    same_suite: bool
    cells: Mapping[tuple[str, str], Mapping[str, Delta]] = field(default_factory=dict)
    only_a: Sequence[tuple[str, str]] = ()
    only_b: Sequence[tuple[str, str]] = ()


def _group(records: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], dict[Any, list[Mapping[str, Any]]]]:
    out: dict[tuple[str, str], dict[Any, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        out[(r["env"], r["policy"])][r.get("seed")].append(r)
    return out


def _delta(sa: Mapping[Any, list[Mapping[str, Any]]], sb: Mapping[Any, list[Mapping[str, Any]]], name: str) -> Delta:
    ma = {s: float(np.mean([metric_value(r, name) for r in rs])) for s, rs in sa.items()}
    mb = {s: float(np.mean([metric_value(r, name) for r in rs])) for s, rs in sb.items()}
    a, b = float(np.mean(list(ma.values()))), float(np.mean(list(mb.values())))
    if set(ma) == set(mb) and len(ma) >= 2:
        diffs = np.array([mb[s] - ma[s] for s in sorted(ma, key=str)])
        lo, hi = t_interval(diffs)
        return Delta(a, b, Estimate(b - a, lo, hi, len(diffs), "t"))
    va = np.array([metric_value(r, name) for rs in sa.values() for r in rs])
    vb = np.array([metric_value(r, name) for rs in sb.values() for r in rs])
    if len(va) < 2 or len(vb) < 2:
        return Delta(a, b, Estimate(b - a, b - a, b - a, 1, "none"))
    rng = np.random.default_rng(0)
    boots = vb[rng.integers(0, len(vb), (1000, len(vb)))].mean(1) - va[rng.integers(0, len(va), (1000, len(va)))].mean(
        1
    )
    return Delta(
        a, b, Estimate(b - a, float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5)), 0, "bootstrap")
    )


def compare_records(
    a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]], *, names: tuple[str, str] = ("A", "B")
) -> Comparison:
    """Compare two runs' records (see the module docstring).

    Example:
        >>> ra = [{"env": "e", "policy": "p", "seed": s, "success": s % 2 == 0} for s in range(4)]
        >>> rb = [{"env": "e", "policy": "p", "seed": s, "success": True} for s in range(4)]
        >>> d = compare_records(ra, rb).cells[("e", "p")]["success"]
        >>> d.a, d.b, round(d.diff.mean, 2)
        (0.5, 1.0, 0.5)
    """
    ga, gb = _group(a), _group(b)
    cells = {}
    for key in ga:
        if key in gb:
            cells[key] = {name: _delta(ga[key], gb[key], name) for name, _ in METRICS}
    suites_a = {r.get("suite_hash") for r in a}
    suites_b = {r.get("suite_hash") for r in b}
    return Comparison(
        a=names[0],
        b=names[1],
        same_suite=suites_a == suites_b and len(suites_a) == 1,
        cells=cells,
        only_a=sorted(k for k in ga if k not in gb),
        only_b=sorted(k for k in gb if k not in ga),
    )


def compare_runs(dir_a: str | os.PathLike[str], dir_b: str | os.PathLike[str]) -> Comparison:
    """Compare two run folders."""
    ma, mb = read_meta(dir_a), read_meta(dir_b)
    c = compare_records(read_records(dir_a), read_records(dir_b), names=(str(dir_a), str(dir_b)))
    same = ma.get("suite_hash") == mb.get("suite_hash")
    return Comparison(c.a, c.b, same, c.cells, c.only_a, c.only_b)


def _fmt_diff(name: str, d: Delta) -> Text:
    sign = "+" if d.diff.mean >= 0 else "-"
    mag = format_number(abs(d.diff.mean), name)
    text = f"{sign}{mag}"
    if d.diff.method != "none" and d.diff.half_width > 1e-12:
        half = format_number(d.diff.half_width, name).rstrip("%")
        text += f" ±{half}"
    if not d.significant:
        return Text(text, style="dim")
    good = d.diff.mean > 0 if name in ("success", "score") else d.diff.mean < 0
    return Text(text, style="green" if good else "red")


def comparison_table(c: Comparison) -> Table:
    """A rich table: A and B values of success and score, and the change of every metric (B - A)."""
    table = Table(title=f"A = {c.a}\nB = {c.b}", title_justify="left")
    for col in ("env", "policy", "success A", "success B"):
        table.add_column(col, justify="left" if col in ("env", "policy") else "right", overflow="fold")
    for _, label in METRICS:
        table.add_column(f"Δ {label}", justify="right")
    for (env, policy), deltas in c.cells.items():
        s = deltas["success"]
        table.add_row(
            env.removeprefix("toolgym/"),
            policy,
            format_number(s.a, "success"),
            format_number(s.b, "success"),
            *[_fmt_diff(name, deltas[name]) for name, _ in METRICS],
        )
    return table
