"""Reflexion as a learning curve: success by trial index, reflection memory against plain retries.

``toolgym trials ENV --llm SPEC --trials N --tasks K --seeds S --out DIR`` (or :func:`run_trials`) runs, on the
first ``K`` tasks of the env's held-out ``test`` split (:func:`~toolgym.splits.task_split`), for each of ``S``
seeds, the arms:

* ``memory`` - :class:`~toolgym.agents.reflexion.ReflexionPolicy`: after a failed trial a reflection joins the
  memory, kept across the trials of the task;
* ``retry`` - the same policy with ``strategy="none"``: the same base method retried on the same task, at the same
  temperature, with no memory (the control);
* ``repair`` (optional) - :class:`~toolgym.agents.repair_policy.RepairPolicy`: the closed-loop reflector re-solves
  each failed trial with the trial and the env's feedback in its prompt.

Every arm samples at ``temperature > 0`` with a per-seed sampling seed; each trial's samples are seeded from the
task, the reset seed and the trial index, so retries differ (the report gives the share of tasks whose retries
were not all the same, ``distinct_retries``). A trial's failure is read from ``info["success"]``, the env's
evaluator (an oracle, as in Reflexion's runs); both arms stop a task at its first success.

The curve is cumulative: the share of tasks solved at or before trial ``i``, a mean over seeds with a 95% interval
(:func:`~toolgym.benchmarks.stats.estimate`: Student t over the per-seed means; with one seed a bootstrap over the
tasks). The claim "reflection helps" holds only when, at trial ``N``, the memory arm's interval lies wholly above
the retry arm's; with fewer than two seeds it is not judged. Budgets per arm (tokens, env steps, trials) are
means per seed. Each arm x seed is written to ``DIR/<arm>/seed-<s>.json`` as it finishes (``resume=True`` reads
finished ones back); ``summary.json``, ``report.md`` and ``trials.png`` are written atomically into ``DIR``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from toolgym.algorithms.runio import read_json, write_json
from toolgym.benchmarks.plots import pyplot
from toolgym.benchmarks.stats import estimate
from toolgym.error import ConfigError
from toolgym.records import to_jsonable

__all__ = ["ARMS", "TrialsConfig", "arm_policy", "held_out_check", "report_markdown", "run_trials", "summarize"]

#: The arms :func:`run_trials` knows (see the module docstring).
ARMS = ("memory", "retry", "repair")


@dataclass(frozen=True)
class TrialsConfig:
    """One trials experiment (defaults are small: a smoke run of the tiny model takes seconds).

    Attributes:
        env: The env id.
        env_kwargs: Its ``gym.make`` arguments.
        llm: The model: a spec for :func:`~toolgym.agents.make_llm` (``"tiny"``, ``"gemma"``, ``"hf:..."``...).
        trials: ``N``, trials per task.
        tasks: ``K``, held-out tasks (the first of the ``test`` split).
        seeds: Replicate seeds (sampling seeds and reset seeds derive from them).
        arms: The arms to run, among :data:`ARMS`.
        base: The method of each trial (``"react"``, ``"act"``, ``"cot"``, ``"io"``).
        temperature: Sampling temperature of every arm (must be > 0: greedy retries repeat themselves).
        max_tokens: Completion tokens per model call.
        examples: Few-shot examples (``"auto"``, ``"none"``...).
        memory_size: Reflections kept by the memory arm.
        max_steps: Steps per trial, set as the env's own limit (``max_steps`` of ``gym.make``; ``None``: its
            default), so the env truncates the trial and the tool costs see the same limit as other runs.
        num_envs: Episodes side by side (one batched model call per round).
        policy: Other options given to every arm's policy.
    """

    env: str = "toolgym/ToolChoice-Arithmetic-v0"
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    llm: Any = "tiny"
    trials: int = 3
    tasks: int = 10
    seeds: tuple[int, ...] = (0, 1, 2)
    arms: tuple[str, ...] = ("memory", "retry")
    base: str = "react"
    temperature: float = 0.7
    max_tokens: int = 128
    examples: str = "auto"
    memory_size: int = 3
    max_steps: int | None = None
    num_envs: int = 4
    policy: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("trials", "tasks", "num_envs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"TrialsConfig.{name}: expected a positive int, got {value!r}.")
        if not self.seeds:
            raise ConfigError("TrialsConfig.seeds: expected at least one seed, got none.")
        unknown = [a for a in self.arms if a not in ARMS]
        if unknown or not self.arms or len(set(self.arms)) != len(self.arms):
            raise ConfigError(f"TrialsConfig.arms: expected distinct arms among {list(ARMS)}, got {list(self.arms)}.")
        if not isinstance(self.temperature, (int, float)) or self.temperature <= 0:
            raise ConfigError(
                f"TrialsConfig.temperature: expected > 0 (greedy retries repeat themselves), got {self.temperature!r}."
            )

    def record(self) -> dict[str, Any]:
        """The config as JSON (an LLM object is recorded by its name)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if not isinstance(self.llm, (str, Mapping)):
            out["llm"] = str(getattr(self.llm, "name", type(self.llm).__name__))
        return to_jsonable(out)


