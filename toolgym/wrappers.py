"""Generic wrappers for toolgym environments: a discrete view for classic RL, and multi-trial episodes.

* :class:`DiscreteActions` - for environments that list ``info["admissible_actions"]`` (the household
  family, or any env with a finite action set): action ``i`` is the ``i``-th admissible action, the action
  space is ``Discrete(max_actions)``, ``info["action_mask"]`` marks the valid indices, and the text
  observation becomes a fixed-size vector (a hashed bag of words, :class:`HashedBagOfWords`). Stable-baselines3
  (PPO, DQN, A2C...) and tabular learners run on it unchanged; ``action_masks()`` serves sb3-contrib's
  ``MaskablePPO``.
* :class:`MultiTrial` - Reflexion's protocol: after a failed episode, the next ``reset()`` re-attempts the
  *same* task, up to ``max_trials`` times; ``info["trial"]`` says which attempt this is.

Both follow Gymnasium's wrapper conventions (subclasses of :class:`gymnasium.Wrapper`, constructor arguments
recorded with :class:`gymnasium.utils.RecordConstructorArgs`, no attribute forwarding beyond Gymnasium's).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from toolgym.error import ConfigError

__all__ = ["DiscreteActions", "HashedBagOfWords", "MultiTrial"]

_WORD = re.compile(r"[a-z0-9]+")


class HashedBagOfWords:
    """Text -> a fixed-size 0/1 vector: each word (and each pair of adjacent words) sets one hashed slot.

    The hash is CRC-32, so vectors are the same across processes and runs (Python's ``hash`` is salted).

    Args:
        dim: Vector size.
        bigrams: Also hash adjacent word pairs (``"mug 1"``, ``"countertop 2"`` stay distinct from the
            bare words).

    Example:
        >>> enc = HashedBagOfWords(64)
        >>> v = enc("You arrive at loc 5.")
        >>> v.shape, v.dtype, float(v.sum()) > 0
        ((64,), dtype('float32'), True)
        >>> bool((enc("a b") == enc("A  B!")).all())
        True
    """

    def __init__(self, dim: int = 256, *, bigrams: bool = True) -> None:
        """Set the size (see the class docstring)."""
        if not isinstance(dim, int) or dim < 1:
            raise ConfigError(f"HashedBagOfWords: expected dim to be a positive int, got {dim!r}.")
        self.dim = dim
        self.bigrams = bigrams

    def __call__(self, text: str) -> np.ndarray:
        """Encode ``text``."""
        out = np.zeros(self.dim, dtype=np.float32)
        words = _WORD.findall(text.lower())
        for w in words:
            out[zlib.crc32(w.encode()) % self.dim] = 1.0
        if self.bigrams:
            for a, b in zip(words, words[1:]):
                out[zlib.crc32(f"{a} {b}".encode()) % self.dim] = 1.0
        return out


class DiscreteActions(gym.Wrapper[np.ndarray, np.int64, Any, str], gym.utils.RecordConstructorArgs):
    """A ``Discrete`` view of an environment's admissible actions, with vector observations.

    Action ``i`` sends the ``i``-th entry of the current ``info["admissible_actions"]`` (in the env's order).
    An index past the end of the list is handled by ``out_of_range``: ``"invalid"`` (default) sends an empty
    action, which the env answers as an invalid action (it costs a step and the env's invalid-action
    penalty); ``"wrap"`` uses ``i % len(admissible)``.

    The observation is ``blocks`` hashed bags of words of ``dim`` slots each (a ``Box(0, 1)`` vector of
    ``len(fields) * dim``): ``"observation"`` (the latest text), ``"action"`` (the text of the last action)
    and ``"context"`` (the first observation of the episode, which states the task).

    ``info`` gains ``action_mask`` (bool array of ``max_actions``: which indices are admissible now),
    ``action_text`` (what index ``i`` meant, after a step), ``text_observation`` (the raw text) and
    ``admissible_truncated`` (whether more than ``max_actions`` actions were admissible; the extra ones are
    not reachable).

    Args:
        env: A toolgym environment whose ``info`` lists ``admissible_actions``.
        max_actions: The size of the action space.
        dim: Slots per hashed block.
        fields: The blocks of the observation, among ``"observation"``, ``"action"``, ``"context"``.
        out_of_range: ``"invalid"`` or ``"wrap"`` (see above).

    Example:
        >>> import gymnasium as gym
        >>> import toolgym
        >>> env = DiscreteActions(gym.make("toolgym/Household-v0"), max_actions=64, dim=128)
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, int(info["action_mask"].sum()) == len(info["admissible_actions"])
        ((384,), True)
        >>> obs, reward, terminated, truncated, info = env.step(0)
        >>> info["action_text"] == info["admissible_actions_before"][0]
        True
    """

    _FIELDS = ("observation", "action", "context")

    def __init__(
        self,
        env: gym.Env,
        max_actions: int = 128,
        dim: int = 256,
        fields: Sequence[str] = ("observation", "action", "context"),
        out_of_range: str = "invalid",
    ) -> None:
        """Wrap ``env`` (see the class docstring for the arguments)."""
        gym.utils.RecordConstructorArgs.__init__(
            self, max_actions=max_actions, dim=dim, fields=tuple(fields), out_of_range=out_of_range
        )
        gym.Wrapper.__init__(self, env)
        if not isinstance(max_actions, int) or max_actions < 1:
            raise ConfigError(f"DiscreteActions: expected max_actions to be a positive int, got {max_actions!r}.")
        bad = [f for f in fields if f not in self._FIELDS]
        if bad or not fields:
            raise ConfigError(f"DiscreteActions: expected fields among {list(self._FIELDS)}, got {list(fields)}.")
        if out_of_range not in ("invalid", "wrap"):
            raise ConfigError(f"DiscreteActions: expected out_of_range 'invalid' or 'wrap', got {out_of_range!r}.")
        self.max_actions = max_actions
        self.fields = tuple(fields)
        self.out_of_range = out_of_range
        self.encoder = HashedBagOfWords(dim)
        self.action_space = spaces.Discrete(max_actions)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(dim * len(self.fields),), dtype=np.float32)
        self._admissible: list[str] = []
        self._context = ""
        self._last_action = ""

    def _encode(self, text: str) -> np.ndarray:
        parts = {"observation": text, "action": self._last_action, "context": self._context}
        return np.concatenate([self.encoder(parts[f]) for f in self.fields])

    def _mask(self) -> np.ndarray:
        mask = np.zeros(self.max_actions, dtype=bool)
        mask[: min(len(self._admissible), self.max_actions)] = True
        return mask

    def _augment(self, obs: Any, info: dict[str, Any]) -> dict[str, Any]:
        admissible = info.get("admissible_actions")
        if admissible is None:
            raise ConfigError(
                f"DiscreteActions: expected the env to list info['admissible_actions'], but "
                f"{type(self.env.unwrapped).__name__} does not; wrap an env with a finite action set."
            )
        self._admissible = list(admissible)
        info = dict(info)
        info["action_mask"] = self._mask()
        info["text_observation"] = obs if isinstance(obs, str) else str(obs)
        info["admissible_truncated"] = len(self._admissible) > self.max_actions
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Reset the env; return the encoded observation and ``info`` with ``action_mask``."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._context = str(obs)
        self._last_action = ""
        info = self._augment(obs, info)
        return self._encode(str(obs)), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict]:
        """Send the text of admissible action ``action``."""
        i = int(action)
        before = self._admissible
        if 0 <= i < len(before):
            text = before[i]
        elif self.out_of_range == "wrap" and before:
            text = before[i % len(before)]
        else:
            text = ""
        self._last_action = text
        env: Any = self.env  # a text env under a Discrete view
        obs, reward, terminated, truncated, info = env.step(text)
        info = self._augment(obs, info)
        info["action_text"] = text
        info["admissible_actions_before"] = before
        return self._encode(str(obs)), reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """The valid indices now (the method sb3-contrib's ``MaskablePPO`` calls)."""
        return self._mask()


class MultiTrial(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Reflexion's multi-trial episodes: after a failure, the next ``reset()`` re-attempts the same task.

    ``reset(seed=..., options=...)`` with a seed or a ``task_id`` starts a *new* task at trial 0. A plain
    ``reset()`` after an episode that failed (``info["success"]`` false) starts trial ``t + 1`` of the same
    task (the env is reset with ``options={"task_id": ...}``), until ``max_trials`` attempts were made; after
    a success or the last trial, a plain ``reset()`` moves on to a new task. ``options={"new_task": True}``
    moves on at once.

    ``info`` carries ``trial`` (0-based), ``max_trials`` and, after reset, ``previous_trials``: one record per
    earlier attempt of this task (``success``, ``steps``, ``feedback``) for a reflector to read.

    Args:
        env: A toolgym environment (any env that accepts ``options={"task_id": ...}``).
        max_trials: Attempts per task (Reflexion uses up to 10 on ALFWorld; default 3).

    Example:
        >>> import gymnasium as gym
        >>> import toolgym
        >>> env = MultiTrial(gym.make("toolgym/Household-v0", max_steps=2), max_trials=2)
        >>> _, info = env.reset(seed=0)
        >>> first = info["task_id"]
        >>> _ = env.step("look"); _, _, _, truncated, _ = env.step("look")
        >>> _, info = env.reset()
        >>> (info["trial"], info["task_id"] == first)
        (1, True)
    """

    def __init__(self, env: gym.Env, max_trials: int = 3) -> None:
        """Wrap ``env`` (see the class docstring for the arguments)."""
        gym.utils.RecordConstructorArgs.__init__(self, max_trials=max_trials)
        gym.Wrapper.__init__(self, env)
        if not isinstance(max_trials, int) or max_trials < 1:
            raise ConfigError(f"MultiTrial: expected max_trials to be a positive int, got {max_trials!r}.")
        self.max_trials = max_trials
        self._task_id: str | None = None
        self._trial = 0
        self._history: list[dict[str, Any]] = []
        self._steps = 0
        self._last: dict[str, Any] | None = None

    @property
    def trial(self) -> int:
        """The current attempt (0-based)."""
        return self._trial

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """Start the next attempt of the current task, or a new task (see the class docstring)."""
        opts = dict(options or {})
        new_task = bool(opts.pop("new_task", False))
        retry = (
            not new_task
            and seed is None
            and "task_id" not in opts
            and self._task_id is not None
            and self._last is not None
            and not self._last.get("success", False)
            and self._trial + 1 < self.max_trials
        )
        if self._last is not None and self._task_id is not None:
            self._history.append(
                {
                    "success": bool(self._last.get("success", False)),
                    "steps": self._steps,
                    "feedback": str(self._last.get("feedback", "")),
                }
            )
        if retry:
            self._trial += 1
            obs, info = self.env.reset(options={**opts, "task_id": self._task_id})
        else:
            self._trial = 0
            self._history = []
            obs, info = self.env.reset(seed=seed, options=opts or None)
            self._task_id = str(info.get("task_id", ""))
        self._last = None
        self._steps = 0
        info = dict(info)
        info.update(trial=self._trial, max_trials=self.max_trials, previous_trials=list(self._history))
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict]:
        """Step the env; ``info`` gains ``trial`` and ``max_trials``."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        info = dict(info)
        info.update(trial=self._trial, max_trials=self.max_trials)
        if terminated or truncated:
            self._last = info
        return obs, reward, terminated, truncated, info
