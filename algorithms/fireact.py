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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from toolgym.agents import make_policy
from toolgym.agents.prompting.training import training_segments
from toolgym.algorithms.evaluate import evaluate, held_out_report
from toolgym.algorithms.ledger import Ledger
from toolgym.algorithms.models import ModelSpec, build_model, load_trained, trained_llm
from toolgym.algorithms.runio import cached_phase, read_json, write_json
from toolgym.algorithms.sft import SFTConfig, encode_segments, run_sft
from toolgym.algorithms.trajectories import cap_per_task, collect, dedupe, load_dataset, save_dataset, successes
from toolgym.error import ConfigError
from toolgym.records import Trajectory
from toolgym.splits import task_split

__all__ = ["FireActConfig", "TrainSettings", "run_fireact", "shuffle_answers", "student_policy"]


@dataclass(frozen=True)
class TrainSettings:
    """The SFT settings of a method (see :class:`~toolgym.algorithms.sft.SFTConfig`; the folder is the run's)."""

    epochs: float = 3.0
    max_steps: int = -1
    learning_rate: float = 2e-3
    batch_size: int = 32
    grad_accum: int = 1
    warmup_ratio: float = 0.05
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.0
    lora: Mapping[str, Any] | None = None
    max_length: int = 512
    group_by_length: bool = False
    save_steps: int = 100
    eval_steps: int = 0
    threads: int | None = 1

    def sft_config(self, output_dir: str | Path, seed: int, **overrides: Any) -> SFTConfig:
        """The :class:`SFTConfig` of a training phase."""
        from toolgym.algorithms.sft import LoraSettings

        fields = {**asdict(self), **overrides}
        lora = fields.pop("lora")
        lora_settings = None
        if lora is not None:
            lora = dict(lora)
            if "target_modules" in lora and lora["target_modules"] is not None:
                lora["target_modules"] = tuple(lora["target_modules"])
            lora_settings = LoraSettings(**lora)
        return SFTConfig(output_dir=str(output_dir), seed=seed, lora=lora_settings, **fields)


@dataclass(frozen=True)
class FireActConfig:
    """One FireAct run.

    Attributes:
        env: The env the student acts in.
        env_kwargs: Its arguments for training tasks and collection.
        eval_env_kwargs: Its arguments for evaluation (default ``env_kwargs``; e.g. MultiHop ``split="test"``).
        teacher: A policy name or ``{"name": ..., "config": {...}}`` (``"calc-teacher"``, ``"expert-teacher"``,
            a ReAct policy on a large model...), or ``"fireact:hotpotqa"`` / ``"fireact:hotpotqa_multimethod"``
            for FireAct's GPT-4 trajectories.
        train_tasks: Tasks the teacher solves (from the env's ``train`` split).
        samples_per_task: Teacher samples per task.
        max_per_task: Successful trajectories kept per task.
        eval_tasks: Held-out tasks (the ``test`` split) the student is evaluated on.
        style: The student's format: ``"alpaca"`` (FireAct), ``"text"`` (ReAct zero-shot) or ``"chat"``.
        thoughts: Whether the student writes thoughts (False: Act-only).
        max_tokens: New tokens per student step.
        max_steps: Step cap per episode.
        model: The student model.
        train: SFT settings.
        control: ``None``, or ``"shuffled"``: the negative control, answers shuffled across tasks.
        seed: Seeds tasks' samples, training and sampling.
        num_envs: Episodes side by side.
    """

    env: str = "toolgym/ToolChoice-Arithmetic-v0"
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    eval_env_kwargs: Mapping[str, Any] | None = None
    teacher: str | Mapping[str, Any] = "calc-teacher"
    train_tasks: int = 3000
    samples_per_task: int = 1
    max_per_task: int = 1
    eval_tasks: int = 150
    style: str = "alpaca"
    thoughts: bool = True
    max_tokens: int = 64
    max_steps: int | None = 8
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSettings = field(default_factory=TrainSettings)
    control: str | None = None
    seed: int = 0
    num_envs: int = 32

    def __post_init__(self) -> None:
        if self.style not in ("alpaca", "text", "chat"):
            raise ConfigError(f"FireActConfig.style: expected 'alpaca', 'text' or 'chat', got {self.style!r}.")
        if self.control not in (None, "shuffled"):
            raise ConfigError(f"FireActConfig.control: expected None or 'shuffled', got {self.control!r}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


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
    eval_kwargs = dict(config.eval_env_kwargs if config.eval_env_kwargs is not None else config.env_kwargs)
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
