"""What the self-training methods share (ReST-EM, Re-ReST): task sets, evaluation rows, one resumable SFT phase.

* :func:`task_sets` draws the demonstration, training, validation and held-out test tasks and checks that the
  test tasks are held out (:func:`~toolgym.algorithms.evaluate.held_out_report`);
* :func:`assess` evaluates a policy greedily on the validation and test tasks (one curve row);
* :func:`sft_phase` fine-tunes a model on trajectories rendered by a policy's own prompts, charges the ledger,
  and reads a finished phase back on resume;
* :func:`agent_policy` is the agent over a model (sampling or greedy), :func:`demonstrations` the weak start's
  data (the teacher's solved trajectories, one per task).

The ``config`` these take is a method's config dataclass with the shared fields (``env``, ``env_kwargs``,
``teacher``, ``style``, ``thoughts``, ``max_tokens``, ``max_steps``, ``temperature``, ``seed``, ``num_envs``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolgym.agents.base import Policy
from toolgym.algorithms.evaluate import evaluate, held_out_report
from toolgym.algorithms.fireact import FireActConfig, TrainSettings, _teacher_data, encode_for, student_policy
from toolgym.algorithms.ledger import Ledger
from toolgym.algorithms.models import ModelSpec, build_model, load_trained, trained_llm
from toolgym.algorithms.runio import read_json, write_json
from toolgym.algorithms.sft import run_sft
from toolgym.algorithms.trajectories import cap_per_task, dedupe, load_dataset, save_dataset, successes
from toolgym.error import ConfigError
from toolgym.records import Trajectory
from toolgym.splits import task_split

__all__ = ["TaskSets", "agent_policy", "assess", "demonstrations", "flat_row", "sft_phase", "task_sets"]


@dataclass(frozen=True)
class TaskSets:
    """The task ids of a self-training run and the held-out check of its test set.

    Attributes:
        demos: Demonstration tasks (the weak start).
        train: Tasks sampled at each iteration.
        valid: Early-stopping tasks (from the ``train`` split, never trained on).
        test: Held-out test tasks (the ``test`` split).
        report: The :func:`~toolgym.algorithms.evaluate.held_out_report`.
    """

    demos: list[str]
    train: list[str]
    valid: list[str]
    test: list[str]
    report: dict[str, Any]


def task_sets(config: Any, *, caller: str) -> TaskSets:
    """Draw the task sets: demos, train and valid in that order from the ``train`` split; test from ``test``.

    Args:
        config: A self-training config (``env``, ``env_kwargs``, ``eval_kwargs``, ``demo_tasks``,
            ``train_tasks``, ``valid_tasks``, ``eval_tasks``), e.g. a ``RestEMConfig``.
        caller: Named in errors.

    Raises:
        ConfigError: The train split has fewer distinct tasks than asked for, or the test tasks are not held out.
    """
    import gymnasium as gym

    env, env_kwargs, eval_kwargs = config.env, config.env_kwargs, config.eval_kwargs
    demos, train, valid, test = config.demo_tasks, config.train_tasks, config.valid_tasks, config.eval_tasks
    pool = task_split(gym.make(env, **dict(env_kwargs)), "train", demos + train + valid)
    if len(pool) < demos + train + valid:
        raise ConfigError(
            f"{caller}: the env's train split has {len(pool)} distinct tasks, fewer than demo + train + valid = "
            f"{demos + train + valid}. Ask for fewer tasks or widen the env (e.g. more difficulty levels)."
        )
    d, t, v = pool[:demos], pool[demos : demos + train], pool[demos + train :]
    test_ids = task_split(gym.make(env, **dict(eval_kwargs)), "test", test)
    kw = dict(env_kwargs)
    report = held_out_report(
        env,
        dict(eval_kwargs),
        {"demos": d, "train": t, "valid": v, "test": test_ids},
        set_env_kwargs={"demos": kw, "train": kw, "valid": kw},
    )
    return TaskSets(d, t, v, test_ids, report)


def assess(
    policy: Policy,
    env: str,
    sets: TaskSets,
    *,
    env_kwargs: Mapping[str, Any],
    eval_kwargs: Mapping[str, Any],
    num_envs: int,
    max_steps: int | None,
    ledger: Ledger,
    phase: str,
) -> dict[str, Any]:
    """Evaluate ``policy`` (greedy) on the validation and test tasks: ``{"valid": ..., "test": ...}`` summaries."""
    res = {}
    for name, ids, kwargs in (("valid", sets.valid, env_kwargs), ("test", sets.test, eval_kwargs)):
        r = evaluate(
            policy,
            env,
            ids,
            env_kwargs=kwargs,
            num_envs=num_envs,
            max_steps=max_steps,
            ledger=ledger,
            phase=phase,
        )
        res[name] = {**r.summary(), "success": r.success}
    return res


def assess_agent(
    config: Any, model: Any, tokenizer: Any, sets: TaskSets, *, ledger: Ledger, phase: str
) -> dict[str, Any]:
    """:func:`assess` of ``config``'s agent over ``model`` (greedy), in ``config``'s env, tasks' kwargs and limits."""
    return assess(
        agent_policy(config, model, tokenizer, sample=False),
        config.env,
        sets,
        env_kwargs=config.env_kwargs,
        eval_kwargs=config.eval_kwargs,
        num_envs=config.num_envs,
        max_steps=config.max_steps,
        ledger=ledger,
        phase=phase,
    )


