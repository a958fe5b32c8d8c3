"""Training recipes: ``toolgym train RECIPE --out DIR`` runs a method's arms over seeds and reports them.

A recipe is YAML (built-in ones ship in ``toolgym/benchmarks/recipes/``)::

    name: fireact-arithmetic
    description: FireAct on ToolChoice-Arithmetic, a tiny model from scratch
    method: fireact            # fireact | rest_em | rerest | grpo
    seeds: [0, 1, 2]
    config: {env: toolgym/ToolChoice-Arithmetic-v0, train_tasks: 3000, model: {n_layer: 4}, train: {max_steps: 500}}
    arms:                      # variants compared in the report (config overrides); default: one arm
      fireact: {}
      shuffled: {control: shuffled}
    claims:                    # fixed before the run; the report says which held
      - {arm: fireact, metric: success_after, op: ">=", value: 0.95}

Each arm x seed runs in ``DIR/<arm>/seed-<s>/`` (its own ``result.json``; ``--resume`` continues killed runs
and skips finished ones), then :func:`summarize` aggregates: per arm, the mean over seeds with a 95% t interval
of each metric (success before/after for FireAct; test success per iteration for ReST-EM and Re-ReST), the budget
spent (tokens, env steps, SFT steps), the held-out checks, Re-ReST's equal-compute match, and the claims.
In a Re-ReST recipe, ``budget_from: <arm>`` (the ``rest_em_more`` control) names the arm whose run of the same
seed it matches, and ``m0_from: <arm>`` an arm whose ``M0`` of the same seed it reuses; that arm must come earlier
in ``arms``. ``summary.json``, ``report.md`` and ``learning_curve.png`` are written into ``DIR``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from toolgym.benchmarks.plots import pyplot
from toolgym.benchmarks.stats import estimate
from toolgym.benchmarks.yamlio import load_yaml
from toolgym.error import ConfigError, did_you_mean

__all__ = ["Recipe", "builtin_recipes", "load_recipe", "run_recipe", "summarize"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
METHODS = ("fireact", "rest_em", "rerest", "grpo")


class Recipe:
    """A parsed recipe (see the module docstring).

    Attributes:
        name: Its name.
        description: One paragraph.
        method: One of :data:`METHODS`.
        seeds: Replicate seeds.
        config: The method's config fields (shared by the arms).
        arms: Arm name -> config overrides.
        claims: Claims checked in the report.
    """

    def __init__(self, data: Mapping[str, Any], source: str = "<recipe>") -> None:
        """Validate ``data`` (raises :class:`~toolgym.error.ConfigError` naming the problem)."""
        known = {"name", "description", "method", "seeds", "config", "arms", "claims"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: expected keys among {sorted(known)}, got {unknown}.")
        self.name = str(data.get("name", Path(source).stem))
        self.description = str(data.get("description", "")).strip()
        self.method = str(data.get("method", ""))
        if self.method not in METHODS:
            raise ConfigError(
                f"{source}: method: expected one of {list(METHODS)}, got {self.method!r}."
                + did_you_mean(self.method, METHODS)
            )
        seeds = data.get("seeds", [0])
        if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
            raise ConfigError(f"{source}: seeds: expected a non-empty list of ints, got {seeds!r}.")
        self.seeds = list(seeds)
        self.config = dict(data.get("config") or {})
        arms = data.get("arms") or {self.method: {}}
        if not isinstance(arms, Mapping):
            raise ConfigError(f"{source}: arms: expected a mapping of arm name to config overrides, got {arms!r}.")
        self.arms = {str(k): dict(v or {}) for k, v in arms.items()}
        self.claims = list(data.get("claims") or [])
        for c in self.claims:
            if (
                not isinstance(c, Mapping)
                or c.get("op") not in _OPS
                or "metric" not in c
                or not ({"value", "than_arm"} & set(c))
            ):
                raise ConfigError(
                    f"{source}: claims: expected {{arm, metric, op: one of {list(_OPS)}, value}} (or "
                    f"{{arm, metric, op, than_arm}}), got {c!r}."
                )
        for arm in self.arms:  # fail now, not after hours of training
            self.method_config(arm, self.seeds[0])

    def method_config(self, arm: str, seed: int) -> Any:
        """The method's config dataclass for ``arm`` and ``seed``."""
        from toolgym.algorithms.fireact import FireActConfig, TrainSettings
        from toolgym.algorithms.grpo import GRPORunConfig
        from toolgym.algorithms.models import ModelSpec
        from toolgym.algorithms.rerest import ReReSTConfig
        from toolgym.algorithms.rest_em import RestEMConfig

        cls = {"fireact": FireActConfig, "rest_em": RestEMConfig, "rerest": ReReSTConfig, "grpo": GRPORunConfig}[
            self.method
        ]
        merged = _merge(self.config, self.arms[arm])
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(merged) - names)
        if unknown:
            raise ConfigError(
                f"recipe {self.name}: config: expected keys among {sorted(names)}, got {unknown}."
                + did_you_mean(unknown[0], sorted(names))
            )
        merged["seed"] = seed
        model = dict(merged.get("model") or {})
        model.setdefault("init_seed", seed)  # each replicate starts from its own random initialisation
        merged["model"] = ModelSpec.from_dict(model)
        train = dict(merged.get("train") or {})
        tnames = {f.name for f in fields(TrainSettings)}
        if set(train) - tnames:
            raise ConfigError(
                f"recipe {self.name}: train: expected keys among {sorted(tnames)}, got {sorted(set(train) - tnames)}."
            )
        merged["train"] = TrainSettings(**train)
        if "env_kwargs" in merged:
            merged["env_kwargs"] = _tuples(merged["env_kwargs"])
        if merged.get("eval_env_kwargs") is not None:
            merged["eval_env_kwargs"] = _tuples(merged["eval_env_kwargs"])
        return cls(**merged)