def arm_policy(config: TrialsConfig, arm: str, llm: Any, seed: int) -> Any:
    """The policy of ``arm`` for ``seed`` (the model object ``llm`` is shared by the arms)."""
    from toolgym.agents import make_policy

    common = {
        "llm": llm,
        "base": config.base,
        "max_trials": config.trials,
        "temperature": float(config.temperature),
        "seed": int(seed),
        "max_tokens": config.max_tokens,
        "examples": config.examples,
        **dict(config.policy),
    }
    if arm == "memory":
        return make_policy("reflexion", memory_size=config.memory_size, strategy="reflexion", **common)
    if arm == "retry":
        return make_policy("reflexion", strategy="none", **common)
    if arm == "repair":
        return make_policy("repair", **common)
    raise ConfigError(f"arm_policy: expected an arm among {list(ARMS)}, got {arm!r}.")


def held_out_check(env: Any, config: TrialsConfig, task_ids: Sequence[str]) -> dict[str, Any]:
    """Check that the evaluated tasks are held out: all in the ``test`` split, none a few-shot example's question.

    The examples are those the arms' base method gets on each task (:func:`~toolgym.agents.prompting.fewshot.
    select_examples` with the config's ``examples`` source). A task and an example share a question when one's
    normalised text contains the other's (the task's text is its whole first observation).

    Args:
        env: The env (made from ``config``); it is reset to each task.
        config: The experiment.
        task_ids: The evaluated tasks.

    Returns:
        A JSON-ready dict: ``disjoint``, the tasks' split counts, the number of distinct example questions and the
        shared ones (first 10).
    """
    from toolgym.agents.prompting.fewshot import select_examples
    from toolgym.splits import normalize_question, split_of

    base = env.unwrapped
    splits: dict[str, int] = {}
    keys: list[str] = []
    examples: set[str] = set()
    for tid in task_ids:
        observation, _ = base.reset(seed=0, options={"task_id": tid})
        key = base.split_key()
        keys.append(key)
        split = split_of(key)
        splits[split] = splits.get(split, 0) + 1
        for ex in select_examples(env, config.base, observation, source=config.examples):
            examples.add(normalize_question(ex.question))
    shared = sorted({q for q in examples if q and any(q in k or k in q for k in keys)})
    return {
        "disjoint": not shared and set(splits) <= {"test"},
        "tasks": len(task_ids),
        "task_splits": splits,
        "example_questions": len(examples),
        "shared_questions": len(shared),
        "shared_examples": shared[:10],
    }