def flat_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """An :func:`assess` row as the curve's columns."""
    return {
        "valid_success": row["valid"]["success_rate"],
        "test_success": row["test"]["success_rate"],
        "test_episodes": row["test"]["episodes"],
        "test_per_task": row["test"]["success"],
    }


def sft_phase(
    spec: ModelSpec,
    settings: TrainSettings,
    data: Sequence[Trajectory],
    *,
    renderer: Callable[[Any, Any], Any],
    folder: str | Path,
    steps: int,
    seed: int,
    ledger: Ledger,
    phase: str,
    resume: bool = False,
    start: tuple[Any, Any] | None = None,
    env: Any = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Fine-tune on ``data`` rendered by ``renderer(model, tokenizer)``'s prompts; ``folder/sft`` and ``train.json``.

    Args:
        spec: The model (built fresh from it unless ``start`` is given).
        settings: SFT settings (``max_steps`` is ``steps``).
        data: The trajectories.
        renderer: Gives the policy whose prompts render the training text (the policy that will act).
        folder: The phase's folder.
        steps: SFT steps.
        seed: Seeds the training.
        ledger: Charged with the training tokens and steps under ``phase``.
        phase: The ledger phase.
        resume: Read a finished phase back (``folder/sft/final`` and ``folder/train.json``); continue a killed one
            from its last checkpoint.
        start: Continue from this (model, tokenizer) instead of a fresh model.
        env: The env the policy acts in: its instructions and format shape the training text as they shape the
            prompts at inference (the text and chat styles carry them; ``None`` renders an env-less prompt).

    Returns:
        The model, its tokenizer and the summary; when no example fits ``max_length`` nothing is trained, the
        summary says ``"skipped"`` and the start model is returned.
    """
    folder = Path(folder)
    if resume and (folder / "sft" / "final").is_dir() and (folder / "train.json").exists():
        model, tok = load_trained(spec, folder / "sft" / "final")
        return model, tok, read_json(folder / "train.json")
    model, tok = start if start is not None else build_model(spec)
    examples = encode_for(renderer(model, tok), data, tok, settings.max_length, env=env)
    if not any(e is not None for e in examples):
        summary = {"steps": 0, "skipped": f"all {len(examples)} examples longer than max_length or none given"}
        write_json(folder / "train.json", summary)
        return model, tok, summary
    t0 = time.perf_counter()
    res = run_sft(model, tok, examples, settings.sft_config(folder / "sft", seed, max_steps=steps), resume=resume)
    ledger.add(phase, train_tokens=res.train_tokens, train_steps=res.steps, wall_s=time.perf_counter() - t0)
    summary = {"steps": res.steps, "train_tokens": res.train_tokens, "examples": len(examples), "dropped": res.dropped}
    write_json(folder / "train.json", summary)
    return res.model, tok, summary


def agent_policy(config: Any, model: Any, tokenizer: Any, *, sample: bool) -> Any:
    """The agent over ``model``: sampling at ``config.temperature`` with ``config.seed``, or greedy."""
    return student_policy(
        trained_llm(model, tokenizer),
        style=config.style,
        thoughts=config.thoughts,
        max_tokens=config.max_tokens,
        temperature=config.temperature if sample else 0.0,
        seed=config.seed if sample else None,
    )


def demonstrations(
    config: Any, task_ids: Sequence[str], ledger: Ledger, folder: str | Path, *, resume: bool = False
) -> list[Trajectory]:
    """The weak start's data: the teacher's solved trajectories, one per task.

    They are saved in ``folder`` (read back on resume); the teacher's episodes are charged to ``ledger`` (phase
    ``"teacher"``).
    """
    folder = Path(folder)
    if resume and (folder / "manifest.json").exists():
        return load_dataset(folder)[0]
    teacher = FireActConfig(
        env=config.env,
        env_kwargs=config.env_kwargs,
        teacher=config.teacher,
        max_steps=config.max_steps,
        seed=config.seed,
        num_envs=config.num_envs,
    )
    demos = cap_per_task(dedupe(successes(_teacher_data(teacher, task_ids, ledger))), 1)
    save_dataset(folder, demos, {"phase": "demos", "task_ids": list(task_ids), "teacher": config.teacher})
    return demos
