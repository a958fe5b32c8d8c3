"""Aggregating result records: means with 95% confidence intervals over seeds.

Each (env, policy) cell's metric is the mean over its replicate seeds of the per-seed means (every seed
weighs the same). With two or more seeds the interval is Student's t over the per-seed means; with one
seed it is a percentile bootstrap over the episodes (1,000 resamples, fixed seed, so reports are
reproducible). Episodes that ended with an error count as failures (success 0) and are also counted in
``errors``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toolgym.error import require

__all__ = ["METRICS", "Estimate", "Row", "estimate", "summarize", "summarize_policies"]

#: The metrics reported: (record field, title).
METRICS: tuple[tuple[str, str], ...] = (
    ("success", "success"),
    ("score", "score"),
    ("cost_total", "tool cost"),
    ("steps", "steps"),
    ("tokens_total", "tokens"),
    ("wall_s", "time (s)"),
)

_BOOTSTRAP = 1000


@dataclass(frozen=True)
class Estimate:
    """A mean and its 95% confidence interval.

    Attributes:
        mean: The estimate.
        lo: Lower end of the interval (``mean`` when it cannot be computed).
        hi: Upper end.
        n: Number of units the interval is over (seeds, or episodes for the bootstrap).
        method: ``"t"`` (over seeds), ``"bootstrap"`` (over episodes) or ``"none"``.
    """

    mean: float
    lo: float
    hi: float
    n: int
    method: str

    @property
    def half_width(self) -> float:
        """Half the interval's width."""
        return (self.hi - self.lo) / 2


def t_interval(values: np.ndarray) -> tuple[float, float]:
    """The 95% Student t interval of the mean of ``values`` (two or more).

    Raises:
        DependencyNotInstalled: scipy is not installed (the ``report`` extra).
    """
    stats = require("scipy.stats", "report", "The t interval over seeds")

    k = len(values)
    mean = float(values.mean())
    sd = float(values.std(ddof=1))
    if sd == 0.0:
        return mean, mean
    half = float(stats.t.ppf(0.975, k - 1)) * sd / np.sqrt(k)
    return mean - half, mean + half


def _bootstrap(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(_BOOTSTRAP, len(values)))
    means = values[idx].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


#: Metrics that are fractions: their intervals are clipped to [0, 1]; the others are clipped at 0.
BOUNDED = ("success", "score")


def estimate(per_seed: Mapping[Any, Sequence[float]], *, bounds: tuple[float, float] | None = None) -> Estimate:
    """Mean over seeds of the per-seed means, with a 95% interval (see the module docstring).

    Args:
        per_seed: Seed to the values of its episodes.
        bounds: Clip the interval to this range (e.g. ``(0, 1)`` for a success rate).

    Example:
        >>> e = estimate({0: [1, 1, 0, 1], 1: [0, 1, 0, 0], 2: [1, 1, 1, 0]})
        >>> round(e.mean, 3), e.method, e.n
        (0.583, 't', 3)
        >>> estimate({0: [1.0, 0.0, 1.0, 1.0]}).method
        'bootstrap'
    """
    groups = [np.asarray(v, dtype=float) for v in per_seed.values() if len(v)]
    if not groups:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "none")
    seed_means = np.array([g.mean() for g in groups])
    mean = float(seed_means.mean())
    if len(groups) >= 2:
        lo, hi = t_interval(seed_means)
        n, method = len(groups), "t"
    elif len(groups[0]) >= 2:
        lo, hi = _bootstrap(groups[0])
        n, method = len(groups[0]), "bootstrap"
    else:
        return Estimate(mean, mean, mean, 1, "none")
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return Estimate(mean, lo, hi, n, method)


def _bounds(name: str) -> tuple[float, float] | None:
    return (0.0, 1.0) if name in BOUNDED else None


@dataclass(frozen=True)
class Row:
    """One line of a leaderboard.

    Attributes:
        env: The env label (``"all envs"`` in a policy summary).
        policy: The policy label.
        family: The env family.
        episodes: Episodes aggregated.
        seeds: Replicate seeds.
        errors: Episodes that ended with an error.
        metrics: Field name to :class:`Estimate` (see :data:`METRICS`).
    """

    env: str
    policy: str
    family: str
    episodes: int
    seeds: int
    errors: int
    metrics: Mapping[str, Estimate] = field(default_factory=dict)


def metric_value(record: Mapping[str, Any], name: str) -> float:
    """A record's value of metric ``name`` (success is 0 for an errored episode)."""
    v = record.get(name)
    if name == "success":
        return 1.0 if v and not record.get("error") else 0.0
    return float(v) if isinstance(v, (int, float)) else 0.0


def summarize(records: Iterable[Mapping[str, Any]]) -> list[Row]:
    """One :class:`Row` per (env, policy), envs in first-seen order, policies by success (best first)."""
    cells: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        cells[(r["env"], r["policy"])].append(r)
    env_order = list(dict.fromkeys(env for env, _ in cells))
    rows = []
    for (env, policy), recs in cells.items():
        by_seed: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
        for r in recs:
            by_seed[r.get("seed")].append(r)
        metrics = {
            name: estimate({s: [metric_value(r, name) for r in rs] for s, rs in by_seed.items()}, bounds=_bounds(name))
            for name, _ in METRICS
        }
        rows.append(
            Row(
                env=env,
                policy=policy,
                family=str(recs[0].get("family", "")),
                episodes=len(recs),
                seeds=len(by_seed),
                errors=sum(1 for r in recs if r.get("error")),
                metrics=metrics,
            )
        )
    rows.sort(key=lambda r: (env_order.index(r.env), -r.metrics["success"].mean, -r.metrics["score"].mean, r.policy))
    return rows


def summarize_policies(records: Iterable[Mapping[str, Any]]) -> list[Row]:
    """One row per policy over all envs: per seed, the mean over envs of the env means (macro average).

    The interval is over seeds as in :func:`summarize`; envs a policy did not run are left out of its mean.
    """
    by: dict[str, dict[Any, dict[str, list[Mapping[str, Any]]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    counts: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        by[r["policy"]][r.get("seed")][r["env"]].append(r)
        counts[r["policy"]].append(r)
    rows = []
    for policy, seeds in by.items():
        metrics = {}
        for name, _ in METRICS:
            per_seed = {
                s: [float(np.mean([metric_value(r, name) for r in rs])) for rs in envs.values()]
                for s, envs in seeds.items()
            }
            macro = {s: [float(np.mean(v))] for s, v in per_seed.items()}
            if len(macro) >= 2:
                metrics[name] = estimate(macro, bounds=_bounds(name))
            else:  # one seed: bootstrap over the env means
                metrics[name] = estimate(per_seed, bounds=_bounds(name))
        recs = counts[policy]
        envs = {r["env"] for r in recs}
        rows.append(
            Row(
                env=f"{len(envs)} envs",
                policy=policy,
                family="",
                episodes=len(recs),
                seeds=len(seeds),
                errors=sum(1 for r in recs if r.get("error")),
                metrics=metrics,
            )
        )
    rows.sort(key=lambda r: (-r.metrics["success"].mean, -r.metrics["score"].mean, r.policy))
    return rows
