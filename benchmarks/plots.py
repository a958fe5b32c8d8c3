"""The report's figures, drawn with matplotlib's Agg backend and returned as PNG bytes.

* :func:`success_per_env` - success per env per policy (grouped bars with 95% CIs);
* :func:`success_vs_cost` - success against mean tool cost, one point per env x policy;
* :func:`steps_distribution` - the distribution of episode lengths per policy, one panel per env.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from toolgym.benchmarks.stats import Row
from toolgym.error import require

__all__ = ["pyplot", "steps_distribution", "success_per_env", "success_vs_cost"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed).

    Raises:
        DependencyNotInstalled: matplotlib is not installed (the ``report`` extra).
    """
    matplotlib = require("matplotlib", "report", "Drawing figures")
    matplotlib.use("Agg", force=True)
    return require("matplotlib.pyplot", "report", "Drawing figures")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return buf.getvalue()


def _short(env: str) -> str:
    return env.removeprefix("toolgym/")


def _colors(policies: Sequence[str]) -> dict[str, Any]:
    plt = pyplot()
    cmap = plt.get_cmap("tab10" if len(policies) <= 10 else "tab20")
    return {p: cmap(i % cmap.N) for i, p in enumerate(policies)}


def success_per_env(rows: Sequence[Row]) -> bytes:
    """Grouped bars: success (with its 95% CI) per env, one bar per policy."""
    plt = pyplot()
    envs = list(dict.fromkeys(r.env for r in rows))
    policies = sorted({r.policy for r in rows})
    colors = _colors(policies)
    cell = {(r.env, r.policy): r for r in rows}
    width = 0.8 / max(1, len(policies))
    fig, ax = plt.subplots(figsize=(min(12.0, max(6.0, 1.5 + 1.0 * len(envs))), 4.2))  # readable at page width
    for j, policy in enumerate(policies):
        xs: list[float] = []
        ys: list[float] = []
        errs: list[list[float]] = [[], []]
        for i, env in enumerate(envs):
            r = cell.get((env, policy))
            if r is None:
                continue
            e = r.metrics["success"]
            xs.append(i - 0.4 + width * (j + 0.5))
            ys.append(100 * e.mean)
            errs[0].append(100 * max(0.0, e.mean - e.lo))
            errs[1].append(100 * max(0.0, e.hi - e.mean))
        ax.bar(xs, ys, width, yerr=errs, capsize=2, label=policy, color=colors[policy], edgecolor="white")
    ax.set_xticks(range(len(envs)))
    ax.set_xticklabels([_short(e) for e in envs], rotation=20, ha="right")
    ax.set_ylabel("success (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Success per environment (95% CI)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=min(4, len(policies)), loc="upper center", bbox_to_anchor=(0.5, -0.25))
    return _png(fig)


def success_vs_cost(rows: Sequence[Row]) -> bytes:
    """Scatter: mean tool cost (x) against success (y), colour per policy, marker per env."""
    plt = pyplot()
    envs = list(dict.fromkeys(r.env for r in rows))
    policies = sorted({r.policy for r in rows})
    colors = _colors(policies)
    markers = "osD^v<>PX*hp"
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for r in rows:
        cost, success = r.metrics["cost_total"], r.metrics["success"]
        ax.errorbar(
            cost.mean,
            100 * success.mean,
            yerr=[[100 * max(0.0, success.mean - success.lo)], [100 * max(0.0, success.hi - success.mean)]],
            fmt=markers[envs.index(r.env) % len(markers)],
            color=colors[r.policy],
            markersize=7,
            capsize=2,
            alpha=0.85,
        )
    for p in policies:
        ax.plot([], [], "s", color=colors[p], label=p)
    for i, e in enumerate(envs):
        ax.plot([], [], markers[i % len(markers)], color="gray", label=_short(e))
    ax.set_xlabel("mean tool cost per episode (unweighted)")
    ax.set_ylabel("success (%)")
    ax.set_ylim(-5, 105)
    ax.set_title("Success vs tool cost")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _png(fig)


def steps_distribution(records: Sequence[Mapping[str, Any]]) -> bytes:
    """Box plots of episode length (steps) per policy, one panel per env."""
    plt = pyplot()
    data: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        data[r["env"]][r["policy"]].append(int(r.get("steps", 0)))
    envs = list(data)
    policies = sorted({p for d in data.values() for p in d})
    colors = _colors(policies)
    cols = min(3, max(1, len(envs)))
    nrows = math.ceil(len(envs) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 2.9 * nrows), squeeze=False)
    for k, env in enumerate(envs):
        ax = axes[k // cols][k % cols]
        present = [p for p in policies if data[env].get(p)]
        box = ax.boxplot([data[env][p] for p in present], patch_artist=True, widths=0.6)
        for patch, p in zip(box["boxes"], present):
            patch.set_facecolor(colors[p])
            patch.set_alpha(0.7)
        ax.set_xticks(range(1, len(present) + 1))
        ax.set_xticklabels(present, rotation=30, ha="right", fontsize=8)
        ax.set_title(_short(env), fontsize=9)
        ax.set_ylabel("steps", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    for k in range(len(envs), nrows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.suptitle("Distribution of episode length")
    fig.tight_layout()
    return _png(fig)
