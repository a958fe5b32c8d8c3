"""The tool-choice benchmark: learned tool choosers against fixed ones over λ, on held-out tasks (one recipe).

Two experiments, each a function that trains every learner for every (λ, seed), evaluates it and the fixed
policies on held-out test tasks, and writes ``results.json``, ``table.md`` and ``pareto.png`` into a folder:

* :func:`run_arithmetic` - ``toolgym/ToolChoice-Arithmetic-v0`` with a direct answerer of known accuracy per
  level (:data:`~toolgym.agents.options.ARITHMETIC_ACCURACY`). The optimum is known in closed form
  (*calculate iff accuracy < 1 - cost·λ*, :class:`~toolgym.algorithms.tool_choice.ThresholdRule`); the
  learners are tabular Q-learning, DQN, PPO, MaskablePPO, and behaviour cloning of the snapshot oracle
  before and after MaskablePPO fine-tuning; the fixed policies "always call", "never call" and a random
  chooser.
* :func:`run_multihop` - ``toolgym/MultiHop-v0`` with a real choice between answering from the question,
  flat ``search``/``lookup`` calls, and the nested ``research`` sub-agent; fixed policies "never call",
  "flat" (ReAct's own tool calls, answering at the last decision: the ReAct fallback rule) and "always
  research".

Every learner of an experiment gets the same budget of decisions (view steps; the BC oracle's lookahead is
counted), trains on ``task_split(env, "train", n)`` and is evaluated on ``task_split(env, "test", n)``, whose
:func:`~toolgym.splits.overlap_report` goes into the results. Intervals are 95% Student t over seeds
(:func:`toolgym.benchmarks.stats.estimate`). The claims (within ``epsilon`` of the optimum, above always- and
never-call at mid-range λ) are checked against thresholds fixed in the config before the run.

Run it with ``toolgym tool-choice arithmetic --out runs/tool-choice`` (or ``multihop``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from toolgym.agents.options import ARITHMETIC_ACCURACY, arithmetic_options, search_options
from toolgym.algorithms.bc_tools import BCConfig, train_bc_rl
from toolgym.algorithms.q_tools import QLearningConfig, train_q_learning
from toolgym.algorithms.sb3_tools import SB3ToolsConfig, train_sb3
from toolgym.algorithms.tool_choice import (
    ChoicePolicy,
    EvalSummary,
    PriorityPolicy,
    RandomChoice,
    ThresholdRule,
    arithmetic_optimum,
    evaluate,
)
from toolgym.benchmarks.plots import pyplot
from toolgym.benchmarks.stats import Estimate, estimate
from toolgym.error import ConfigError
from toolgym.splits import overlap_report, task_split
from toolgym.wrappers import ToolChoice

__all__ = [
    "ARITHMETIC_LEARNERS",
    "MULTIHOP_LEARNERS",
    "ArithmeticBenchConfig",
    "MultiHopBenchConfig",
    "pareto_plot",
    "run_arithmetic",
    "run_multihop",
]

logger = logging.getLogger(__name__)

#: Learners of the arithmetic experiment (``bc`` and ``bc_rl`` come from one training run).
ARITHMETIC_LEARNERS: tuple[str, ...] = ("q_learning", "dqn", "ppo", "maskable_ppo", "bc", "bc_rl")
#: Learners of the MultiHop experiment.
MULTIHOP_LEARNERS: tuple[str, ...] = ("dqn", "maskable_ppo", "bc", "bc_rl")


@dataclass(frozen=True)
class ArithmeticBenchConfig:
    """The arithmetic experiment (defaults: the recipe of ``docs/results/tool_choice.md``).

    Attributes:
        lambdas: Cost weights swept.
        seeds: Training seeds (each also the evaluation seed of its replicate).
        budget: Decisions per learner per (λ, seed).
        train_tasks: Training tasks (train split).
        test_tasks: Held-out tasks (test split), each evaluated once per seed.
        accuracy: The direct answerer's accuracy per level.
        max_decisions: Decisions per episode.
        obs_dim: Slots for the latest observation's words (0: left out - the calculator's output carries
            nothing the choice needs beyond "a result exists", which the used-options features say, and every
            new output value would be a new tabular state).
        invalid_penalty: Cost of choosing an unavailable option (PPO and DQN see no mask).
        learners: Which learners to train.
        epsilon: The claim "within ε of the optimum" (fixed before the run).
        mid_lambdas: The λ at which learners must beat always-call and never-call.
    """

    lambdas: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    budget: int = 10_000
    train_tasks: int = 300
    test_tasks: int = 300
    accuracy: Mapping[int, float] = field(default_factory=lambda: dict(ARITHMETIC_ACCURACY))
    max_decisions: int = 3
    obs_dim: int = 0
    invalid_penalty: float = 0.1
    learners: tuple[str, ...] = ARITHMETIC_LEARNERS
    epsilon: float = 0.03
    mid_lambdas: tuple[float, ...] = (1.0, 2.0, 5.0)


@dataclass(frozen=True)
class MultiHopBenchConfig:
    """The MultiHop experiment.

    Attributes:
        lambdas: Cost weights swept.
        seeds: Training seeds.
        budget: Decisions per learner per (λ, seed).
        train_tasks: Training tasks (train split of the MultiHop ``train`` world).
        test_tasks: Held-out tasks (test split).
        tool_costs: Tool prices (dearer than the env default, so that λ ≤ 10 spans the trade-off).
        max_decisions: The top-level chooser's decisions per episode (flat calls each take one).
        invalid_penalty: Cost of choosing an unavailable option.
        learners: Which learners to train.
        dim: Slots of the question's bag of words.
    """

    lambdas: tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    budget: int = 6000
    train_tasks: int = 300
    test_tasks: int = 150
    tool_costs: Mapping[str, float] = field(default_factory=lambda: {"search": 0.05, "lookup": 0.02})
    max_decisions: int = 4
    invalid_penalty: float = 0.1
    learners: tuple[str, ...] = MULTIHOP_LEARNERS
    dim: int = 128


def _train(name: str, view: ToolChoice, budget: int, seed: int, cache: dict[str, Any]) -> tuple[ChoicePolicy, int]:
    """Train learner ``name``; return its policy and the decisions it spent."""
    if name == "q_learning":
        q = train_q_learning(view, QLearningConfig(decisions=budget, seed=seed))
        return q.policy, q.decisions
    if name in ("dqn", "ppo", "maskable_ppo"):
        r = train_sb3(view, SB3ToolsConfig(algo=name, total_timesteps=budget, seed=seed))
        return r.policy, r.decisions
    if name in ("bc", "bc_rl"):
        if "bc" not in cache:
            # up to budget/40 demonstrated episodes, and at most half the budget (a sixth on arithmetic)
            demos = max(10, budget // 40)
            cache["bc"] = train_bc_rl(view, BCConfig(budget=budget, demo_episodes=demos, demo_fraction=0.5, seed=seed))
        b = cache["bc"]
        if name == "bc":
            return b.bc_policy, b.demo_decisions
        return b.policy, b.demo_decisions + b.rl_decisions
    raise ConfigError(f"tool-choice benchmark: expected learners among {ARITHMETIC_LEARNERS}, got {name!r}.")


def _est(values: Mapping[int, Sequence[float]], bounds: tuple[float, float] | None = None) -> dict[str, float]:
    e: Estimate = estimate(values, bounds=bounds)
    return {"mean": e.mean, "lo": e.lo, "hi": e.hi, "n": e.n}


def _sweep(
    make_view: Callable[[float, Sequence[str] | None], ToolChoice],
    fixed: Callable[[ToolChoice, float, int], Mapping[str, ChoicePolicy]],
    config: ArithmeticBenchConfig | MultiHopBenchConfig,
) -> dict[str, Any]:
    """Fixed policies and learners over the config's λ x seeds, each evaluated on the same held-out tasks."""
    learners, lambdas, seeds, budget = config.learners, config.lambdas, config.seeds, config.budget
    train_n, test_n = config.train_tasks, config.test_tasks
    probe = make_view(0.0, None)
    train, test = task_split(probe, "train", train_n), task_split(probe, "test", test_n)
    overlap = overlap_report({"train": train, "test": test}, probe)
    runs: list[dict[str, Any]] = []
    for lam in lambdas:
        for seed in seeds:
            view = make_view(lam, train)
            arms: dict[str, tuple[EvalSummary, int, float]] = {}
            for name, policy in fixed(view, lam, seed).items():
                arms[name] = (evaluate(view, policy, test, seeds=[seed]), 0, 0.0)
            cache: dict[str, Any] = {}
            for name in learners:
                t0 = time.perf_counter()
                policy, spent = _train(name, view, budget, seed, cache)
                arms[name] = (evaluate(view, policy, test, seeds=[seed]), spent, time.perf_counter() - t0)
                logger.info("λ=%s seed=%s %s: return %.3f", lam, seed, name, arms[name][0].mean_return)
            for name, (summary, spent, wall) in arms.items():
                runs.append(
                    {
                        "lambda": lam,
                        "seed": seed,
                        "policy": name,
                        "learned": name in learners,
                        "budget_decisions": spent,
                        "train_wall_s": wall,
                        **summary.to_dict(),
                    }
                )
    return {"train_tasks": train, "test_tasks": test, "overlap": overlap, "runs": runs}


