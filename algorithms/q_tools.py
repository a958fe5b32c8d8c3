"""Tabular Q-learning over tools: which option to run, learned from ``success - λ·cost``.

Watkins' Q-learning on the :class:`~toolgym.wrappers.ToolChoice` view: the state is the feature vector
(hashed question shape and the episode so far) used as a table key, the actions are the options, and the
update is ``Q(s, a) += α (r + γ max_{a' available} Q(s', a') - Q(s, a))``, applied at the end of each episode
from its last decision back to its first (so a target bootstraps from a successor already updated; with the
default ``α = 1/visits`` an early, unlearned successor value would otherwise stay in the running mean for
good). Exploration is ε-greedy over the *available* options (the action mask), with ε decayed linearly. The
training budget is counted in decisions (the view's steps), the unit every learner of the tool-choice
benchmark is given the same amount of. The view's decision limit is part of the state (its features count
decisions), so a truncated episode ends the return like a terminated one.

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
        decisions: Training budget in decisions (view steps); the last episode may run past it (by fewer
            decisions than the view's ``max_decisions``).
        alpha: Step size; ``None`` uses ``1 / visits`` of the (state, action) pair (a running mean, exact for
            one-step bandit-like decisions).
        gamma: Discount (1: the episode's return is what matters).
        epsilon_start: Exploration rate at the start.
        epsilon_end: Exploration rate at the end of the linear decay.
        decay_fraction: Fraction of the budget over which ε decays.
        initial_value: Value of an untried (state, option) pair; the default 1 (the best possible reward) is
            optimistic, so the greedy choice tries every option of a state before trusting an estimate.
        seed: Seeds the exploration generator and the view's task draws.
    """

    decisions: int = 5000
    alpha: float | None = None
    gamma: float = 1.0
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    decay_fraction: float = 0.5
    initial_value: float = 1.0
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
    """The greedy policy of a Q-table.

    A held-out task can show a feature vector training never met (a question of a new shape). With
    ``nearest=True`` (default) such a state takes the values of the nearest visited state (L1 distance of the
    features: the simplest state aggregation); with ``nearest=False`` its values are 0 and the first available
    option wins the tie.

    Attributes:
        q: State key -> action values.
        visits: State key -> visit counts per action.
        states: State key -> its feature vector.
        n_actions: Number of options.
        nearest: Whether unseen states borrow the nearest visited state's values.
        initial_value: Values of a state's options when it is first met in training.
    """

    q: dict[bytes, np.ndarray] = field(default_factory=dict)
    visits: dict[bytes, np.ndarray] = field(default_factory=dict)
    states: dict[bytes, np.ndarray] = field(default_factory=dict)
    n_actions: int = 0
    nearest: bool = True
    initial_value: float = 0.0

    @staticmethod
    def key(obs: np.ndarray) -> bytes:
        """The table key of a feature vector."""
        return np.asarray(obs, dtype=np.float32).tobytes()

    def entry(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (values, visits) arrays of a state, created when new (training)."""
        k = self.key(obs)
        if k not in self.q:
            self.q[k] = np.full(self.n_actions, float(self.initial_value))
            self.visits[k] = np.zeros(self.n_actions)
            self.states[k] = np.asarray(obs, dtype=np.float32).copy()
        return self.q[k], self.visits[k]

    def values(self, obs: np.ndarray) -> np.ndarray:
        """The action values of a state (of the nearest visited one, or zeros, when unseen)."""
        k = self.key(obs)
        if k in self.q:
            return self.q[k]
        if not self.nearest or not self.states:
            return np.zeros(self.n_actions)
        keys = list(self.states)
        dist = np.abs(np.stack([self.states[x] for x in keys]) - np.asarray(obs, dtype=np.float32)).sum(axis=1)
        return self.q[keys[int(np.argmin(dist))]]

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
    n = len(view.options)
    policy = TabularQPolicy(n_actions=n, initial_value=config.initial_value)
    start_decisions, start_steps = view.total_decisions, view.total_env_steps
    decay = max(1.0, config.decay_fraction * config.decisions)
    returns: list[float] = []
    spent = 0
    while spent < config.decisions:
        obs, info = view.reset(seed=config.seed) if not returns else view.reset()
        episode: list[tuple[np.ndarray, int, float, np.ndarray | None, np.ndarray | None]] = []
        done = False
        while not done:
            mask = info["action_mask"]
            eps = config.epsilon_start + (config.epsilon_end - config.epsilon_start) * min(1.0, spent / decay)
            if rng.random() < eps:
                a = int(rng.choice(np.flatnonzero(mask)))
            else:
                a = policy.choose(obs, mask, info)
            nxt, reward, terminated, truncated, info = view.step(a)
            spent += 1
            done = terminated or truncated
            episode.append((obs, a, float(reward), None if done else nxt, None if done else info["action_mask"]))
            obs = nxt
        # backward updates: a decision's target uses its successor's values already updated this episode
        for state, a, reward, nxt_state, nxt_mask in reversed(episode):
            q, visits = policy.entry(state)
            target = reward
            if nxt_state is not None:
                target += config.gamma * float(np.max(np.where(nxt_mask, policy.entry(nxt_state)[0], -np.inf)))
            visits[a] += 1
            alpha = config.alpha if config.alpha is not None else 1.0 / visits[a]
            q[a] += alpha * (target - q[a])
        returns.append(float(sum(e[2] for e in episode)))
    return QLearningResult(
        policy=policy,
        decisions=view.total_decisions - start_decisions,
        env_steps=view.total_env_steps - start_steps,
        episodes=len(returns),
        returns=tuple(returns),
        config=asdict(config),
    )
