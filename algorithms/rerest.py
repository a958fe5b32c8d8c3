"""Re-ReST (Dou et al. 2024): self-training where a reflector repairs the failed samples, verified by the env.

From a weak start ``M0`` (SFT on a few teacher demonstrations), each iteration ``i``:

1. the agent ``M_{i-1}`` samples ``k`` trajectories per training task; the solved ones (``info["success"]``)
   form ``D_M``;
2. the reflector ``R`` is trained - from the base model, or from a copy of ``M_{i-1}`` (``reflector_init``) - on
   (failed → successful) pairs of the same task from these samples plus its own verified repairs of earlier
   iterations (both rendered by
   :class:`~toolgym.agents.closed_loop.ClosedLoopReflector`'s own prompts: the failed attempt and its feedback
   as context, the successful trajectory as the trained text);
3. ``R`` re-solves each failed sample (at most ``max_reflections_per_task`` per task) *in the environment*, step
   by step, with the failed attempt and the env's feedback (never the gold answer) in its prompt; the repairs
   the env says are solved form ``D_R``;
4. ``M_i`` is fine-tuned (from the base model, or continuing) on ``D_M ∪ D_R`` - plus, with ``replay_demos``,
   that many of ``M0``'s demonstrations - in the agent's own format;
5. ``M_i`` is evaluated greedily on validation tasks and held-out test tasks (the curve).

The arms (``arm``):

* ``"rerest"`` - the method;
* ``"rerest_nofeedback"`` - the reflector sees the failed attempt but not the env's feedback (the paper's
  ablation);
* ``"rest_em_more"`` - the equal-compute control: no reflector; ``M`` draws extra samples (ReST-EM with more
  samples) until its sampling spend matches what a Re-ReST run spent on sampling *and* reflection in the same
  iteration (``budget_from``: that run's folder), on ``match_on`` (model tokens or env steps) within
  ``match_tolerance``; the match is reported per iteration (``budget_match``).

``reflector="oracle"`` puts the teacher - an expert that reads the env's privileged state, e.g.
``expert-teacher`` (the env's expert with templated thoughts) or, on ToolChoice-Arithmetic, ``calc-teacher`` -
in the reflector slot: a plumbing check in which every failure should be repaired.

A run writes ``iter-<i>/`` folders (samples, the reflector's data and repairs, SFT checkpoints, evaluations) and
``result.json``; ``resume=True`` continues a killed run.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from toolgym.agents import make_policy
from toolgym.agents.base import Policy, mix_seed
from toolgym.agents.closed_loop import ClosedLoopReflector, attempt_specs
from toolgym.agents.engine import EpisodeSpec
from toolgym.algorithms.ledger import Ledger
from toolgym.algorithms.models import build_model, trained_llm
from toolgym.algorithms.runconfig import StudentRun
from toolgym.algorithms.runio import cached_phase, read_json, write_json
from toolgym.algorithms.selftrain import (
    TaskSets,
    agent_policy,
    assess_agent,
    demonstrations,
    flat_row,
    sft_phase,
    task_sets,
)
from toolgym.algorithms.trajectories import (
    cap_per_task,
    collect,
    collect_episodes,
    dedupe,
    load_dataset,
    save_dataset,
    successes,
)
from toolgym.error import ConfigError
from toolgym.records import Trajectory

__all__ = ["ARMS", "M0_FIELDS", "MATCH_ON", "ReReSTConfig", "reflector_pairs", "run_rerest"]

#: The arms of a Re-ReST experiment (see the module docstring).
ARMS = ("rerest", "rerest_nofeedback", "rest_em_more")
#: What the equal-compute control matches: model tokens (prompt + completion) or env steps.
MATCH_ON = ("tokens", "env_steps")
#: The settings that determine ``M0`` and the task sets: a run reuses another's ``M0`` (``m0_from``) only when
#: all of these agree.
M0_FIELDS = (
    "env",
    "env_kwargs",
    "eval_env_kwargs",
    "teacher",
    "demo_tasks",
    "train_tasks",
    "valid_tasks",
    "eval_tasks",
    "style",
    "thoughts",
    "max_tokens",
    "max_steps",
    "model",
    "train",
    "seed",
    "steps_demo",
)
#: What ``M0`` leaves in a run folder (under ``iter-0/``), and the ledger phases it charges.
_M0_FILES = ("data", "sft/final", "train.json", "eval.json")
_M0_PHASES = ("teacher", "iter0/train", "iter0/eval")


@dataclass(frozen=True)
class ReReSTConfig(StudentRun):
    """One Re-ReST run (one arm, one seed): the fields of :class:`~.runconfig.StudentRun` and these.

    Attributes:
        env_kwargs: The env's arguments for training, sampling, reflection and validation.
        demo_tasks: Demonstration tasks (the first of the ``train`` split).
        train_tasks: Tasks sampled at each iteration (the next ones).
        valid_tasks: Early-stopping tasks (the ones after those; never trained on).
        iterations: Self-training iterations after ``M0``.
        samples_per_task: ``k``.
        temperature: Sampling temperature of the agent.
        max_per_task: Solved trajectories kept per task, in ``D_M`` and in ``D_R`` each.
        max_reflections_per_task: Failed samples per task handed to the reflector.
        reflector: ``"learned"`` (a model trained as in the module docstring) or ``"oracle"`` (the ``teacher``
            policy, an expert).
        reflect_temperature: Sampling temperature of the reflector.
        attempt_steps: The reflector sees the last this many steps of a failed attempt (``None``: all of them).
        pairs_per_task: (failed → successful) training pairs of the reflector per task.
        from_base: Fine-tune each ``M_i`` from the base model (True, as ReST-EM) or continue from ``M_{i-1}``.
        reflector_init: What ``R_i`` is fine-tuned from: ``"base"`` (the untrained base model, as the paper's
            pretrained LLM) or ``"agent"`` (a copy of ``M_{i-1}``: for a base model trained from scratch, which
            has no skill of its own for the reflector to start from). Either way ``R_i`` is trained on this
            iteration's pairs and all its earlier repairs.
        steps_demo: SFT steps of ``M0``.
        steps_per_iteration: SFT steps of each ``M_i``.
        iteration_learning_rate: The learning rate of each ``M_i`` (``i >= 1``); ``None``: ``train.learning_rate``,
            the one ``M0`` was trained with. Not an ``M0`` setting, so arms that differ only in it share ``M0``
            (``m0_from``): a model that continues from ``M0`` on a few hundred trajectories may need a smaller
            step than ``M0`` took from scratch (on MultiHop, 2e-3 made every arm fall below ``M0``).
        steps_reflector: SFT steps of each ``R_i``.
        replay_demos: Demonstrations (the first this many of ``M0``'s) mixed into each ``M_i``'s data, so that a
            model continuing from ``M0`` on a few hundred of its own trajectories keeps seeing the teacher's
            (0: none, as the paper; not an ``M0`` setting).
        arm: ``"rerest"``, ``"rerest_nofeedback"`` or ``"rest_em_more"``.
        budget_from: For ``rest_em_more``: the folder (or ``result.json``) of the Re-ReST run to match.
        match_on: ``"tokens"`` or ``"env_steps"``.
        match_tolerance: The relative gap the match aims within (and reports).
        evaluate_base: Also evaluate the untrained base model.
        m0_from: A finished run (its folder) of the same seed and the same ``M0`` settings (:data:`M0_FIELDS`)
            whose ``M0`` - demonstrations, checkpoint, evaluation and their ledger rows - this run reuses instead
            of training its own: the arms of one seed start from the same ``M0`` by construction, so training it
            once per seed saves compute without changing a result.
        model: The base model of the agent and of the reflector.
    """

    demo_tasks: int = 100
    train_tasks: int = 1000
    valid_tasks: int = 100
    iterations: int = 1
    samples_per_task: int = 4
    temperature: float = 1.0
    max_per_task: int = 10
    max_reflections_per_task: int = 2
    reflector: str = "learned"
    reflect_temperature: float = 0.7
    reflector_init: str = "base"
    attempt_steps: int | None = None
    pairs_per_task: int = 2
    from_base: bool = True
    steps_demo: int = 200
    steps_per_iteration: int = 300
    iteration_learning_rate: float | None = None
    steps_reflector: int = 300
    replay_demos: int = 0
    arm: str = "rerest"
    budget_from: str | None = None
    match_on: str = "tokens"
    match_tolerance: float = 0.05
    evaluate_base: bool = False
    m0_from: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.arm not in ARMS:
            raise ConfigError(f"ReReSTConfig.arm: expected one of {list(ARMS)}, got {self.arm!r}.")
        if self.reflector not in ("learned", "oracle"):
            raise ConfigError(f"ReReSTConfig.reflector: expected 'learned' or 'oracle', got {self.reflector!r}.")
        if self.reflector_init not in ("base", "agent"):
            raise ConfigError(f"ReReSTConfig.reflector_init: expected 'base' or 'agent', got {self.reflector_init!r}.")
        if self.match_on not in MATCH_ON:
            raise ConfigError(f"ReReSTConfig.match_on: expected one of {list(MATCH_ON)}, got {self.match_on!r}.")
        if self.arm == "rest_em_more" and not self.budget_from:
            raise ConfigError(
                "ReReSTConfig: arm 'rest_em_more' matches a Re-ReST run's spend; expected budget_from= (that run's "
                "folder), got none. Run the 'rerest' arm first with the same seed and settings."
            )
        if self.iterations < 0 or self.samples_per_task < 1 or self.temperature <= 0:
            raise ConfigError(
                "ReReSTConfig: expected iterations >= 0, samples_per_task >= 1 and temperature > 0, got "
                f"{self.iterations}, {self.samples_per_task}, {self.temperature}."
            )
        if self.iteration_learning_rate is not None and not self.iteration_learning_rate > 0:
            raise ConfigError(
                "ReReSTConfig.iteration_learning_rate: expected a learning rate > 0, or None for train.learning_rate, "
                f"got {self.iteration_learning_rate!r}."
            )
        if self.replay_demos < 0:
            raise ConfigError(f"ReReSTConfig.replay_demos: expected a count >= 0, got {self.replay_demos!r}.")
        if self.max_reflections_per_task < 1 or self.pairs_per_task < 0 or not 0 < self.match_tolerance < 1:
            raise ConfigError(
                "ReReSTConfig: expected max_reflections_per_task >= 1, pairs_per_task >= 0 and "
                f"0 < match_tolerance < 1, got {self.max_reflections_per_task}, {self.pairs_per_task}, "
                f"{self.match_tolerance}."
            )


def reflector_pairs(samples: Sequence[Trajectory], per_task: int) -> list[tuple[Trajectory, Trajectory]]:
    """(failed → successful) pairs of the same task, at most ``per_task`` per task.

    Failures are taken in order, each paired with the task's successes in turn.

    Example:
        >>> from toolgym.records import Step
        >>> def t(task, ok): return Trajectory("e", task, "q", (Step("a", "o"),), ok)
        >>> [(f.task_id, s.task_id) for f, s in reflector_pairs([t("a", 0), t("a", 1), t("b", 0), t("a", 0)], 5)]
        [('a', 'a'), ('a', 'a')]
    """
    by_task: dict[tuple[str, str], tuple[list[Trajectory], list[Trajectory]]] = {}
    for t in samples:
        if t.steps:
            by_task.setdefault((t.env_id, t.task_id), ([], []))[bool(t.success)].append(t)
    pairs = []
    for failed, solved in by_task.values():
        if solved:
            pairs += [(f, solved[j % len(solved)]) for j, f in enumerate(failed[:per_task])]
    return pairs


def _spend(row: Mapping[str, float], match_on: str) -> float:
    if match_on == "tokens":
        return float(row.get("prompt_tokens", 0.0) + row.get("completion_tokens", 0.0))
    return float(row.get("env_steps", 0.0))


def _targets(budget_from: str) -> dict[int, dict[str, float]]:
    """Per iteration, what the Re-ReST run spent on sampling and reflection (tokens and env steps)."""
    path = Path(budget_from)
    path = path / "result.json" if path.is_dir() else path
    if not path.is_file():
        raise ConfigError(f"run_rerest: budget_from: expected a Re-ReST run's result.json at {path}, found none.")
    result = read_json(path)
    if result.get("method") != "rerest" or result.get("arm") == "rest_em_more":
        raise ConfigError(f"run_rerest: budget_from: expected a Re-ReST run (arm rerest*), got {path}.")
    phases = result["ledger"]["phases"]
    out: dict[int, dict[str, float]] = {}
    for i in range(1, int(result["config"]["iterations"]) + 1):
        rows = [phases.get(f"iter{i}/sample", {}), phases.get(f"iter{i}/reflect", {})]
        out[i] = {m: sum(_spend(r, m) for r in rows) for m in MATCH_ON}
    return out


def run_rerest(config: ReReSTConfig, out: str | Path, *, resume: bool = False) -> dict[str, Any]:
    """Run one arm of Re-ReST (see the module docstring); returns and writes ``result.json``."""
    out = Path(out)
    if not resume and (out / "result.json").exists():
        raise ConfigError(f"run_rerest: {out} holds a finished run; use another folder or resume=True.")
    out.mkdir(parents=True, exist_ok=True)
    targets = _targets(str(config.budget_from)) if config.arm == "rest_em_more" else {}
    sets = task_sets(config, caller="run_rerest")
    ledger_path = out / "ledger.json"
    ledger = Ledger.from_dict(read_json(ledger_path)) if resume and ledger_path.exists() else Ledger()
    run = _Run(config, out, resume, sets, ledger)
    m0_run = run
    if config.m0_from:  # M0's phases are read back from the adopted files (the same run, resume on)
        _adopt_m0(config, Path(config.m0_from), out, ledger)
        run.save_ledger()
        m0_run = copy.copy(run)
        m0_run.resume = True

    base_row = None
    if config.evaluate_base:
        base_model, base_tok = build_model(config.model)
        base_row = flat_row(run.evaluated(out / "base_eval.json", base_model, base_tok, "base/eval"))
        del base_model
    demos = demonstrations(config, sets.demos, ledger, out / "iter-0" / "data", resume=m0_run.resume)
    model, tok, summary = m0_run.train_agent(demos, config.steps_demo, 0, None)
    curve = [
        {
            "iteration": 0,
            "data": len(demos),
            "sft_steps_total": summary["steps"],
            **flat_row(m0_run.evaluated(out / "iter-0" / "eval.json", model, tok, "iter0/eval")),
        }
    ]
    repairs_so_far: list[Trajectory] = []  # R's verified repairs of earlier iterations (R trains on them too)
    matches = []
    for i in range(1, config.iterations + 1):
        folder = out / f"iter-{i}"
        samples = run.sampled(folder / "samples", model, tok, i, targets.get(i))
        d_m = cap_per_task(dedupe(successes(samples)), config.max_per_task)
        d_r: list[Trajectory] = []
        if config.arm == "rest_em_more":
            matches.append(run.match_report(i, targets[i]))
        else:
            d_r = run.reflected(folder, samples, repairs_so_far, i, agent=(model, tok))
            repairs_so_far += d_r
        data = d_m + d_r
        save_dataset(folder / "data", data, {"phase": f"iteration {i}", "d_m": len(d_m), "d_r": len(d_r)})
        replayed = demos[: config.replay_demos] if data else []
        if data:
            start = None if config.from_base else (model, tok)
            model, tok, summary = run.train_agent(
                data + replayed, config.steps_per_iteration, i, start, fallback=(model, tok)
            )
        else:  # nothing solved or repaired: M_i = M_{i-1}
            write_json(folder / "train.json", {"steps": 0, "skipped": "no solved or repaired trajectory"})
        row = run.evaluated(folder / "eval.json", model, tok, f"iter{i}/eval")
        curve.append(
            {
                "iteration": i,
                "data": len(data),
                "d_m": len(d_m),
                "d_r": len(d_r),
                "replayed_demos": len(replayed),
                "failures": sum(not t.success for t in samples if t.steps),
                "sft_steps_total": config.steps_demo + i * config.steps_per_iteration,
                **flat_row(row),
            }
        )
    write_json(ledger_path, ledger.to_dict())
    result = {
        "method": "rerest",
        "arm": config.arm,
        "reflector": config.reflector if config.arm != "rest_em_more" else None,
        "seed": config.seed,
        "env": config.env,
        "curve": curve,
        "base": base_row,
        "budget_match": matches,
        "ledger": ledger.to_dict(),
        "held_out": sets.report,
        "m0_from": config.m0_from,
        "config": config.to_dict(),
    }
    write_json(out / "result.json", result)
    return result


def _adopt_m0(config: ReReSTConfig, source: Path, out: Path, ledger: Ledger) -> None:
    """Copy ``M0`` (its ``iter-0`` files and ledger rows) from the finished run ``source`` into ``out``.

    Raises:
        ConfigError: ``source`` is not a finished run, or it trained ``M0`` with other settings.
    """
    import shutil

    if (out / "iter-0" / "eval.json").is_file():  # adopted before (a resumed run)
        return
    done = source / "result.json"
    if not done.is_file():
        raise ConfigError(f"ReReSTConfig.m0_from: {source} holds no finished run (no result.json); run that arm first.")
    theirs, ours = read_json(done)["config"], json.loads(json.dumps(config.to_dict()))  # as JSON has it (lists)
    differ = [f for f in M0_FIELDS if theirs.get(f) != ours.get(f)]
    if differ:
        raise ConfigError(
            f"ReReSTConfig.m0_from: {source} trained M0 with other settings ({', '.join(differ)}: "
            f"{[theirs.get(f) for f in differ]} there, {[ours.get(f) for f in differ]} here); reuse a run with "
            "the same M0 settings and seed, or drop m0_from."
        )
    for name in _M0_FILES:
        src, dst = source / "iter-0" / name, out / "iter-0" / name
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    phases = Ledger.from_dict(read_json(source / "ledger.json")).phases
    for p in _M0_PHASES:
        if p in phases:
            ledger.add(p, **phases[p])


class _Run:
    """The phases of one run (the config, its folder, the ledger), so :func:`run_rerest` reads as the loop."""

    def __init__(
        self,
        config: ReReSTConfig,
        out: Path,
        resume: bool,
        sets: TaskSets,
        ledger: Ledger,
    ) -> None:
        import gymnasium as gym

        self.config, self.out, self.resume, self.sets, self.ledger = config, out, resume, sets, ledger
        self.env = gym.make(config.env, **dict(config.env_kwargs))  # renders training text as the policies prompt

    def save_ledger(self) -> None:
        write_json(self.out / "ledger.json", self.ledger.to_dict())

    # -------------------------------------------------------------------------------------- policies
    def agent(self, model: Any, tok: Any, *, sample: bool) -> Any:
        return agent_policy(self.config, model, tok, sample=sample)

    def reflector_policy(self, model: Any, tok: Any, *, sample: bool) -> ClosedLoopReflector:
        c = self.config
        return ClosedLoopReflector(
            trained_llm(model, tok),
            feedback=c.arm != "rerest_nofeedback",
            attempt_steps=c.attempt_steps,
            style=c.style,
            thoughts=c.thoughts,
            examples="none",
            max_tokens=c.max_tokens,
            temperature=c.reflect_temperature if sample else 0.0,
            seed=c.seed if sample else None,
        )

    # -------------------------------------------------------------------------------------- phases
    def evaluated(self, path: Path, model: Any, tok: Any, phase: str) -> dict[str, Any]:

        def run() -> dict[str, Any]:
            return assess_agent(self.config, model, tok, self.sets, ledger=self.ledger, phase=phase)

        row = cached_phase(path, run, resume=self.resume)
        self.save_ledger()
        return row

    def train_agent(
        self,
        data: Sequence[Trajectory],
        steps: int,
        i: int,
        start: tuple[Any, Any] | None,
        fallback: tuple[Any, Any] | None = None,
    ) -> tuple[Any, Any, dict[str, Any]]:
        c = self.config
        train = c.train
        if i >= 1 and c.iteration_learning_rate is not None:
            train = replace(train, learning_rate=c.iteration_learning_rate)
        model, tok, summary = sft_phase(
            c.model,
            train,
            data,
            renderer=lambda m, t: self.agent(m, t, sample=False),
            folder=self.out / f"iter-{i}",
            steps=steps,
            seed=c.seed + i,
            ledger=self.ledger,
            env=self.env,
            phase=f"iter{i}/train",
            resume=self.resume,
            start=start,
        )
        self.save_ledger()
        if summary.get("skipped") and fallback is not None:
            return fallback[0], fallback[1], summary
        return model, tok, summary

    def _collect(self, policy: Policy, specs: Sequence[EpisodeSpec], phase: str) -> list[Trajectory]:
        c = self.config
        return collect_episodes(
            policy,
            c.env,
            specs,
            num_envs=c.num_envs,
            env_kwargs=c.env_kwargs,
            max_steps=c.max_steps,
            ledger=self.ledger,
            phase=phase,
        )

    def sampled(
        self, folder: Path, model: Any, tok: Any, i: int, target: Mapping[str, float] | None
    ) -> list[Trajectory]:
        """``k`` samples per task of ``M_{i-1}`` (for ``rest_em_more``: more, up to the matched spend)."""
        c = self.config
        if self.resume and (folder / "manifest.json").exists():
            return load_dataset(folder)[0]
        phase = f"iter{i}/sample"
        policy = self.agent(model, tok, sample=True)
        seed = c.seed * 1000 + i
        samples = collect(
            policy,
            c.env,
            self.sets.train,
            k=c.samples_per_task,
            seed=seed,
            num_envs=c.num_envs,
            env_kwargs=c.env_kwargs,
            max_steps=c.max_steps,
            ledger=self.ledger,
            phase=phase,
        )
        extra = 0
        if target is not None:  # the equal-compute control: extra samples until the spend matches
            goal = target[c.match_on]
            for _ in range(50):
                row = self.ledger.phases.get(phase, {})
                spent, episodes = _spend(row, c.match_on), row.get("episodes", 0.0)
                if spent >= goal * (1 - c.match_tolerance / 2) or episodes == 0 or spent == 0:
                    break
                per_episode = spent / episodes
                n = max(1, math.floor((goal - spent) / per_episode * 0.9))
                specs = self._extra_specs(extra, n, seed)
                samples += self._collect(policy, specs, phase)
                extra += n
        save_dataset(folder, samples, {"phase": f"iteration {i} samples", "extra_samples": extra})
        self.save_ledger()
        return samples

    def _extra_specs(self, start: int, n: int, seed: int) -> list[EpisodeSpec]:
        """Extra samples ``start .. start + n - 1`` beyond ``k``.

        Round-robin over the tasks, sample indices ``k, k + 1, ...``, seeded as
        :func:`~toolgym.algorithms.trajectories.collect` seeds its samples.
        """
        tasks, k = self.sets.train, self.config.samples_per_task
        specs = []
        for c in range(start, start + n):
            j = k + c // len(tasks)
            specs.append(EpisodeSpec(seed=mix_seed(seed, j) % 2**31, task_id=tasks[c % len(tasks)]))
        return specs

    def match_report(self, i: int, target: Mapping[str, float]) -> dict[str, Any]:
        """How the control's sampling spend compares with the Re-ReST run's sampling and reflection."""
        row = self.ledger.phases.get(f"iter{i}/sample", {})
        report: dict[str, Any] = {"iteration": i, "match_on": self.config.match_on}
        for m in MATCH_ON:
            spent = _spend(row, m)
            report[m] = {"rerest": target[m], "control": spent, "ratio": spent / target[m] if target[m] else None}
        ratio = report[self.config.match_on]["ratio"]
        report["matched"] = ratio is not None and abs(ratio - 1) <= self.config.match_tolerance
        return report

    def reflected(
        self,
        folder: Path,
        samples: Sequence[Trajectory],
        earlier: Sequence[Trajectory],
        i: int,
        *,
        agent: tuple[Any, Any],
    ) -> list[Trajectory]:
        """Train ``R_i`` (learned reflector), let it re-solve the failures in the env, keep the verified repairs.

        ``agent`` is ``M_{i-1}`` (what ``R_i`` starts from when ``reflector_init="agent"``; it is copied, never
        changed).
        """
        c = self.config
        repairs_dir = folder / "repairs"
        if self.resume and (repairs_dir / "manifest.json").exists():
            repairs = load_dataset(repairs_dir)[0]
            return cap_per_task(dedupe(successes(repairs)), c.max_per_task)
        failed = [t for t in samples if t.steps and not t.success]
        failed = cap_per_task(failed, c.max_reflections_per_task)
        if c.reflector == "oracle":
            policy: Any = _policy(c.teacher)
            specs = attempt_specs(failed, seed=c.seed + i)
        else:
            pairs = reflector_pairs(samples, c.pairs_per_task)
            pairs += [(Trajectory.from_dict(r.metadata["attempt"]), r) for r in earlier if "attempt" in r.metadata]
            policy = self._trained_reflector(folder, pairs, i, agent)
            specs = policy.assign(failed, seed=c.seed + i)
        repairs = self._collect(policy, specs, f"iter{i}/reflect")
        repairs = [
            replace(r, metadata={**r.metadata, "repaired": True, "attempt": f.to_dict()})
            for r, f in zip(repairs, failed)
        ]
        save_dataset(repairs_dir, repairs, {"phase": f"iteration {i} repairs", "failures": len(failed)})
        self.save_ledger()
        return cap_per_task(dedupe(successes(repairs)), c.max_per_task)

    def _trained_reflector(
        self, folder: Path, pairs: Sequence[tuple[Trajectory, Trajectory]], i: int, agent: tuple[Any, Any]
    ) -> ClosedLoopReflector:
        """``R_i``: trained on (failed → successful) pairs (this iteration's and its own earlier verified repairs)."""
        c = self.config
        model, tok = build_model(c.model) if c.reflector_init == "base" else (copy.deepcopy(agent[0]), agent[1])
        renderer = self.reflector_policy(model, tok, sample=False)
        targets = [
            replace(s, metadata={**s.metadata, "seed": spec.seed}) for (_, s), spec in _assigned(renderer, pairs)
        ]
        save_dataset(folder / "reflector_data", targets, {"phase": f"iteration {i} reflector", "pairs": len(pairs)})
        if targets:
            model, tok, _ = sft_phase(
                c.model,
                c.train,
                targets,
                renderer=lambda m, t: renderer,
                folder=folder / "reflector",
                steps=c.steps_reflector,
                seed=c.seed + 7919 * i,
                ledger=self.ledger,
                env=self.env,
                phase=f"iter{i}/train_reflector",
                resume=self.resume,
                start=(model, tok),
            )
            self.save_ledger()
        return self.reflector_policy(model, tok, sample=True)


def _policy(spec: str | Mapping[str, Any]) -> Any:
    """A policy from a name or ``{"name": ..., "config": {...}}``."""
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    return make_policy(spec["name"], **dict(spec.get("config", {})))


def _assigned(
    reflector: ClosedLoopReflector, pairs: Sequence[tuple[Trajectory, Trajectory]]
) -> list[tuple[tuple[Trajectory, Trajectory], EpisodeSpec]]:
    """Register each pair's failed attempt with the reflector; the spec names the context of its training text."""
    specs = reflector.assign([f for f, _ in pairs], seed=len(pairs))
    return list(zip(pairs, specs))
