"""Held-out evaluation of a policy: success on test tasks, with the check that they were held out.

:func:`evaluate` rolls a policy out on given task ids and returns per-episode results; :func:`held_out_report`
checks that the evaluated tasks share no id and no question text with the training, collection and few-shot
tasks (:func:`toolgym.splits.overlap_report`) and raises if they do, so no experiment can report a number
measured on its training data.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from toolgym.agents import rollout
from toolgym.agents.base import Policy
from toolgym.algorithms.ledger import Ledger
from toolgym.error import ConfigError
from toolgym.splits import overlap_report, task_questions

__all__ = ["EvalResult", "evaluate", "held_out_report"]


@dataclass
class EvalResult:
    """Success of one evaluation.

    Attributes:
        success: Per task id, in order.
        score: Per task id (the env's metric).
        tokens: Prompt plus completion tokens spent.
        env_steps: Steps taken.
        records: The episodes' result records (JSON-ready).
    """

    success: list[bool] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    tokens: int = 0
    env_steps: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """The success rate."""
        return sum(self.success) / len(self.success) if self.success else 0.0

    def summary(self) -> dict[str, Any]:
        """Counts and rate (JSON-ready)."""
        return {
            "episodes": len(self.success),
            "successes": int(sum(self.success)),
            "success_rate": self.rate,
            "mean_score": sum(self.score) / len(self.score) if self.score else 0.0,
            "tokens": self.tokens,
            "env_steps": self.env_steps,
        }


def evaluate(
    policy: Policy,
    env: str,
    task_ids: Sequence[str],
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    num_envs: int = 32,
    max_steps: int | None = None,
    ledger: Ledger | None = None,
    phase: str = "eval",
    seed: int = 0,
) -> EvalResult:
    """Roll ``policy`` out once on each task (reset seed ``seed``) and collect its success.

    Args:
        policy: The policy (greedy decoding makes the evaluation deterministic).
        env: A registered env id.
        task_ids: Held-out tasks (check them with :func:`held_out_report`).
        env_kwargs: Passed to ``gymnasium.make``.
        num_envs: Episodes side by side.
        max_steps: Step cap per episode.
        ledger: Charged under ``phase``.
        phase: The ledger phase.
        seed: The reset seed of every episode.
    """
    start = time.perf_counter()
    episodes = rollout(
        policy,
        env,
        seeds=[seed] * len(task_ids),
        task_ids=list(task_ids),
        num_envs=num_envs,
        env_kwargs=dict(env_kwargs or {}),
        max_steps=max_steps,
    )
    if ledger is not None:
        ledger.add_episodes(phase, episodes, wall_s=time.perf_counter() - start)
    out = EvalResult()
    for e in episodes:
        out.success.append(bool(e.result.success))
        out.score.append(float(e.result.score))
        out.tokens += int(sum(e.result.tokens.values()))
        out.env_steps += int(e.result.steps)
        out.records.append(e.result.to_dict())
    return out


def held_out_report(
    env: str,
    env_kwargs: Mapping[str, Any] | None,
    sets: Mapping[str, Sequence[str]],
    *,
    evaluated: str = "test",
    set_env_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Check that the ``evaluated`` set shares no task id or question text with any other set.

    Args:
        env: The env id the tasks belong to.
        env_kwargs: Its arguments.
        sets: Named task-id sets, e.g. ``{"train": ..., "demos": ..., "examples": ..., "test": ...}``.
        evaluated: The set that is evaluated.
        set_env_kwargs: Other env arguments for some sets (e.g. MultiHop's train world for the training tasks and
            its test world for the evaluated ones); question texts are compared across them.

    Returns:
        The :func:`~toolgym.splits.overlap_report`, with ``"held_out": True`` (write it into the results).

    Raises:
        ConfigError: The evaluated tasks overlap another set.
    """
    texts: dict[str, str] = {}
    by_kwargs: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for name, ids in sets.items():
        kwargs = dict((set_env_kwargs or {}).get(name, env_kwargs or {}))
        key = repr(sorted(kwargs.items()))
        by_kwargs.setdefault(key, (kwargs, []))[1].extend(ids)
    # an id names a task within one env configuration: qualify ids by configuration when there are several
    qualify = len(by_kwargs) > 1
    named: dict[str, list[str]] = {}
    for name, ids in sets.items():
        kwargs = dict((set_env_kwargs or {}).get(name, env_kwargs or {}))
        tag = repr(sorted(kwargs.items())) if qualify else ""
        named[name] = [f"{tag}{t}" for t in ids]
    for key, (kwargs, ids) in by_kwargs.items():
        instance = gym.make(env, **kwargs)
        try:
            for tid, text in task_questions(instance, list(dict.fromkeys(ids))).items():
                texts[f"{key if qualify else ''}{tid}"] = text
        finally:
            instance.close()
    report = overlap_report(named, texts=texts)
    bad = {
        pair: v
        for pair, v in report["pairs"].items()
        if evaluated in pair.split("|") and (v["shared_ids"] or v["shared_questions"])
    }
    if bad:
        raise ConfigError(
            f"held_out_report: the {evaluated!r} tasks overlap other sets: {bad}. Draw them with "
            "toolgym.splits.task_split(env, 'test', n) and the training tasks from the 'train' split."
        )
    report["held_out"] = True
    report["evaluated"] = evaluated
    return report
