"""FireAct (Chen et al. 2023): fine-tune a small model on a teacher's successful ReAct trajectories.

``teacher -> success filter -> SFT -> zero-shot agent``. The teacher is any policy (FireAct used GPT-4; here a
scripted teacher, the env's expert, or FireAct's published GPT-4 trajectories imported from the data folder);
only trajectories whose episode ended solved are kept (``info["success"]``), de-duplicated and capped per
task. The student learns FireAct's zero-shot format (Alpaca header, the question, un-numbered
``Thought: / Action: / Observation:`` steps; ``style="alpaca"``) with the loss on its own tokens only, and is
evaluated zero-shot on held-out tasks, before and after training.

One run (:func:`run_fireact`) writes into its folder: ``data/`` (the dataset and its manifest), ``sft/``
(checkpoints and ``final/``), ``eval_before.json``, ``eval_after.json`` and ``result.json`` (success before
and after, the budget ledger, the held-out check). With ``resume=True`` a killed run continues: finished
phases are read back, training continues from its last complete checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from toolgym.agents import make_policy
from toolgym.agents.prompting.training import training_segments
from toolgym.algorithms.evaluate import evaluate, held_out_report
from toolgym.algorithms.ledger import Ledger
from toolgym.algorithms.models import build_model, load_trained, trained_llm
from toolgym.algorithms.runconfig import StudentRun, TrainSettings
from toolgym.algorithms.runio import cached_phase, read_json, write_json
from toolgym.algorithms.sft import encode_segments, run_sft
from toolgym.algorithms.trajectories import cap_per_task, collect, dedupe, load_dataset, save_dataset, successes
from toolgym.error import ConfigError
from toolgym.records import Trajectory
from toolgym.splits import task_split

__all__ = ["FireActConfig", "TrainSettings", "run_fireact", "shuffle_answers", "student_policy"]


@dataclass(frozen=True)
class FireActConfig(StudentRun):
    """One FireAct run: the fields of :class:`~toolgym.algorithms.runconfig.StudentRun` and these.

    ``teacher`` may also be ``"fireact:hotpotqa"`` / ``"fireact:hotpotqa_multimethod"``: FireAct's GPT-4
    trajectories.

    Attributes:
        train_tasks: Tasks the teacher solves (from the env's ``train`` split).
        samples_per_task: Teacher samples per task.
        max_per_task: Successful trajectories kept per task.
        control: ``None``, or ``"shuffled"``: the negative control, answers shuffled across tasks.
    """

    train_tasks: int = 3000
    samples_per_task: int = 1
    max_per_task: int = 1
    control: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.control not in (None, "shuffled"):
            raise ConfigError(f"FireActConfig.control: expected None or 'shuffled', got {self.control!r}.")


def student_policy(
    llm: Any, *, style: str, thoughts: bool, max_tokens: int, temperature: float = 0.0, seed: int | None = None
) -> Any:
    """The student as a policy: ReAct in FireAct's zero-shot format (no few-shot examples)."""
    name = "fireact" if style == "alpaca" else "react"
    kwargs: dict[str, Any] = {"thoughts": thoughts, "max_tokens": max_tokens, "temperature": temperature, "seed": seed}
    if style != "alpaca":
        kwargs.update(style=style, examples="none")
    return make_policy(name, llm=llm, **kwargs)


def shuffle_answers(trajectories: Sequence[Trajectory], seed: int) -> list[Trajectory]:
    """The negative control: each trajectory's final step (its answer) taken from another task's trajectory."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(trajectories))
    out = []
    for t, j in zip(trajectories, order):
        other = trajectories[int(j)]
        if not t.steps or not other.steps:
            continue
        last = replace(t.steps[-1], action=other.steps[-1].action, thought=other.steps[-1].thought)
        out.append(replace(t, steps=(*t.steps[:-1], last), metadata={**t.metadata, "control": "shuffled"}))
    return out


def _teacher_data(config: FireActConfig, train: Sequence[str], ledger: Ledger) -> list[Trajectory]:
    teacher = config.teacher
    if isinstance(teacher, str) and teacher.startswith("fireact:"):
        from toolgym.algorithms.importers import import_fireact

        return import_fireact(teacher.split(":", 1)[1])
    spec: dict[str, Any] = {"name": teacher} if isinstance(teacher, str) else dict(teacher)
    policy = make_policy(spec["name"], **dict(spec.get("config", {})))
    return collect(
        policy,
        config.env,
        train,
        k=config.samples_per_task,
        seed=config.seed,
        num_envs=config.num_envs,
        env_kwargs=config.env_kwargs,
        max_steps=config.max_steps,
        ledger=ledger,
        phase="teacher",
    )


def encode_for(
    policy: Any, trajectories: Sequence[Trajectory], tokenizer: Any, max_length: int, env: Any = None
) -> list:
    """Encode trajectories in ``policy``'s format (loss on the agent's tokens); ``None`` for over-long ones.

    ``env`` is the env the policy acts in: the text and chat styles put its instructions in every prompt, so the
    training text must be rendered with it to match the prompts at inference (the alpaca style does not).
    """
    render = getattr(policy.llm, "render", None) if getattr(policy, "style", "text") == "chat" else None
    return [
        encode_segments(training_segments(policy, t, env=env, render=render), tokenizer, max_length=max_length)
        for t in trajectories
    ]


def run_fireact(config: FireActConfig, out: str | Path, *, resume: bool = False) -> dict[str, Any]:
    """Run FireAct: teacher data, SFT of the student, zero-shot evaluation before and after (see the module doc).

    Args:
        config: The run.
        out: Its folder.
        resume: Continue a killed run in ``out`` (finished phases are read back).

    Returns:
        The result (also in ``out/result.json``): success before and after with counts, the ledger, the
        dataset counts, the training summary and the held-out report.
    """
    import gymnasium as gym

    out = Path(out)
    if not resume and (out / "result.json").exists():
        raise ConfigError(f"run_fireact: {out} holds a finished run; use another folder or resume=True.")
    out.mkdir(parents=True, exist_ok=True)
    ledger = Ledger.from_dict(read_json(out / "ledger.json")) if resume and (out / "ledger.json").exists() else Ledger()
    eval_kwargs = config.eval_kwargs
    env = gym.make(config.env, **dict(config.env_kwargs))
    eval_env = gym.make(config.env, **eval_kwargs)
    test = task_split(eval_env, "test", config.eval_tasks)
    imported = isinstance(config.teacher, str) and config.teacher.startswith("fireact:")
    train = [] if imported else task_split(env, "train", config.train_tasks)

    data_dir = out / "data"
    if resume and (data_dir / "manifest.json").exists():
        data, manifest = load_dataset(data_dir)
    else:
        raw = _teacher_data(config, train, ledger)
        data = cap_per_task(dedupe(successes(raw)), config.max_per_task)
        if config.control == "shuffled":
            data = shuffle_answers(data, config.seed)
        manifest = {
            "method": "fireact",
            "teacher": config.teacher,
            "env": config.env,
            "env_kwargs": dict(config.env_kwargs),
            "task_ids": sorted({t.task_id for t in data}),
            "collected": len(raw),
            "control": config.control,
            "config": config.to_dict(),
            "budget": ledger.to_dict(),
        }
        save_dataset(data_dir, data, manifest)
        manifest = read_json(data_dir / "manifest.json")  # with the counts save_dataset added
        write_json(out / "ledger.json", ledger.to_dict())
    sets = {"train": [t.task_id for t in data] if not imported else [], "test": test}
    report = (
        held_out_report(config.env, eval_kwargs, sets, set_env_kwargs={"train": dict(config.env_kwargs)})
        if not imported
        else {"held_out": "imported data"}
    )

    def _eval(model: Any, tok: Any, phase: str) -> dict[str, Any]:
        policy = student_policy(
            trained_llm(model, tok), style=config.style, thoughts=config.thoughts, max_tokens=config.max_tokens
        )
        res = evaluate(
            policy,
            config.env,
            test,
            env_kwargs=eval_kwargs,
            num_envs=config.num_envs,
            max_steps=config.max_steps,
            ledger=ledger,
            phase=phase,
        )
        return {**res.summary(), "success": res.success}

    model, tok = build_model(config.model)
    before = cached_phase(out / "eval_before.json", lambda: _eval(model, tok, "eval_before"), resume=resume)
    sft_dir = out / "sft"
    if resume and (sft_dir / "final").is_dir() and (out / "train.json").exists():
        model, tok = load_trained(config.model, sft_dir / "final")
        train_summary = read_json(out / "train.json")
    else:
        renderer = student_policy(
            trained_llm(model, tok), style=config.style, thoughts=config.thoughts, max_tokens=config.max_tokens
        )
        examples = encode_for(renderer, data, tok, config.train.max_length, env=eval_env)
        start = time.perf_counter()
        res = run_sft(model, tok, examples, config.train.sft_config(sft_dir, config.seed), resume=resume)
        ledger.add("train", train_tokens=res.train_tokens, train_steps=res.steps, wall_s=time.perf_counter() - start)
        model = res.model
        train_summary = {
            "steps": res.steps,
            "train_tokens": res.train_tokens,
            "dropped": res.dropped,
            "examples": len(examples),
            "loss": [r for r in res.log if "loss" in r],
        }
        write_json(out / "train.json", train_summary)
        write_json(out / "ledger.json", ledger.to_dict())
    after = cached_phase(out / "eval_after.json", lambda: _eval(model, tok, "eval_after"), resume=resume)
    write_json(out / "ledger.json", ledger.to_dict())
    result = {
        "method": "fireact",
        "control": config.control,
        "seed": config.seed,
        "env": config.env,
        "success_before": before["success_rate"],
        "success_after": after["success_rate"],
        "eval_tasks": len(test),
        "dataset": manifest.get("counts", {}),
        "train": {k: v for k, v in train_summary.items() if k != "loss"},
        "ledger": ledger.to_dict(),
        "held_out": report,
        "config": config.to_dict(),
    }
    write_json(out / "result.json", result)
    return result
