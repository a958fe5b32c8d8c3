"""What every method that trains a student agent shares: the env, the student's format and model, SFT settings.

:class:`StudentRun` holds the fields common to :class:`~toolgym.algorithms.fireact.FireActConfig`,
:class:`~toolgym.algorithms.rest_em.RestEMConfig` and :class:`~toolgym.algorithms.rerest.ReReSTConfig`, which add
their own; :class:`TrainSettings` are the SFT settings of a method's training phases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from toolgym.algorithms.models import ModelSpec
from toolgym.algorithms.sft import SFTConfig
from toolgym.error import ConfigError

__all__ = ["STYLES", "StudentRun", "TrainSettings"]

#: The student's formats: FireAct's Alpaca prompt, ReAct text, or the model's chat template.
STYLES = ("alpaca", "text", "chat")


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
class StudentRun:
    """The settings every student-training run shares (a method's config adds its own).

    Attributes:
        env: The env the student acts in.
        env_kwargs: Its arguments for the training tasks (collection, sampling, validation).
        eval_env_kwargs: Its arguments for the held-out test tasks (default ``env_kwargs``; e.g. MultiHop
            ``split="test"``).
        teacher: The policy that writes the demonstrations: a name or ``{"name": ..., "config": {...}}``
            (``"calc-teacher"``, ``"expert-teacher"``, a ReAct policy on a large model...).
        eval_tasks: Held-out test tasks (the ``test`` split).
        style: The student's format: ``"alpaca"`` (FireAct), ``"text"`` (ReAct zero-shot) or ``"chat"``.
        thoughts: Whether the student writes thoughts (False: Act-only).
        max_tokens: New tokens per student step.
        max_steps: Step cap per episode.
        model: The student model.
        train: SFT settings.
        seed: Seeds everything (tasks' samples, training, sampling).
        num_envs: Episodes side by side.
    """

    env: str = "toolgym/ToolChoice-Arithmetic-v0"
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    eval_env_kwargs: Mapping[str, Any] | None = None
    teacher: str | Mapping[str, Any] = "calc-teacher"
    eval_tasks: int = 150
    style: str = "alpaca"
    thoughts: bool = True
    max_tokens: int = 64
    max_steps: int | None = 8
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSettings = field(default_factory=TrainSettings)
    seed: int = 0
    num_envs: int = 32

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ConfigError(f"{type(self).__name__}.style: expected one of {list(STYLES)}, got {self.style!r}.")

    @property
    def eval_kwargs(self) -> dict[str, Any]:
        """The env's arguments for the test tasks."""
        return dict(self.eval_env_kwargs if self.eval_env_kwargs is not None else self.env_kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)