def _run_arm(config: TrialsConfig, arm: str, llm: Any, seed: int, task_ids: Sequence[str]) -> dict[str, Any]:
    from toolgym.agents import rollout
    from toolgym.agents.base import mix_seed
    from toolgym.agents.engine import EpisodeSpec

    policy = arm_policy(config, arm, llm, seed)
    specs = [EpisodeSpec(seed=mix_seed(seed, t) % 2**31, task_id=t) for t in task_ids]
    env_kwargs = dict(config.env_kwargs)
    if config.max_steps is not None:
        env_kwargs["max_steps"] = config.max_steps  # the env truncates the trial; the policy may retry
    start = time.perf_counter()
    episodes = rollout(policy, config.env, episodes=specs, num_envs=config.num_envs, env_kwargs=env_kwargs or None)
    rows = []
    for ep in episodes:
        trials = ep.trials or (ep.trajectory,)
        rows.append(
            {
                "task_id": ep.result.task_id,
                "trial_success": [bool(t.success) for t in trials],
                "prompt_tokens": int(ep.result.tokens.get("prompt", 0)),
                "completion_tokens": int(ep.result.tokens.get("completion", 0)),
                "env_steps": sum(len(t.steps) for t in trials),
                "actions": [[s.action for s in t.steps] for t in trials],
                "reflections": list(trials[-1].metadata.get("reflections", [])),
                "error": ep.result.error,
            }
        )
    name = f"{policy.name} (strategy none)" if arm == "retry" else policy.name
    return {"arm": arm, "seed": seed, "policy": name, "wall_s": time.perf_counter() - start, "tasks": rows}


def _solved_by(row: Mapping[str, Any], trials: int) -> list[float]:
    """1.0 at each trial index at or after the task's first success (cumulative), else 0.0."""
    out, solved = [], False
    flags = list(row["trial_success"])
    for i in range(trials):
        solved = solved or (i < len(flags) and bool(flags[i]))
        out.append(float(solved))
    return out


def _est(per_seed: Mapping[int, Sequence[float]]) -> dict[str, Any]:
    e = estimate(per_seed, bounds=(0.0, 1.0))
    return {"mean": e.mean, "lo": e.lo, "hi": e.hi, "n": e.n, "method": e.method}