def _aggregate(runs: Sequence[Mapping[str, Any]], reference: str | None) -> list[dict[str, Any]]:
    """One row per (λ, policy): return, success, cost with 95% CIs over seeds, and the paired gap to ``reference``."""
    rows = []
    keys = sorted({(r["lambda"], r["policy"]) for r in runs}, key=lambda k: (k[0], k[1]))
    by = {(r["lambda"], r["policy"], r["seed"]): r for r in runs}
    for lam, policy in keys:
        sel = [r for r in runs if r["lambda"] == lam and r["policy"] == policy]
        row: dict[str, Any] = {
            "lambda": lam,
            "policy": policy,
            "learned": sel[0]["learned"],
            "seeds": len(sel),
            "budget_decisions": float(np.mean([r["budget_decisions"] for r in sel])),
            "return": _est({r["seed"]: [r["mean_return"]] for r in sel}),
            "success": _est({r["seed"]: [r["success"]] for r in sel}, (0.0, 1.0)),
            "cost": _est({r["seed"]: [r["cost"]] for r in sel}),
        }
        if reference is not None and policy != reference:
            gaps = {}
            for r in sel:
                ref = by.get((lam, reference, r["seed"]))
                if ref is not None:
                    gaps[r["seed"]] = [r["mean_return"] - ref["mean_return"]]
            row[f"gap_to_{reference}"] = _est(gaps)
        rows.append(row)
    return rows


