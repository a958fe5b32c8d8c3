"""Tabular Q-learning over tools: which option to run, learned from ``success - λ·cost``.

Watkins' Q-learning on the :class:`~toolgym.wrappers.ToolChoice` view: the state is the feature vector
(hashed question shape and the episode so far) used as a table key, the actions are the options, and the
update is ``Q(s, a) += α (r + γ max_{a' available} Q(s', a') - Q(s, a))``. Exploration is ε-greedy over the
*available* options (the action mask), with ε decayed linearly. The training budget is counted in decisions
(the view's steps), the unit every learner of the tool-choice benchmark is given the same amount of. The
view's decision limit is part of the state (its features count decisions), so a truncated episode ends the
return like a terminated one.

Example:
    >>> import gymnasium as gym
    >>> import toolgym
    >>> from toolgym.agents.options import arithmetic_options
    >>> from toolgym.wrappers import ToolChoice
    >>> view = ToolChoice(gym.make("toolgym/ToolChoice-Arithmetic-v0", difficulty=4), arithmetic_options())
    >>> result = train_q_learning(view, QLearningConfig(decisions=400, seed=0))
    >>> obs, info = view.reset(seed=1)
    >>> view.options[result.policy.choose(obs, info["action_mask"], info)].name  # level 4: answers are 5% right
    'calculate'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from toolgym.error import ConfigError
from toolgym.wrappers import ToolChoice

__all__ = ["QLearningConfig", "QLearningResult", "TabularQPolicy", "train_q_learning"]


@dataclass(frozen=True)
class QLearningConfig:
    """Settings of tabular Q-learning.

    Attributes:
        decisions: Training budget in decisions (view steps); the last episode may run past it.
        alpha: Step size; ``None`` uses ``1 / visits`` of the (state, action) pair (a running mean, exact for
            one-step bandit-like decisions).
        gamma: Discount (1: the episode's return is what matters).
        epsilon_start: Exploration rate at the start.
        epsilon_end: Exploration rate at the end of the linear decay.
        decay_fraction: Fraction of the budget over which ε decays.
        seed: Seeds the exploration generator and the view's task draws.
    """

    decisions: int = 5000
    alpha: float | None = None
    gamma: float = 1.0
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    decay_fraction: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.decisions < 1:
            raise ConfigError(f"QLearningConfig.decisions: expected >= 1, got {self.decisions!r}.")
        if self.alpha is not None and not 0.0 < self.alpha <= 1.0:
            raise ConfigError(f"QLearningConfig.alpha: expected None or a number in (0, 1], got {self.alpha!r}.")
        for name in ("gamma", "epsilon_start", "epsilon_end", "decay_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"QLearningConfig.{name}: expected a number in [0, 1], got {value!r}.")


@dataclass
class TabularQPolicy:
    """The greedy policy of a Q-table (an unseen state's values are 0: the first available option wins ties).

    Attributes:
        q: State key -> action values.
        visits: State key -> visit counts per action.
        n_actions: Number of options.
    """

    q: dict[bytes, np.ndarray] = field(default_factory=dict)
    visits: dict[bytes, np.ndarray] = field(default_factory=dict)
    n_actions: int = 0

    @staticmethod
    def key(obs: np.ndarray) -> bytes:
        """The table key of a feature vector."""
        return np.asarray(obs, dtype=np.float32).tobytes()

    def values(self, obs: np.ndarray) -> np.ndarray:
        """The action values of a state (zeros when unseen)."""
        return self.q.get(self.key(obs), np.zeros(self.n_actions))

    def choose(self, obs: np.ndarray, mask: np.ndarray, info: Mapping[str, Any]) -> int:
        """The available option with the highest value (reads only ``obs`` and ``mask``)."""
        v = np.where(mask, self.values(obs), -np.inf)
        return int(np.argmax(v))

    def seen(self, obs: np.ndarray) -> bool:
        """Whether training visited this state."""
        return self.key(obs) in self.q


@dataclass(frozen=True)
class QLearningResult:
    """What :func:`train_q_learning` returns.

    Attributes:
        policy: The greedy policy.
        decisions: Decisions spent (the budget actually used).
        env_steps: Base-env steps those decisions took.
        episodes: Training episodes.
        returns: Each training episode's return.
        config: The settings, as a dict.
    """

    policy: TabularQPolicy
    decisions: int
    env_steps: int
    episodes: int
    returns: tuple[float, ...]
    config: Mapping[str, Any]


def train_q_learning(view: ToolChoice, config: QLearningConfig = QLearningConfig()) -> QLearningResult:
    """Learn a Q-table on ``view`` (give it ``task_ids=task_split(..., "train", n)`` to train on one split).

    Args:
        view: The tool-choice view to train on.
        config: The settings.

    Returns:
        A :class:`QLearningResult`.
    """
    if not isinstance(view, ToolChoice):
        raise ConfigError(f"train_q_learning: expected a ToolChoice view, got {type(view).__name__}.")
    rng = np.random.default_rng(config.seed)
    n = int(view.action_space.n)
    policy = TabularQPolicy(n_actions=n)
    start_decisions, start_steps = view.total_decisions, view.total_env_steps
    decay = max(1.0, config.decay_fraction * config.decisions)
    returns: list[float] = []
    spent = 0
    obs, info = view.reset(seed=config.seed)
    episode_return = 0.0
    while spent < config.decisions or not view.done:
        if view.done:
            returns.append(episode_return)
            episode_return = 0.0
            obs, info = view.reset()
        mask = info["action_mask"]
        eps = config.epsilon_start + (config.epsilon_end - config.epsilon_start) * min(1.0, spent / decay)
        if rng.random() < eps:
            a = int(rng.choice(np.flatnonzero(mask)))
        else:
            a = policy.choose(obs, mask, info)
        s = policy.key(obs)
        q = policy.q.setdefault(s, np.zeros(n))
        visits = policy.visits.setdefault(s, np.zeros(n))
        obs, reward, terminated, truncated, info = view.step(a)
        spent += 1
        episode_return += float(reward)
        target = float(reward)
        if not terminated and not truncated:
            target += config.gamma * float(np.max(np.where(info["action_mask"], policy.values(obs), -np.inf)))
        visits[a] += 1
        alpha = config.alpha if config.alpha is not None else 1.0 / visits[a]
        q[a] += alpha * (target - q[a])
    returns.append(episode_return)
    return QLearningResult(
        policy=policy,
        decisions=view.total_decisions - start_decisions,
        env_steps=view.total_env_steps - start_steps,
        episodes=len(returns),
        returns=tuple(returns),
        config=asdict(config),
    )
