"""Behaviour cloning of an oracle tool chooser, then RL fine-tuning (the "action decision model" recipe).

Step 1 clones an oracle: at each decision of a training episode, :func:`~toolgym.algorithms.tool_choice.
oracle_choice` tries every option from a snapshot and names the one that leads to the cheapest successful
finish; a MaskablePPO policy network is fitted to those choices by cross-entropy (masked to the available
options). Step 2 fine-tunes the cloned network with MaskablePPO on ``success - λ·cost``.

The oracle sees the outcome of each random draw (whether the direct answer would be right *this time*), so
the clone learns "answer directly when it tends to be right", which ignores the price of being wrong; the
fine-tuning is what brings λ into the choice. Both stages spend the same budget unit as every other learner:
decisions of the view, the oracle's lookahead included (it runs the options for real on restored snapshots).

Needs the ``rl`` extra.

Example:
    >>> import gymnasium as gym
    >>> import toolgym
    >>> from toolgym.agents.options import arithmetic_options
    >>> from toolgym.wrappers import ToolChoice
    >>> view = ToolChoice(gym.make("toolgym/ToolChoice-Arithmetic-v0", difficulty=4), arithmetic_options())
    >>> result = train_bc_rl(view, BCConfig(budget=300, demo_episodes=10, bc_epochs=2, rl_n_steps=64))
    >>> result.demo_decisions + result.rl_decisions >= 300
    True
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from toolgym.algorithms.sb3_tools import SB3ChoicePolicy, SB3ToolsConfig, build_model, train_sb3
from toolgym.algorithms.tool_choice import oracle_choice
from toolgym.error import ConfigError
from toolgym.wrappers import ToolChoice

__all__ = ["BCConfig", "BCResult", "collect_oracle_demos", "train_bc_rl"]


@dataclass(frozen=True)
class BCConfig:
    """Settings of behaviour cloning followed by MaskablePPO fine-tuning.

    Attributes:
        budget: Total decisions: the oracle's demonstrations (lookahead included) plus RL fine-tuning.
        demo_episodes: Oracle-demonstrated training episodes (at most).
        demo_fraction: Share of the budget the demonstrations may spend; no episode starts past it.
        bc_epochs: Passes over the demonstrations.
        bc_lr: Adam step size of cloning.
        bc_batch_size: Minibatch size of cloning.
        seed: Seeds everything (view draws, network, minibatch order).
        rl_learning_rate: MaskablePPO step size during fine-tuning.
        rl_n_steps: MaskablePPO decisions per rollout.
        net_arch: Hidden layer sizes.
    """

    budget: int = 20_000
    demo_episodes: int = 300
    demo_fraction: float = 0.5
    bc_epochs: int = 30
    bc_lr: float = 3e-3
    bc_batch_size: int = 64
    seed: int = 0
    rl_learning_rate: float = 1e-3
    rl_n_steps: int = 512
    net_arch: tuple[int, ...] = (64,)

    def __post_init__(self) -> None:
        if not 0.0 < self.demo_fraction < 1.0:
            raise ConfigError(f"BCConfig.demo_fraction: expected a number in (0, 1), got {self.demo_fraction!r}.")
        if self.budget < 1 or self.demo_episodes < 1 or self.bc_epochs < 0:
            raise ConfigError(
                f"BCConfig: expected budget >= 1, demo_episodes >= 1 and bc_epochs >= 0, got {self.budget}, "
                f"{self.demo_episodes}, {self.bc_epochs}."
            )


@dataclass(frozen=True)
class BCResult:
    """What :func:`train_bc_rl` returns.

    Attributes:
        bc_policy: The cloned policy before fine-tuning (a copy).
        policy: The policy after fine-tuning.
        model: The fine-tuned MaskablePPO model.
        demo_decisions: Decisions the demonstrations took (oracle lookahead included).
        rl_decisions: Decisions of fine-tuning.
        env_steps: Base-env steps of both stages.
        demos: Number of (state, oracle choice) pairs.
        oracle_success: Success rate of the oracle on the demonstration episodes.
        bc_accuracy: Agreement of the clone with the oracle on the demonstrations.
        config: The settings, as a dict.
    """

    bc_policy: SB3ChoicePolicy
    policy: SB3ChoicePolicy
    model: Any
    demo_decisions: int
    rl_decisions: int
    env_steps: int
    demos: int
    oracle_success: float
    bc_accuracy: float
    config: Mapping[str, Any]


def collect_oracle_demos(
    view: ToolChoice, episodes: int, seed: int = 0, *, max_decisions: int | None = None
) -> tuple[np.ndarray, ...]:
    """Run episodes following :func:`oracle_choice`; return ``(obs, masks, actions, successes)``.

    Args:
        view: The view (its ``task_ids`` decide the tasks).
        episodes: At most this many episodes.
        seed: Seeds the first reset.
        max_decisions: Stop starting episodes once the demonstrations spent this many decisions (lookahead
            included); the episode under way is finished.
    """
    obs_list, masks, actions, successes = [], [], [], []
    start = view.total_decisions
    obs, info = view.reset(seed=seed)
    for _ in range(episodes):
        if max_decisions is not None and view.total_decisions - start >= max_decisions:
            break
        done = False
        while not done:
            mask = view.action_masks()
            a, _, _ = oracle_choice(view)
            obs_list.append(obs)
            masks.append(mask)
            actions.append(a)
            obs, _, terminated, truncated, info = view.step(a)
            done = terminated or truncated
        successes.append(bool(info.get("success", False)))
        obs, info = view.reset()
    return np.array(obs_list), np.array(masks), np.array(actions), np.array(successes)


def _clone(model: Any, obs: np.ndarray, masks: np.ndarray, actions: np.ndarray, config: BCConfig) -> float:
    import torch

    policy = model.policy
    policy.set_training_mode(True)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.bc_lr)
    gen = np.random.default_rng(config.seed)
    obs_t = torch.as_tensor(obs, dtype=torch.float32)
    act_t = torch.as_tensor(actions, dtype=torch.long)
    n = len(actions)
    for _ in range(config.bc_epochs):
        order = gen.permutation(n)
        for start in range(0, n, config.bc_batch_size):
            idx = order[start : start + config.bc_batch_size]
            dist = policy.get_distribution(obs_t[idx], action_masks=masks[idx])
            loss = -dist.log_prob(act_t[idx]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    policy.set_training_mode(False)
    with torch.no_grad():
        pred = policy.get_distribution(obs_t, action_masks=masks).mode().numpy()
    return float(np.mean(pred == actions))


def train_bc_rl(view: ToolChoice, config: BCConfig = BCConfig()) -> BCResult:
    """Clone the oracle on ``view``'s training tasks, then fine-tune with MaskablePPO for the rest of the budget.

    Args:
        view: The tool-choice view (give it ``task_ids`` of the training split).
        config: The settings.

    Returns:
        A :class:`BCResult`.
    """
    if not isinstance(view, ToolChoice):
        raise ConfigError(f"train_bc_rl: expected a ToolChoice view, got {type(view).__name__}.")
    start_decisions, start_steps = view.total_decisions, view.total_env_steps
    cap = int(config.demo_fraction * config.budget)
    obs, masks, actions, successes = collect_oracle_demos(view, config.demo_episodes, config.seed, max_decisions=cap)
    demo_decisions = view.total_decisions - start_decisions
    rl_budget = config.budget - demo_decisions
    if rl_budget < 1:
        raise ConfigError(
            f"train_bc_rl: expected the demonstrations to leave some of the budget for fine-tuning, got "
            f"{demo_decisions} demonstration decisions for a budget of {config.budget}. Lower demo_episodes or "
            "raise budget."
        )
    rl = SB3ToolsConfig(
        algo="maskable_ppo",
        total_timesteps=rl_budget,
        seed=config.seed,
        learning_rate=config.rl_learning_rate,
        n_steps=config.rl_n_steps,
        net_arch=config.net_arch,
    )
    view.reset(seed=config.seed)
    model = build_model(view, rl)
    accuracy = _clone(model, obs, masks, actions, config) if config.bc_epochs else 0.0
    bc_policy = SB3ChoicePolicy(copy.deepcopy(model.policy), masked=True)
    before = view.total_decisions
    result = train_sb3(view, rl, model=model)
    return BCResult(
        bc_policy=bc_policy,
        policy=result.policy,
        model=model,
        demo_decisions=demo_decisions,
        rl_decisions=view.total_decisions - before,
        env_steps=view.total_env_steps - start_steps,
        demos=len(actions),
        oracle_success=float(np.mean(successes)),
        bc_accuracy=accuracy,
        config=asdict(config),
    )
