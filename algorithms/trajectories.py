"""Datasets of trajectories: collect, filter on success, de-duplicate, cap, mix methods, split, save.

The training data of every self-training method in toolgym goes through here:

* :func:`collect` - ``k`` samples per task from any policy over ``num_envs`` envs (each sample its own
  episode, so a sampling policy gives ``k`` different trajectories), charged to a :class:`Ledger`;
  :func:`collect_episodes` runs given episodes (a reflector's repairs), charged likewise;
* :func:`successes` keeps the trajectories whose episode ended with ``info["success"]`` — never a reward
  threshold: tool costs make a success's reward smaller than 1;
* :func:`dedupe`, :func:`cap_per_task`, :func:`split_by_task`;
* FireAct's multi-method mix: :func:`cot_as_react` (a chain of thought as a one-step trajectory) and
  :func:`merge_trials` (Reflexion's trials inside one trajectory);
* :func:`save_dataset` / :func:`load_dataset`: JSON lines plus a ``manifest.json`` (task ids, config, budget,
  counts), written atomically (a folder renamed into place).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from toolgym.agents import EpisodeSpec, rollout
from toolgym.agents.base import Policy, mix_seed
from toolgym.algorithms.ledger import Ledger
from toolgym.error import ConfigError
from toolgym.records import Step, Trajectory, append_jsonl, read_jsonl

__all__ = [
    "cap_per_task",
    "collect",
    "collect_episodes",
    "cot_as_react",
    "dedupe",
    "load_dataset",
    "merge_trials",
    "save_dataset",
    "split_by_task",
    "successes",
]


def collect(
    policy: Policy,
    env: str,
    task_ids: Sequence[str],
    *,
    k: int = 1,
    seed: int = 0,
    num_envs: int = 16,
    env_kwargs: Mapping[str, Any] | None = None,
    max_steps: int | None = None,
    ledger: Ledger | None = None,
    phase: str = "collect",
    method: str | None = None,
    on_episode: Callable[[Any], None] | None = None,
) -> list[Trajectory]:
    """Run ``policy`` ``k`` times on each task and return the trajectories (all of them, failures included).

    Sample ``j`` of a task is its own episode with reset seed ``mix(seed, j)``, so a sampling policy with a seed
    draws ``k`` independent samples, the same whatever ``num_envs`` is.

    Args:
        policy: Any policy (:func:`~toolgym.agents.make_policy`).
        env: A registered env id.
        task_ids: The tasks (e.g. ``task_split(env, "train", n)``).
        k: Samples per task.
        seed: Seeds the episodes' reset seeds.
        num_envs: Episodes run side by side (one batched model call per round).
        env_kwargs: Passed to ``gymnasium.make``.
        max_steps: Step cap per episode.
        ledger: Charged with the episodes, tokens and time, under ``phase``.
        phase: The ledger phase.
        method: Recorded in each trajectory's metadata (default: the policy's name).
        on_episode: Called with each finished :class:`~toolgym.agents.Episode`.

    Returns:
        The last trial of each episode, in task order then sample order, with ``metadata["method"]``,
        ``metadata["sample"]`` and ``metadata["tokens"]``.
    """
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"collect: expected k >= 1 samples per task, got {k!r}.")
    specs = [EpisodeSpec(seed=mix_seed(seed, j) % 2**31, task_id=t) for t in task_ids for j in range(k)]
    out = collect_episodes(
        policy,
        env,
        specs,
        num_envs=num_envs,
        env_kwargs=env_kwargs,
        max_steps=max_steps,
        ledger=ledger,
        phase=phase,
        method=method,
        on_episode=on_episode,
    )
    return [replace(t, metadata={**t.metadata, "sample": i % k}) for i, t in enumerate(out)]


def collect_episodes(
    policy: Policy,
    env: str,
    specs: Sequence[EpisodeSpec],
    *,
    num_envs: int = 16,
    env_kwargs: Mapping[str, Any] | None = None,
    max_steps: int | None = None,
    ledger: Ledger | None = None,
    phase: str = "collect",
    method: str | None = None,
    on_episode: Callable[[Any], None] | None = None,
) -> list[Trajectory]:
    """Run ``policy`` on given episodes (e.g. a reflector's repairs) and return their trajectories.

    Args:
        policy: Any policy.
        env: A registered env id.
        specs: The episodes (reset seed and task of each).
        num_envs: Episodes run side by side.
        env_kwargs: Passed to ``gymnasium.make``.
        max_steps: Step cap per episode.
        ledger: Charged with the episodes, tokens and time, under ``phase``.
        phase: The ledger phase.
        method: Recorded in each trajectory's metadata (default: the policy's name).
        on_episode: Called with each finished :class:`~toolgym.agents.Episode`.

    Returns:
        The last trial of each episode, in the order of ``specs``, with ``metadata["method"]`` and
        ``metadata["tokens"]``.
    """
    start = time.perf_counter()
    episodes = rollout(
        policy,
        env,
        episodes=list(specs),
        num_envs=num_envs,
        env_kwargs=dict(env_kwargs or {}),
        max_steps=max_steps,
        on_episode=on_episode,
    )
    if ledger is not None:
        ledger.add_episodes(phase, episodes, wall_s=time.perf_counter() - start)
    name = method or str(getattr(policy, "name", type(policy).__name__))
    out = []
    for e in episodes:
        meta = {**e.trajectory.metadata, "method": name, "tokens": dict(e.result.tokens)}
        if e.result.error:
            meta["error"] = e.result.error
        out.append(replace(e.trajectory, metadata=meta))
    return out


def successes(trajectories: Iterable[Trajectory]) -> list[Trajectory]:
    """The trajectories whose episode ended solved (``info["success"]``; never inferred from the reward)."""
    return [t for t in trajectories if t.success and t.steps]


def _signature(t: Trajectory) -> tuple[Any, ...]:
    return (t.env_id, t.task_id, tuple(((s.thought or "").strip(), s.action.strip()) for s in t.steps))


def dedupe(trajectories: Iterable[Trajectory]) -> list[Trajectory]:
    """Drop repeats: the same task with the same thoughts and actions (the first one is kept)."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for t in trajectories:
        sig = _signature(t)
        if sig not in seen:
            seen.add(sig)
            out.append(t)
    return out