def summarize(
    config: TrialsConfig,
    results: Mapping[str, Mapping[int, Mapping[str, Any]]],
    held_out: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The curves with 95% intervals, the budgets and the verdict, from per-arm, per-seed results.

    ``held_out`` (:func:`held_out_check`'s answer) is kept in the summary as it is.
    """
    n = config.trials
    arms: dict[str, Any] = {}
    last: dict[str, dict[int, float]] = {}  # per arm, per seed: the share solved by the last trial
    for arm, by_seed in results.items():
        solved = {s: [_solved_by(r, n) for r in res["tasks"]] for s, res in by_seed.items()}
        curve = [_est({s: [row[i] for row in rows] for s, rows in solved.items()}) for i in range(n)]
        last[arm] = {s: sum(row[-1] for row in rows) / len(rows) for s, rows in solved.items() if rows}
        per_seed = {
            key: sum(sum(float(r[key]) for r in res["tasks"]) for res in by_seed.values()) / len(by_seed)
            for key in ("prompt_tokens", "completion_tokens", "env_steps")
        }
        per_seed["trials"] = sum(len(r["trial_success"]) for res in by_seed.values() for r in res["tasks"]) / len(
            by_seed
        )
        per_seed["wall_s"] = sum(float(res["wall_s"]) for res in by_seed.values()) / len(by_seed)
        multi = [r["actions"] for res in by_seed.values() for r in res["tasks"] if len(r["actions"]) > 1]
        arms[arm] = {
            "policy": next(iter(by_seed.values()))["policy"],
            "seeds": sorted(by_seed),
            "success_by_trial": curve,
            "budget_mean_per_seed": per_seed,
            "errors": sum(bool(r["error"]) for res in by_seed.values() for r in res["tasks"]),
            "distinct_retries": (sum(any(a != t[0] for a in t[1:]) for t in multi) / len(multi) if multi else None),
        }
    return {
        "config": config.record(),
        "tasks": len(next(iter(next(iter(results.values())).values()))["tasks"]) if results else 0,
        "arms": arms,
        "verdict": verdict(arms, n),
        "paired_last_trial": paired_difference(last),
        "held_out": dict(held_out) if held_out is not None else None,
    }


def paired_difference(last: Mapping[str, Mapping[int, float]]) -> dict[str, Any] | None:
    """Memory minus retry at the last trial, paired by seed (same tasks), with a 95% t interval over seeds.

    ``last`` holds, per arm and seed, the share of tasks solved by the last trial. Computed as the training
    claims' paired difference is; reported beside the verdict for information (the verdict's rule is unchanged).
    ``None`` without both arms or with fewer than two seeds run by both.
    """
    if "memory" not in last or "retry" not in last:
        return None
    seeds = sorted(set(last["memory"]) & set(last["retry"]))
    if len(seeds) < 2:
        return None
    diff = estimate({s: [last["memory"][s] - last["retry"][s]] for s in seeds}, bounds=(-1.0, 1.0))
    return {"mean": diff.mean, "lo": diff.lo, "hi": diff.hi, "n": diff.n}


def verdict(arms: Mapping[str, Any], trials: int) -> dict[str, Any]:
    """Whether "reflection helps": memory's 95% interval above retry's at the last trial."""
    rule = f"memory's 95% CI lies wholly above retry's at trial {trials}"
    if "memory" not in arms or "retry" not in arms:
        return {"judged": False, "holds": False, "rule": rule, "why": "needs the memory and retry arms"}
    mem, ret = arms["memory"]["success_by_trial"][-1], arms["retry"]["success_by_trial"][-1]
    if min(mem["n"], ret["n"]) < 2 or mem["method"] != "t" or ret["method"] != "t":
        return {"judged": False, "holds": False, "rule": rule, "why": "fewer than two seeds: not judged"}
    holds = bool(mem["lo"] > ret["hi"])
    return {"judged": True, "holds": holds, "rule": rule, "memory": mem, "retry": ret}


def verdict_line(summary: Mapping[str, Any]) -> str:
    """One line: whether the claim held."""
    v = summary["verdict"]
    if not v["judged"]:
        return f"reflection helps: NOT JUDGED ({v['why']})"
    return f"reflection helps: {'HELD' if v['holds'] else 'did not hold'} (the rule: {v['rule']})"


def _fmt(e: Mapping[str, Any]) -> str:
    if e["method"] == "none":
        return f"{e['mean']:.3f}"
    return f"{e['mean']:.3f} [{e['lo']:.3f}, {e['hi']:.3f}]"


def report_markdown(summary: Mapping[str, Any]) -> str:
    """The summary as Markdown: the curve per arm, the budgets, the verdict."""
    c = summary["config"]
    n = int(c["trials"])
    lines = [
        f"# Reflexion as a learning curve: {c['env']}",
        "",
        f"LLM {c['llm']}, {summary['tasks']} held-out tasks (test split), seeds {c['seeds']}, base {c['base']}, "
        f"temperature {c['temperature']}. Success solved at or before trial i (cumulative); means over seeds with "
        "95% t intervals (one seed: bootstrap over tasks). Failure of a trial is the env's evaluator (an oracle).",
        "",
        "| arm | policy | " + " | ".join(f"trial {i + 1}" for i in range(n)) + " |",
        "|---|---|" + "---|" * n,
    ]
    for arm, r in summary["arms"].items():
        lines.append(f"| {arm} | {r['policy']} | " + " | ".join(_fmt(e) for e in r["success_by_trial"]) + " |")
    h = summary.get("held_out")
    if h:
        lines += [
            "",
            f"Held out (checked in code): {h['tasks']} tasks, splits {h['task_splits']}; "
            f"{h['example_questions']} few-shot example questions, {h['shared_questions']} shared with the tasks.",
        ]
    lines += [
        "",
        "## Budget per seed (mean)",
        "",
        "| arm | trials run | env steps | prompt tokens | completion tokens | wall s | errors | distinct retries |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm, r in summary["arms"].items():
        b = r["budget_mean_per_seed"]
        d = "-" if r["distinct_retries"] is None else f"{r['distinct_retries']:.2f}"
        lines.append(
            f"| {arm} | {b['trials']:.0f} | {b['env_steps']:.0f} | {b['prompt_tokens']:.0f} | "
            f"{b['completion_tokens']:.0f} | {b['wall_s']:.1f} | {r['errors']} | {d} |"
        )
    lines += [
        "",
        "Distinct retries: the share of tasks run more than once whose trials' actions were not all the same.",
        "",
        f"**{verdict_line(summary)}**",
    ]
    paired = summary.get("paired_last_trial")
    if paired:
        lines += [
            "",
            f"Memory minus retry at trial {n}, paired by seed (for information): "
            f"{paired['mean']:+.3f} [{paired['lo']:+.3f}, {paired['hi']:+.3f}] ({paired['n']} seeds).",
        ]
    return "\n".join(lines) + "\n"


def plot_trials(summary: Mapping[str, Any], path: str | Path) -> Path:
    """A PNG: success by trial index per arm with 95% bands, written atomically."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for arm, r in summary["arms"].items():
        curve = r["success_by_trial"]
        xs = list(range(1, len(curve) + 1))
        ax.plot(xs, [e["mean"] for e in curve], marker="o", label=arm)
        ax.fill_between(xs, [e["lo"] for e in curve], [e["hi"] for e in curve], alpha=0.2)
    ax.set_xlabel("trial")
    ax.set_ylabel("solved at or before trial (held-out)")
    ax.set_xticks(list(range(1, int(summary["config"]["trials"]) + 1)))
    ax.set_ylim(-0.02, 1.05)
    ax.set_title(str(summary["config"]["env"]).removeprefix("toolgym/"))
    ax.legend()
    fig.tight_layout()
    out = Path(path)
    tmp = out.with_name(out.name + ".tmp")
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    os.replace(tmp, out)
    return out


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_trials(
    config: TrialsConfig,
    out: str | Path,
    *,
    resume: bool = False,
    on_run: Callable[[str, int, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every arm x seed of ``config`` into ``out``; write ``summary.json``, ``report.md``, ``trials.png``.

    Args:
        config: The experiment.
        out: The run folder.
        resume: Continue a killed run: finished arm x seed results are read back (the config must be the same).
        on_run: Called after each arm x seed with ``(arm, seed, result)``.

    Returns:
        The summary.

    Raises:
        ConfigError: ``out`` holds another run (or any files, without ``resume``).
    """
    import gymnasium as gym

    from toolgym.agents.llm import make_llm
    from toolgym.splits import task_split

    root = Path(out)
    record = config.record()
    if root.exists() and any(root.iterdir()):
        if not resume:
            raise ConfigError(
                f"toolgym trials: {root} is not empty; pass --resume to continue that run, or another --out."
            )
        saved = root / "config.json"
        if saved.is_file() and read_json(saved) != json.loads(json.dumps(to_jsonable(record))):
            raise ConfigError(f"toolgym trials: {root} holds a run with another config; use another --out.")
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / "config.json", record)
    env = gym.make(config.env, **dict(config.env_kwargs))  # the split does not depend on the step limit
    try:
        task_ids = task_split(env, "test", config.tasks)
        if not task_ids:
            raise ConfigError(f"toolgym trials: {config.env} has no tasks in its test split.")
        held_out = held_out_check(env, config, task_ids)
    finally:
        env.close()
    if not held_out["disjoint"]:
        raise ConfigError(
            f"toolgym trials: the evaluated tasks are not held out ({held_out}); use examples='none' or another "
            "example source."
        )
    llm = None
    results: dict[str, dict[int, dict[str, Any]]] = {}
    for arm in config.arms:
        for seed in config.seeds:
            path = root / arm / f"seed-{seed}.json"
            if resume and path.is_file():
                res = read_json(path)
            else:
                llm = llm if llm is not None else make_llm(config.llm)
                res = _run_arm(config, arm, llm, int(seed), task_ids)
                write_json(path, res)
            results.setdefault(arm, {})[int(seed)] = res
            if on_run is not None:
                on_run(arm, int(seed), res)
    summary = summarize(config, results, held_out)
    write_json(root / "summary.json", summary)
    _write_text(root / "report.md", report_markdown(summary))
    plot_trials(summary, root / "trials.png")
    return summary