def _paired(runs: Sequence[Mapping[str, Any]], lam: float, a: str, b: str) -> dict[str, float]:
    by = {(r["policy"], r["seed"]): r["mean_return"] for r in runs if r["lambda"] == lam}
    gaps = {s: [by[(a, s)] - by[(b, s)]] for (p, s) in by if p == a and (b, s) in by}
    return _est(gaps)


def _fmt(e: Mapping[str, float], digits: int = 3) -> str:
    if e["n"] >= 2:
        return f"{e['mean']:.{digits}f} [{e['lo']:.{digits}f}, {e['hi']:.{digits}f}]"
    return f"{e['mean']:.{digits}f}"


def _table(rows: Sequence[Mapping[str, Any]], reference: str | None) -> str:
    gap_col = f"gap to {reference}" if reference else None
    head = ["λ", "policy", "return", "success", "tool cost", "budget (decisions)"] + ([gap_col] if gap_col else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            f"{r['lambda']:g}",
            r["policy"] + (" (learned)" if r["learned"] else ""),
            _fmt(r["return"]),
            _fmt(r["success"]),
            _fmt(r["cost"]),
            f"{r['budget_decisions']:.0f}" if r["learned"] else "-",
        ]
        if gap_col:
            g = r.get(f"gap_to_{reference}")
            cells.append(_fmt(g) if g else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def pareto_plot(rows: Sequence[Mapping[str, Any]], path: Path, *, title: str) -> None:
    """Success against mean tool cost, one line per policy across λ (learned solid, fixed dashed).

    Args:
        rows: Aggregated rows (``lambda``, ``policy``, ``learned``, ``success``, ``cost``).
        path: Where to write the PNG.
        title: The figure's title.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for policy in sorted({r["policy"] for r in rows}):
        sel = sorted((r for r in rows if r["policy"] == policy), key=lambda r: r["lambda"])
        xs = [r["cost"]["mean"] for r in sel]
        ys = [r["success"]["mean"] for r in sel]
        err = [
            [r["success"]["mean"] - r["success"]["lo"] for r in sel],
            [r["success"]["hi"] - r["success"]["mean"] for r in sel],
        ]
        style = "-o" if sel[0]["learned"] else "--s"
        ax.errorbar(xs, ys, yerr=err, fmt=style, label=policy, capsize=2, markersize=4)
        if sel[0]["learned"]:
            for r, x, y in zip(sel, xs, ys):
                ax.annotate(f"λ={r['lambda']:g}", (x, y), fontsize=6, xytext=(3, -8), textcoords="offset points")
    ax.set_xlabel("mean tool cost per episode (unweighted)")
    ax.set_ylabel("success rate (held-out tasks)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _write(out: Path, result: dict[str, Any], rows: list[dict[str, Any]], reference: str | None, title: str) -> None:
    from toolgym.benchmarks.provenance import provenance

    out.mkdir(parents=True, exist_ok=True)
    result["rows"] = rows
    result["provenance"] = provenance()
    (out / "results.json").write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    (out / "table.md").write_text(_table(rows, reference), encoding="utf-8")
    pareto_plot(rows, out / "pareto.png", title=title)


def run_arithmetic(config: ArithmeticBenchConfig, out: str | Path) -> dict[str, Any]:
    """The arithmetic experiment (see the module docstring); writes ``results.json``, ``table.md``, ``pareto.png``.

    Args:
        config: The settings.
        out: The output folder.

    Returns:
        The results (also in ``results.json``): config, splits and their overlap report, per-run records,
        aggregated rows and the claims with their verdicts.
    """
    import torch

    torch.set_num_threads(1)
    acc = {int(k): float(v) for k, v in config.accuracy.items()}

    def make_view(lam: float, tasks: Sequence[str] | None) -> ToolChoice:
        env = gym.make("toolgym/ToolChoice-Arithmetic-v0", cost_weight=lam)
        return ToolChoice(
            env,
            arithmetic_options(acc),
            obs_dim=config.obs_dim,
            max_decisions=config.max_decisions,
            invalid_penalty=config.invalid_penalty,
            task_ids=tasks,
        )

    def fixed(view: ToolChoice, lam: float, seed: int) -> dict[str, ChoicePolicy]:
        price = view.cost_model.costs["calc"].per_call
        return {
            "optimal_rule": ThresholdRule(view, acc, price, lam),
            "always_call": PriorityPolicy(view, ["answer_with_tool", "calculate", "answer"]),
            "never_call": PriorityPolicy(view, ["answer"]),
            "random": RandomChoice(seed),
        }

    result = _sweep(make_view, fixed, config)
    result["config"] = asdict(config)
    rows = _aggregate(result["runs"], "optimal_rule")
    levels = [int(t.split("-")[0][1:]) for t in result["test_tasks"]]
    price = make_view(0.0, None).cost_model.costs["calc"].per_call
    claims = []
    for lam in config.lambdas:
        opt = arithmetic_optimum(acc, price, lam, levels)
        for name in config.learners:
            gap = next(r for r in rows if r["lambda"] == lam and r["policy"] == name)["gap_to_optimal_rule"]
            claims.append(
                {
                    "claim": f"{name} within ε={config.epsilon} of the optimum at λ={lam:g}",
                    "analytic_optimum": opt,
                    "gap": gap,
                    "holds": bool(gap["mean"] >= -config.epsilon),
                }
            )
            if lam in config.mid_lambdas:
                for base in ("always_call", "never_call"):
                    d = _paired(result["runs"], lam, name, base)
                    claims.append(
                        {"claim": f"{name} above {base} at λ={lam:g}", "difference": d, "holds": bool(d["lo"] > 0)}
                    )
    result["claims"] = claims
    _write(Path(out), result, rows, "optimal_rule", "ToolChoice-Arithmetic: success vs tool cost over λ")
    return result


def run_multihop(config: MultiHopBenchConfig, out: str | Path) -> dict[str, Any]:
    """The MultiHop experiment (see the module docstring); writes ``results.json``, ``table.md``, ``pareto.png``.

    Args:
        config: The settings.
        out: The output folder.

    Returns:
        The results (also in ``results.json``).
    """
    import torch

    from toolgym.wrappers import HashedBagOfWords

    torch.set_num_threads(1)

    def make_view(lam: float, tasks: Sequence[str] | None) -> ToolChoice:
        env = gym.make("toolgym/MultiHop-v0", cost_weight=lam, tool_costs=dict(config.tool_costs))
        return ToolChoice(
            env,
            search_options(),
            max_decisions=config.max_decisions,
            invalid_penalty=config.invalid_penalty,
            task_ids=tasks,
            encoder=HashedBagOfWords(config.dim, numbers="shape", symbols=True),
        )

    def fixed(view: ToolChoice, lam: float, seed: int) -> dict[str, ChoicePolicy]:
        last = ["answer", "answer_direct"]
        return {
            "never_call": PriorityPolicy(view, ["answer_direct"]),
            "flat_react": PriorityPolicy(view, ["tool_step", *last], last=last),
            "always_research": PriorityPolicy(view, ["research", *last], last=last),
            "random": RandomChoice(seed),
        }

    result = _sweep(make_view, fixed, config)
    result["config"] = asdict(config)
    rows = _aggregate(result["runs"], None)
    best_fixed = {}
    for lam in config.lambdas:
        fixed_rows = [r for r in rows if r["lambda"] == lam and not r["learned"]]
        best = max(fixed_rows, key=lambda r: r["return"]["mean"])
        best_fixed[lam] = best["policy"]
        for r in rows:
            if r["lambda"] == lam and r["policy"] != best["policy"]:
                r["gap_to_best_fixed"] = _paired(result["runs"], lam, r["policy"], best["policy"])
    result["best_fixed"] = {f"{k:g}": v for k, v in best_fixed.items()}
    _write(Path(out), result, rows, "best_fixed", "MultiHop: success vs tool cost over λ")
    return result