def cap_per_task(trajectories: Iterable[Trajectory], cap: int) -> list[Trajectory]:
    """Keep at most ``cap`` trajectories per task (the first ones; ReST-EM keeps at most 10 per problem)."""
    counts: dict[tuple[str, str], int] = {}
    out = []
    for t in trajectories:
        key = (t.env_id, t.task_id)
        if counts.get(key, 0) < cap:
            counts[key] = counts.get(key, 0) + 1
            out.append(t)
    return out


def split_by_task(trajectories: Sequence[Trajectory], valid_fraction: float, *, seed: int = 0) -> tuple[list, list]:
    """Split into (train, valid) by task, so that no task is in both.

    Args:
        trajectories: The data.
        valid_fraction: Share of the tasks held out for validation (early stopping).
        seed: Seeds the choice of tasks.
    """
    if not 0 <= valid_fraction < 1:
        raise ConfigError(f"split_by_task: expected 0 <= valid_fraction < 1, got {valid_fraction!r}.")
    tasks = sorted({(t.env_id, t.task_id) for t in trajectories})
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(tasks))
    held = {tasks[i] for i in order[: int(round(valid_fraction * len(tasks)))]}
    train = [t for t in trajectories if (t.env_id, t.task_id) not in held]
    valid = [t for t in trajectories if (t.env_id, t.task_id) in held]
    return train, valid


def cot_as_react(
    env_id: str, task_id: str, question: str, reasoning: str, answer_action: str, *, success: bool, score: float = 0.0
) -> Trajectory:
    """A chain of thought as a one-step ReAct trajectory (``Thought: <reasoning>`` / ``Action: finish[...]``).

    This is how FireAct mixes CoT data with ReAct data: the agent may answer at once, without tools.
    """
    step = Step(
        action=answer_action,
        observation=f"Episode finished, reward = {bool(success)}",
        terminated=True,
        thought=reasoning.strip() or None,
        info={"success": bool(success), "score": float(score)},
    )
    return Trajectory(env_id, task_id, question, (step,), bool(success), float(score), {"method": "cot"})


def merge_trials(trials: Sequence[Trajectory], reflections: Sequence[str]) -> Trajectory:
    """Reflexion's trials as one trajectory: each failed trial, then its reflection as the next trial's first thought.

    The last observation of a failed trial (``Episode finished, reward = False``) stays, so the trajectory reads
    as FireAct's Reflexion data: a failed attempt, a reflection, and a new attempt.

    Args:
        trials: The trials in order (the last one usually successful).
        reflections: One reflection per failed trial (``len(trials) - 1``).
    """
    if not trials:
        raise ConfigError("merge_trials: expected at least one trial.")
    if len(reflections) != len(trials) - 1:
        raise ConfigError(f"merge_trials: expected {len(trials) - 1} reflections, got {len(reflections)}.")
    steps: list[Step] = list(trials[0].steps)
    for trial, reflection in zip(trials[1:], reflections):
        if not trial.steps:
            continue
        first = trial.steps[0]
        thought = f"Reflection: {reflection.strip()} {first.thought or ''}".strip()
        steps += [replace(first, thought=thought), *trial.steps[1:]]
    last = trials[-1]
    meta = {**last.metadata, "method": "reflexion", "trials": len(trials)}
    return Trajectory(last.env_id, last.task_id, trials[0].question, tuple(steps), last.success, last.score, meta)


def save_dataset(
    folder: str | os.PathLike[str], trajectories: Sequence[Trajectory], manifest: Mapping[str, Any]
) -> Path:
    """Write ``trajectories.jsonl`` and ``manifest.json`` into ``folder`` atomically (a temp folder renamed).

    The manifest gets ``counts`` (trajectories, tasks, successes, per method) added.
    """
    out = Path(folder)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "trajectories.jsonl").touch()  # an empty dataset is a dataset (read back on resume)
    append_jsonl(tmp / "trajectories.jsonl", trajectories)
    methods: dict[str, int] = {}
    for t in trajectories:
        m = str(t.metadata.get("method", "unknown"))
        methods[m] = methods.get(m, 0) + 1
    full = {
        **dict(manifest),
        "counts": {
            "trajectories": len(trajectories),
            "tasks": len({(t.env_id, t.task_id) for t in trajectories}),
            "successes": sum(bool(t.success) for t in trajectories),
            "methods": methods,
        },
    }
    (tmp / "manifest.json").write_text(json.dumps(full, indent=2, sort_keys=True, default=str), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def load_dataset(folder: str | os.PathLike[str]) -> tuple[list[Trajectory], dict[str, Any]]:
    """Read a dataset written by :func:`save_dataset`: the trajectories and the manifest."""
    root = Path(folder)
    if not (root / "trajectories.jsonl").is_file():
        raise ConfigError(f"load_dataset: expected {root}/trajectories.jsonl (written by save_dataset), found none.")
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    return read_jsonl(root / "trajectories.jsonl", Trajectory), manifest
