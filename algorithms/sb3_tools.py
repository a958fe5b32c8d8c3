"""Deep RL over tools with stable-baselines3: DQN, PPO and sb3-contrib's MaskablePPO on the tool-choice view.

The :class:`~toolgym.wrappers.ToolChoice` view is a plain Gymnasium env (``Box`` features, ``Discrete``
options), so SB3 trains on it unchanged. PPO and DQN do not see the action mask: choosing an unavailable
option wastes a decision and costs the view's ``invalid_penalty``. MaskablePPO reads ``action_masks()`` and
never chooses one. The budget is ``total_timesteps`` decisions, the unit every learner of the tool-choice
benchmark gets the same amount of. Training runs on one CPU thread (``torch.set_num_threads(1)``).

Needs the ``rl`` extra (``pip install toolgym[rl]``).

Example:
    >>> import gymnasium as gym
    >>> import toolgym
    >>> from toolgym.agents.options import arithmetic_options
    >>> from toolgym.wrappers import ToolChoice
    >>> view = ToolChoice(gym.make("toolgym/ToolChoice-Arithmetic-v0", difficulty=5), arithmetic_options())
    >>> result = train_sb3(view, SB3ToolsConfig(algo="maskable_ppo", total_timesteps=512, n_steps=128))
    >>> result.decisions >= 512
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from toolgym.error import ConfigError, require
from toolgym.wrappers import ToolChoice

__all__ = ["ALGOS", "SB3ChoicePolicy", "SB3ToolsConfig", "SB3ToolsResult", "build_model", "train_sb3"]

#: The learners this module trains.
ALGOS: tuple[str, ...] = ("dqn", "ppo", "maskable_ppo")


@dataclass(frozen=True)
class SB3ToolsConfig:
    """Settings of an SB3 learner on the tool-choice view.

    Attributes:
        algo: ``"dqn"``, ``"ppo"`` or ``"maskable_ppo"``.
        total_timesteps: Training budget in decisions.
        seed: Seeds the learner, its network and the view's task draws.
        learning_rate: Adam step size.
        gamma: Discount (1: the episode's return is what matters; episodes are a few decisions).
        net_arch: Hidden layer sizes of the policy/Q network.
        n_steps: PPO: decisions per rollout.
        batch_size: Minibatch size (PPO and DQN).
        n_epochs: PPO: passes over each rollout.
        ent_coef: PPO: entropy bonus.
        buffer_size: DQN: replay buffer size.
        learning_starts: DQN: decisions before learning starts.
        exploration_fraction: DQN: fraction of the budget over which ε decays from 1.
        exploration_final_eps: DQN: final ε.
        target_update_interval: DQN: decisions between target network updates.
        train_freq: DQN: decisions between gradient steps.
    """

    algo: str = "maskable_ppo"
    total_timesteps: int = 20_000
    seed: int = 0
    learning_rate: float = 1e-3
    gamma: float = 1.0
    net_arch: tuple[int, ...] = (64,)
    n_steps: int = 512
    batch_size: int = 64
    n_epochs: int = 10
    ent_coef: float = 0.01
    buffer_size: int = 20_000
    learning_starts: int = 500
    exploration_fraction: float = 0.3
    exploration_final_eps: float = 0.02
    target_update_interval: int = 250
    train_freq: int = 1

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ConfigError(f"SB3ToolsConfig.algo: expected one of {list(ALGOS)}, got {self.algo!r}.")
        if self.total_timesteps < 1:
            raise ConfigError(f"SB3ToolsConfig.total_timesteps: expected >= 1, got {self.total_timesteps!r}.")


class SB3ChoicePolicy:
    """A trained SB3 model as a :class:`~toolgym.algorithms.tool_choice.ChoicePolicy` (greedy).

    It reads only the features and, for MaskablePPO, the action mask.

    Args:
        model: A trained DQN, PPO or MaskablePPO.
        masked: Pass the action mask to ``predict`` (MaskablePPO).
    """

    def __init__(self, model: Any, masked: bool) -> None:
        """Wrap ``model``."""
        self.model = model
        self.masked = masked

    def choose(self, obs: np.ndarray, mask: np.ndarray, info: Mapping[str, Any]) -> int:
        """The model's deterministic action."""
        if self.masked:
            action, _ = self.model.predict(obs, deterministic=True, action_masks=mask)
        else:
            action, _ = self.model.predict(obs, deterministic=True)
        return int(action)


@dataclass(frozen=True)
class SB3ToolsResult:
    """What :func:`train_sb3` returns.

    Attributes:
        model: The trained SB3 model.
        policy: The greedy policy over the view.
        decisions: Decisions spent training.
        env_steps: Base-env steps those decisions took.
        config: The settings, as a dict.
    """

    model: Any
    policy: SB3ChoicePolicy
    decisions: int
    env_steps: int
    config: Mapping[str, Any]


def build_model(view: ToolChoice, config: SB3ToolsConfig) -> Any:
    """Create the untrained SB3 model for ``view`` (used by :func:`train_sb3` and behaviour cloning)."""
    require("torch", "rl", "train_sb3")
    require("stable_baselines3", "rl", "train_sb3")
    import torch

    torch.set_num_threads(1)
    policy_kwargs: dict[str, Any] = {"net_arch": list(config.net_arch)}
    common: dict[str, Any] = {
        "learning_rate": config.learning_rate,
        "gamma": config.gamma,
        "seed": config.seed,
        "device": "cpu",
        "verbose": 0,
    }
    if config.algo == "dqn":
        from stable_baselines3 import DQN

        return DQN(
            "MlpPolicy",
            view,
            buffer_size=config.buffer_size,
            learning_starts=config.learning_starts,
            batch_size=config.batch_size,
            exploration_fraction=config.exploration_fraction,
            exploration_final_eps=config.exploration_final_eps,
            target_update_interval=config.target_update_interval,
            train_freq=config.train_freq,
            policy_kwargs=policy_kwargs,
            **common,
        )
    ppo_kwargs: dict[str, Any] = {
        "n_steps": config.n_steps,
        "batch_size": config.batch_size,
        "n_epochs": config.n_epochs,
        "ent_coef": config.ent_coef,
        "gae_lambda": 1.0,
        "policy_kwargs": {"net_arch": {"pi": list(config.net_arch), "vf": list(config.net_arch)}},
    }
    if config.algo == "ppo":
        from stable_baselines3 import PPO

        return PPO("MlpPolicy", view, **ppo_kwargs, **common)
    require("sb3_contrib", "rl", "MaskablePPO")
    from sb3_contrib import MaskablePPO

    return MaskablePPO("MlpPolicy", view, **ppo_kwargs, **common)


def train_sb3(view: ToolChoice, config: SB3ToolsConfig = SB3ToolsConfig(), *, model: Any = None) -> SB3ToolsResult:
    """Train an SB3 learner on ``view`` (give it ``task_ids=task_split(..., "train", n)`` to train on one split).

    Args:
        view: The tool-choice view.
        config: The settings.
        model: Continue training this model instead of a new one (e.g. after behaviour cloning).

    Returns:
        An :class:`SB3ToolsResult`.
    """
    if not isinstance(view, ToolChoice):
        raise ConfigError(f"train_sb3: expected a ToolChoice view, got {type(view).__name__}.")
    start_decisions, start_steps = view.total_decisions, view.total_env_steps
    if model is None:
        view.reset(seed=config.seed)
        model = build_model(view, config)
    model.learn(total_timesteps=config.total_timesteps, reset_num_timesteps=True)
    return SB3ToolsResult(
        model=model,
        policy=SB3ChoicePolicy(model, masked=config.algo == "maskable_ppo"),
        decisions=view.total_decisions - start_decisions,
        env_steps=view.total_env_steps - start_steps,
        config=asdict(config),
    )