def _tuples(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """YAML lists as tuples (env arguments such as ``difficulty: [1, 2, 3]``)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in dict(kwargs).items()}


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def _recipes_dir() -> Path:
    return Path(__file__).resolve().parent / "recipes"


def builtin_recipes() -> dict[str, str]:
    """The built-in recipes and their descriptions."""
    out = {}
    for item in sorted(_recipes_dir().glob("*.yaml")):
        data, _ = load_yaml(item.read_text(encoding="utf-8"), source=item.name)
        out[item.stem] = str(data.get("description", "")).strip() if isinstance(data, Mapping) else ""
    return out


def load_recipe(source: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> Recipe:
    """A built-in recipe name, a YAML path or a mapping; ``overrides`` are ``key.sub=value`` (YAML values)."""
    import yaml

    if isinstance(source, Mapping):
        data, where = dict(source), "<recipe>"
    else:
        text = str(source)
        path = Path(text).expanduser()
        if not path.is_file():
            names = list(builtin_recipes())
            if text not in names:
                raise ConfigError(
                    f"recipe: expected a built-in recipe among {names} or a YAML file, got {text!r}."
                    + did_you_mean(text, names)
                )
            path = _recipes_dir() / f"{text}.yaml"
        loaded, _ = load_yaml(path.read_text(encoding="utf-8"), source=path.name)
        data, where = dict(loaded or {}), path.name
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set: expected key.path=value, got {item!r}.")
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(value)
    return Recipe(data, where)


def _run_one(recipe: Recipe, arm: str, seed: int, folder: Path, resume: bool) -> dict[str, Any]:
    from toolgym.algorithms.fireact import run_fireact
    from toolgym.algorithms.grpo import run_grpo
    from toolgym.algorithms.rerest import run_rerest
    from toolgym.algorithms.rest_em import run_rest_em
    from toolgym.algorithms.runio import read_json

    if (folder / "result.json").is_file() and resume:
        return read_json(folder / "result.json")
    config = recipe.method_config(arm, seed)
    for key in ("budget_from", "m0_from"):  # an arm name: its run of this seed
        other = getattr(config, key, None)
        if recipe.method == "rerest" and other in recipe.arms:
            matched = folder.parent.parent / str(other) / f"seed-{seed}"
            if not (matched / "result.json").is_file():
                raise ConfigError(
                    f"recipe {recipe.name}: arm {arm!r} names arm {other!r} ({key}), which has no finished run of "
                    f"seed {seed} at {matched}; list {other!r} before {arm!r} in arms."
                )
            config = replace(config, **{key: str(matched)})
    runners: dict[str, Callable[..., Any]] = {
        "fireact": run_fireact,
        "rest_em": run_rest_em,
        "rerest": run_rerest,
        "grpo": run_grpo,
    }
    return runners[recipe.method](config, folder, resume=resume and folder.exists())


def run_recipe(
    recipe: Recipe,
    out: str | Path,
    *,
    resume: bool = False,
    on_run: Callable[[str, int, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every arm x seed of ``recipe`` into ``out`` and write the summary and report.

    Args:
        recipe: The recipe.
        out: The run folder.
        resume: Continue a killed run (finished arm x seed runs are read back).
        on_run: Called after each arm x seed run with ``(arm, seed, result)``.

    Returns:
        The summary (also ``out/summary.json``).
    """
    from toolgym.algorithms.runio import write_json

    root = Path(out)
    if root.exists() and any(root.iterdir()) and not resume:
        raise ConfigError(f"toolgym train: {root} is not empty; pass --resume to continue that run, or another --out.")
    root.mkdir(parents=True, exist_ok=True)
    write_json(
        root / "recipe.json",
        {
            "name": recipe.name,
            "method": recipe.method,
            "seeds": recipe.seeds,
            "config": recipe.config,
            "arms": recipe.arms,
            "claims": recipe.claims,
        },
    )
    results: dict[str, dict[int, dict[str, Any]]] = {}
    for arm in recipe.arms:
        for seed in recipe.seeds:
            res = _run_one(recipe, arm, seed, root / arm / f"seed-{seed}", resume)
            results.setdefault(arm, {})[seed] = res
            if on_run is not None:
                on_run(arm, seed, res)
    summary = summarize(recipe, results)
    write_json(root / "summary.json", summary)
    (root / "report.md").write_text(report_markdown(summary), encoding="utf-8")
    plot_summary(summary, root / "learning_curve.png")
    return summary


def _est(values: Mapping[int, float]) -> dict[str, Any]:
    e = estimate({k: [v] for k, v in values.items()}, bounds=(0.0, 1.0))
    return {"mean": e.mean, "lo": e.lo, "hi": e.hi, "n": e.n, "per_seed": dict(values)}


def _budget(results: Mapping[int, Mapping[str, Any]]) -> dict[str, float]:
    keys = ("prompt_tokens", "completion_tokens", "env_steps", "episodes", "train_tokens", "train_steps", "wall_s")
    totals = [r["ledger"]["total"] for r in results.values()]
    return {k: sum(float(t.get(k, 0)) for t in totals) / max(len(totals), 1) for k in keys}


def _reward_curve(by_seed: Mapping[int, Mapping[str, Any]], window: int = 5) -> list[dict[str, Any]]:
    """GRPO's training reward per step, the mean over seeds with a 95% interval.

    The reward is the true return of the sampled episodes (also in the control); each seed's curve is first
    averaged over a trailing window of ``window`` steps.
    """
    steps = min(len(r["curve"]) for r in by_seed.values())
    out = []
    for i in range(steps):
        lo = max(0, i + 1 - window)
        per_seed = {s: [float(np.mean([c["reward"] for c in r["curve"][lo : i + 1]]))] for s, r in by_seed.items()}
        e = estimate(per_seed, bounds=(-1.0, 1.0))
        out.append({"step": i + 1, "mean": e.mean, "lo": e.lo, "hi": e.hi, "n": e.n})
    return out


def summarize(recipe: Recipe, results: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> dict[str, Any]:
    """Aggregate per-seed results into means with 95% CIs, budgets, held-out checks and claims."""
    arms: dict[str, Any] = {}
    for arm, by_seed in results.items():
        row: dict[str, Any] = {"seeds": sorted(by_seed), "budget_mean_per_seed": _budget(by_seed)}
        row["held_out"] = all(bool(r.get("held_out", {}).get("held_out")) for r in by_seed.values())
        if recipe.method in ("fireact", "grpo"):
            row["success_before"] = _est({s: r["success_before"] for s, r in by_seed.items()})
            row["success_after"] = _est({s: r["success_after"] for s, r in by_seed.items()})
            row["eval_tasks"] = next(iter(by_seed.values()))["eval_tasks"]
            if recipe.method == "grpo":  # the reward (tool costs included) is what GRPO optimises
                keys: tuple[str, ...] = ("reward_before", "reward_after")
                sampled = tuple(f"sampled_{k}_{t}" for k in ("reward", "success") for t in ("before", "after"))
                keys += sampled if all(sampled[0] in r for r in by_seed.values()) else ()
                for key in keys:
                    e = estimate({s: [r[key]] for s, r in by_seed.items()}, bounds=(-1.0, 1.0))
                    row[key] = {
                        "mean": e.mean,
                        "lo": e.lo,
                        "hi": e.hi,
                        "n": e.n,
                        "per_seed": {s: r[key] for s, r in by_seed.items()},
                    }
                row["grpo_steps"] = sorted({r["grpo_steps"] for r in by_seed.values()})
                row["reward_curve"] = _reward_curve(by_seed)
        else:
            iters = sorted({c["iteration"] for r in by_seed.values() for c in r["curve"]})
            curve = []
            for i in iters:
                vals = {s: c["test_success"] for s, r in by_seed.items() for c in r["curve"] if c["iteration"] == i}
                vvals = {s: c["valid_success"] for s, r in by_seed.items() for c in r["curve"] if c["iteration"] == i}
                data = [c["data"] for r in by_seed.values() for c in r["curve"] if c["iteration"] == i]
                curve.append(
                    {
                        "iteration": i,
                        "test_success": _est(vals),
                        "valid_success": _est(vvals),
                        "data_mean": sum(data) / max(len(data), 1),
                    }
                )
            row["curve"] = curve
            bases = {s: r["base"]["test_success"] for s, r in by_seed.items() if r.get("base")}
            if bases:
                row["base_test_success"] = _est(bases)
            row["eval_tasks"] = next(iter(by_seed.values()))["curve"][0]["test_episodes"]
            matches = {s: r["budget_match"] for s, r in by_seed.items() if r.get("budget_match")}
            if matches:
                row["budget_match"] = matches
        arms[arm] = row
    claims = [_check(c, arms) for c in recipe.claims]
    return {
        "recipe": recipe.name,
        "method": recipe.method,
        "description": recipe.description,
        "arms": arms,
        "claims": claims,
    }


def _metric(arms: Mapping[str, Any], arm: str, metric: str) -> dict[str, Any]:
    row = arms[arm]
    if metric in row:
        return row[metric]
    name, _, it = metric.partition("@")  # test_success@1: the curve at iteration 1
    for c in row.get("curve", []):
        if str(c["iteration"]) == it and name in c:
            return c[name]
    raise ConfigError(f"claim: arm {arm!r} has no metric {metric!r}.")


def _check(claim: Mapping[str, Any], arms: Mapping[str, Any]) -> dict[str, Any]:
    """A claim holds when its whole 95% interval is on the right side of the value (or of the other arm's interval)."""
    arm, metric, op = claim["arm"], claim["metric"], claim["op"]
    for name in (arm, claim.get("than_arm", arm)):
        if name not in arms:
            return {**claim, "held": False, "why": f"no arm {name!r} in this run"}
    est = _metric(arms, arm, metric)
    other = _metric(arms, claim["than_arm"], claim.get("than_metric", metric)) if "than_arm" in claim else None
    if est["n"] < 2 or (other is not None and other["n"] < 2):
        return {**claim, "held": False, "why": "one seed gives no interval: a claim needs 2 or more seeds"}
    if other is not None:
        if op in (">", ">="):
            held = est["lo"] > other["hi"] if op == ">" else est["lo"] >= other["hi"]
        else:
            held = est["hi"] < other["lo"] if op == "<" else est["hi"] <= other["lo"]
        seeds = sorted(set(est["per_seed"]) & set(other["per_seed"]))
        diff = estimate({s: [est["per_seed"][s] - other["per_seed"][s]] for s in seeds}, bounds=(-1.0, 1.0))
        paired = {"mean": diff.mean, "lo": diff.lo, "hi": diff.hi, "n": diff.n}  # reported beside the verdict
        return {**claim, "held": bool(held), "estimate": est, "other": other, "paired_difference": paired}
    value = float(claim["value"])
    bound = est["lo"] if op in (">", ">=") else est["hi"]
    return {**claim, "held": bool(_OPS[op](bound, value)), "estimate": est}


def _fmt(e: Mapping[str, Any]) -> str:
    if e["n"] < 2:
        return f"{e['mean']:.3f} (1 seed, no interval)"
    return f"{e['mean']:.3f} [{e['lo']:.3f}, {e['hi']:.3f}]"


def report_markdown(summary: Mapping[str, Any]) -> str:
    """The summary as Markdown tables (results, budgets, claims)."""
    lines = [f"# {summary['recipe']} ({summary['method']})", "", summary.get("description", ""), ""]
    arms = summary["arms"]
    if summary["method"] == "fireact":
        lines += ["| arm | seeds | held-out tasks | success before | success after |", "|---|---|---|---|---|"]
        for arm, r in arms.items():
            before, after = _fmt(r["success_before"]), _fmt(r["success_after"])
            lines.append(f"| {arm} | {len(r['seeds'])} | {r['eval_tasks']} | {before} | {after} |")
    elif summary["method"] == "grpo":
        lines += [
            "| arm | seeds | GRPO steps | held-out tasks | reward before | reward after | success before "
            "| success after |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for arm, r in arms.items():
            cells = [_fmt(r[k]) for k in ("reward_before", "reward_after", "success_before", "success_after")]
            steps = ",".join(str(x) for x in r["grpo_steps"])
            lines.append(f"| {arm} | {len(r['seeds'])} | {steps} | {r['eval_tasks']} | " + " | ".join(cells) + " |")
        lines += ["", "Reward and success are greedy; the reward includes the tool costs."]
        if all("sampled_reward_after" in r for r in arms.values()):
            lines += [
                "",
                "Sampled at the rollouts' temperature (the policy GRPO trains; several episodes per held-out task):",
                "",
                "| arm | reward before | reward after | success before | success after |",
                "|---|---|---|---|---|",
            ]
            for arm, r in arms.items():
                keys = ("reward_before", "reward_after", "success_before", "success_after")
                lines.append(f"| {arm} | " + " | ".join(_fmt(r["sampled_" + k]) for k in keys) + " |")
        if all(r.get("reward_curve") for r in arms.values()):
            lines += ["", "Training reward (the sampled episodes' true returns, 5-step mean; first and last step):", ""]
            for arm, r in arms.items():
                first, last = r["reward_curve"][min(4, len(r["reward_curve"]) - 1)], r["reward_curve"][-1]
                lines.append(f"- {arm}: step {first['step']} {_fmt(first)} → step {last['step']} {_fmt(last)}")
    else:
        iters = sorted({c["iteration"] for r in arms.values() for c in r["curve"]})
        base = any("base_test_success" in r for r in arms.values())
        head = (["untrained"] if base else []) + [f"iter {i}" for i in iters]
        lines += ["| arm | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
        for arm, r in arms.items():
            by_iter = {c["iteration"]: _fmt(c["test_success"]) for c in r["curve"]}
            first = [_fmt(r["base_test_success"]) if "base_test_success" in r else "-"] if base else []
            lines.append(f"| {arm} | " + " | ".join(first + [by_iter.get(i, "-") for i in iters]) + " |")
        lines += ["", "iter 0 is M0, the SFT on the demonstrations; iter i > 0 the i-th self-training iteration."]
    lines += [
        "",
        "Means over seeds with 95% t intervals; success on held-out test tasks.",
        "",
        "## Budget per seed (mean)",
        "",
        "| arm | episodes | env steps | prompt tokens | completion tokens | SFT steps | SFT tokens | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm, r in arms.items():
        b = r["budget_mean_per_seed"]
        lines.append(
            f"| {arm} | {b['episodes']:.0f} | {b['env_steps']:.0f} | {b['prompt_tokens']:.0f} | "
            f"{b['completion_tokens']:.0f} | {b['train_steps']:.0f} | {b['train_tokens']:.0f} | {b['wall_s']:.0f} |"
        )
    lines += [
        "",
        "Held-out check (no shared task id or question text with training, collection or few-shot tasks): "
        + ", ".join(f"{a}: {'passed' if r['held_out'] else 'NOT CHECKED'}" for a, r in arms.items()),
        "",
    ]
    matched = {a: r["budget_match"] for a, r in arms.items() if r.get("budget_match")}
    if matched:
        lines += ["## Equal-compute match (control / Re-ReST, sampling + reflection)", ""]
        lines += ["| arm | seed | iteration | matched on | tokens ratio | env steps ratio | within tolerance |"]
        lines += ["|---|---|---|---|---|---|---|"]
        for a, by_seed in matched.items():
            for seed, rows in by_seed.items():
                for m in rows:
                    ratios = [m[k]["ratio"] for k in ("tokens", "env_steps")]
                    ratio_cells = " | ".join("-" if x is None else f"{x:.3f}" for x in ratios)
                    lines.append(
                        f"| {a} | {seed} | {m['iteration']} | {m['match_on']} | {ratio_cells} | "
                        f"{'yes' if m['matched'] else 'NO'} |"
                    )
        lines.append("")
    if summary["claims"]:
        lines += ["## Claims (fixed before the run)", ""]
        for c in summary["claims"]:
            target = f"arm {c['than_arm']}" if "than_arm" in c else str(c.get("value"))
            got = _fmt(c["estimate"]) if "estimate" in c else c.get("why", "")
            line = (
                f"- {'HELD' if c['held'] else 'did NOT hold'}: {c['arm']} {c['metric']} {c['op']} {target} (got {got}"
            )
            if "other" in c:
                line += (
                    f"; {c['than_arm']}: {_fmt(c['other'])}; paired difference per seed: {_fmt(c['paired_difference'])}"
                )
            lines.append(line + ")")
    return "\n".join(lines) + "\n"


def plot_summary(summary: Mapping[str, Any], path: str | Path) -> Path:
    """A PNG: success before/after per arm, or test success per iteration with 95% bands (ReST-EM).

    GRPO runs also get their training reward curves, beside the bars.
    """
    plt = pyplot()
    arms = summary["arms"]
    curves = summary["method"] == "grpo" and all(r.get("reward_curve") for r in arms.values())
    fig, axes = plt.subplots(1, 2 if curves else 1, figsize=(11.0 if curves else 6.4, 4.0), squeeze=False)
    ax = axes[0][0]
    if curves:
        right = axes[0][1]
        for arm, r in arms.items():
            xs = [c["step"] for c in r["reward_curve"]]
            right.plot(xs, [c["mean"] for c in r["reward_curve"]], label=arm)
            right.fill_between(
                xs, [c["lo"] for c in r["reward_curve"]], [c["hi"] for c in r["reward_curve"]], alpha=0.2
            )
        right.set_xlabel("GRPO step")
        right.set_ylabel("training reward (5-step mean, tool costs in)")
        right.set_title("reward of the sampled episodes, 95% band over seeds")
        right.legend()
    if summary["method"] in ("fireact", "grpo"):
        names = list(arms)
        for j, key in enumerate(("success_before", "success_after")):
            means = [arms[a][key]["mean"] for a in names]
            err = [
                [m - arms[a][key]["lo"] for a, m in zip(names, means)],
                [arms[a][key]["hi"] - m for a, m in zip(names, means)],
            ]
            ax.bar(
                [i + 0.4 * j for i in range(len(names))], means, 0.4, yerr=err, capsize=3, label=key.replace("_", " ")
            )
        ax.set_xticks([i + 0.2 for i in range(len(names))], names)
    else:
        for arm, r in arms.items():
            xs = [c["iteration"] for c in r["curve"]]
            ys = [c["test_success"]["mean"] for c in r["curve"]]
            ax.plot(xs, ys, marker="o", label=arm)
            ax.fill_between(
                xs,
                [c["test_success"]["lo"] for c in r["curve"]],
                [c["test_success"]["hi"] for c in r["curve"]],
                alpha=0.2,
            )
        ax.set_xlabel("iteration")
    ax.set_ylabel("held-out success")
    ax.set_ylim(0, 1.05)
    ax.set_title(summary["recipe"])
    ax.legend()
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
