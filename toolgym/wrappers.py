"""Generic wrappers for toolgym environments: discrete views for classic RL, and the tool-choice view.

* :class:`DiscreteActions` - for environments that list ``info["admissible_actions"]`` (the household
  family, or any env with a finite action set): action ``i`` is the ``i``-th admissible action, the action
  space is ``Discrete(max_actions)``, ``info["action_mask"]`` marks the valid indices, and the text
  observation becomes a fixed-size vector (a hashed bag of words, :class:`HashedBagOfWords`). Stable-baselines3
  (PPO, DQN, A2C...) and tabular learners run on it unchanged; ``action_masks()`` serves sb3-contrib's
  ``MaskablePPO``.
* :class:`ToolChoice` - the tool-choice view of any env: action ``i`` runs option ``i`` (answer directly,
  calculate, search, a nested ``research`` sub-agent...), a fixed sub-policy; the observation is features of
  the question and of the episode so far; the reward is the env's ``success - λ·cost`` with its breakdown in
  ``info``; ``action_masks()`` marks the available options. Options are :class:`Option` objects (ready-made
  ones in :mod:`toolgym.agents.options`).

Both follow Gymnasium's wrapper conventions (subclasses of :class:`gymnasium.Wrapper`, constructor arguments
recorded with :class:`gymnasium.utils.RecordConstructorArgs`, no attribute forwarding beyond Gymnasium's).
Multi-trial (Reflexion) episodes are not a wrapper: the rollout engine re-runs a task when the policy's
``end_episodes`` hook asks (:mod:`toolgym.agents.engine`).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from toolgym.error import ConfigError, ResetNeeded, StateError
from toolgym.records import Step
from toolgym.rng import rand_elem

__all__ = [
    "DiscreteActions",
    "HashedBagOfWords",
    "Option",
    "OptionContext",
    "ToolChoice",
    "ToolChoiceState",
]

_WORD = re.compile(r"[a-z0-9]+")
_WORD_OR_SYMBOL = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")
_NUMBER_MODES = ("keep", "shape", "both")


class HashedBagOfWords:
    """Text -> a fixed-size 0/1 vector: each word (and each pair of adjacent words) sets one hashed slot.

    The hash is CRC-32, so vectors are the same across processes and runs (Python's ``hash`` is salted).

    Args:
        dim: Vector size.
        bigrams: Also hash adjacent word pairs (``"mug 1"``, ``"countertop 2"`` stay distinct from the
            bare words).
        numbers: ``"keep"`` (default: a number is a word like any other), ``"shape"`` (a number becomes its
            shape, ``4837`` -> ``<num4>``, so features generalise to unseen numbers) or ``"both"``.
        symbols: Also hash each punctuation or operator character (``×``, ``+``, ``(``) as a word.

    Example:
        >>> enc = HashedBagOfWords(64)
        >>> v = enc("You arrive at loc 5.")
        >>> v.shape, v.dtype, float(v.sum()) > 0
        ((64,), dtype('float32'), True)
        >>> bool((enc("a b") == enc("A  B!")).all())
        True
    """

    def __init__(self, dim: int = 256, *, bigrams: bool = True, numbers: str = "keep", symbols: bool = False) -> None:
        """Set the size (see the class docstring)."""
        if not isinstance(dim, int) or dim < 1:
            raise ConfigError(f"HashedBagOfWords: expected dim to be a positive int, got {dim!r}.")
        if numbers not in _NUMBER_MODES:
            raise ConfigError(f"HashedBagOfWords: expected numbers among {list(_NUMBER_MODES)}, got {numbers!r}.")
        self.dim = dim
        self.bigrams = bigrams
        self.numbers = numbers
        self.symbols = bool(symbols)

    def words(self, text: str) -> list[str]:
        """The tokens that are hashed (before bigrams), after the ``numbers`` and ``symbols`` rules.

        Example:
            >>> HashedBagOfWords(8, numbers="shape", symbols=True).words("What is 4837 × 21?")
            ['what', 'is', '<num4>', '×', '<num2>', '?']
        """
        words = (_WORD_OR_SYMBOL if self.symbols else _WORD).findall(text.lower())
        if self.numbers == "keep":
            return words
        out: list[str] = []
        for w in words:
            if w.isdigit():
                if self.numbers == "both":
                    out.append(w)
                out.append(f"<num{len(w)}>")
            else:
                out.append(w)
        return out

    def __call__(self, text: str) -> np.ndarray:
        """Encode ``text``."""
        out = np.zeros(self.dim, dtype=np.float32)
        words = self.words(text)
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


@dataclass
class OptionContext:
    """What an :class:`Option` may read when it decides its next inner action.

    Attributes:
        question: The episode's first observation text (the task).
        observations: Every observation text of the episode so far, the reset observation first.
        info: The env's latest ``info``.
        options_used: Names of the options chosen so far this episode (invalid choices excluded).
        inner_actions: The actions this option has sent so far in the current decision.
        rng: The generator an option draws from: the base env's ``np_random``, so the env's snapshot and seed
            cover it.
    """

    question: str
    observations: list[str]
    info: dict[str, Any]
    options_used: list[str]
    inner_actions: list[str]
    rng: np.random.Generator


class Option:
    """A fixed sub-policy the :class:`ToolChoice` view runs as one discrete action.

    An option sends text actions to the base env, one per :meth:`next_action` call, until it returns ``None``
    or the episode ends; a *nested* option (a sub-agent such as ``research``) sends several, a flat one sends
    one. Options keep no state of their own: all they read is in the :class:`OptionContext` and the env, so
    snapshots of the view restore them too.

    Attributes:
        name: The option's name (what ``info["option"]`` reports).
        max_inner_steps: Most actions one run of the option may send.
    """

    name: str = "option"
    max_inner_steps: int = 1

    def available(self, env: Any, ctx: OptionContext) -> bool:
        """Whether the option may be chosen now (its entry of the action mask); default always."""
        return True

    def next_action(self, env: Any, ctx: OptionContext) -> str | None:
        """The next action text to send to ``env`` (the base text env), or ``None`` when the option is done."""
        raise NotImplementedError(f"{type(self).__name__} must implement next_action")


@dataclass(frozen=True)
class ToolChoiceState:
    """A snapshot of a :class:`ToolChoice` view: the base env's snapshot and the view's bookkeeping."""

    env: Any
    view: tuple[Any, ...]


class ToolChoice(gym.Wrapper[np.ndarray, np.int64, Any, str], gym.utils.RecordConstructorArgs):
    """A tool-choice view of any toolgym env: one ``Discrete`` action per option, feature observations.

    Action ``i`` runs ``options[i]`` (answer directly, search, calculate, a nested ``research`` sub-agent...),
    a fixed sub-policy that sends one or more text actions to the env. The learner decides *which* tool to use;
    the options decide *how*. Each choice is a decision; after ``max_decisions`` of them the episode is
    truncated.

    The observation is a ``Box`` vector: a hashed bag of words of the question (``dim`` slots, see
    :class:`HashedBagOfWords`; numbers as shapes and operators as words by default, so features carry over to
    unseen questions), a hashed bag of words of the latest observation (``obs_dim`` slots), then the episode so
    far: decisions taken (as a fraction of ``max_decisions``), the unweighted tool cost so far, whether the
    last env step was an invalid action, which options were used, and which option was last.

    The reward of a decision is the sum of the env's rewards over its inner steps, so it is the env's own
    ``success - λ·cost`` (λ = the env's ``cost_weight``), minus ``invalid_penalty`` for choosing an
    unavailable option (which sends nothing to the env). ``info`` is the env's latest info with ``tool_calls``,
    ``cost`` and ``task_reward`` summed over the decision's inner steps, plus ``option`` (its name),
    ``inner_steps`` (each inner action as a :class:`~toolgym.records.Step` dict, with its tool calls),
    ``reward_breakdown`` (``task_reward``, ``cost``, ``cost_weight``, ``weighted_cost``, ``penalty``,
    ``reward``), ``decisions`` and ``action_mask``. ``action_masks()`` serves sb3-contrib's ``MaskablePPO``.

    ``task_ids`` restricts a plain ``reset()`` to those tasks (drawn uniformly from a generator seeded by
    ``reset(seed=...)``): give it a :func:`toolgym.splits.task_split` to train on one split only. A plain
    ``reset()`` also reseeds the env with a seed from that generator, so each episode's random draws (a
    direct answerer's luck) are fresh whatever the options consumed in the episode before.

    Args:
        env: A toolgym env (any family).
        options: The options, in action-index order.
        dim: Slots of the question's bag of words.
        obs_dim: Slots of the latest observation's bag of words (0 leaves it out).
        max_decisions: Decisions per episode before truncation.
        invalid_penalty: Subtracted when an unavailable option is chosen.
        task_ids: Tasks a plain ``reset()`` draws from (default: the env's own draw).
        encoder: The text encoder (default ``HashedBagOfWords(dim, numbers="shape", symbols=True)``).

    Example:
        >>> import gymnasium as gym
        >>> import toolgym
        >>> from toolgym.agents.options import arithmetic_options
        >>> view = ToolChoice(gym.make("toolgym/ToolChoice-Arithmetic-v0"), arithmetic_options())
        >>> obs, info = view.reset(seed=0)
        >>> [o.name for o in view.options], info["action_mask"].tolist()
        (['answer', 'calculate', 'answer_with_tool'], [True, True, False])
        >>> obs, reward, terminated, truncated, info = view.step(1)  # calculate
        >>> info["option"], [s["action"][:5] for s in info["inner_steps"]], view.action_masks().tolist()
        ('calculate', ['calc['], [True, False, True])
    """

    def __init__(
        self,
        env: gym.Env,
        options: Sequence[Option],
        *,
        dim: int = 64,
        obs_dim: int = 32,
        max_decisions: int = 4,
        invalid_penalty: float = 0.0,
        task_ids: Sequence[str] | None = None,
        encoder: HashedBagOfWords | None = None,
    ) -> None:
        """Wrap ``env`` (see the class docstring for the arguments)."""
        gym.utils.RecordConstructorArgs.__init__(
            self, dim=dim, obs_dim=obs_dim, max_decisions=max_decisions, invalid_penalty=invalid_penalty
        )
        gym.Wrapper.__init__(self, env)
        options = list(options)
        if not options or not all(isinstance(o, Option) for o in options):
            raise ConfigError(
                f"ToolChoice: expected a non-empty sequence of Option instances, got {options!r}. "
                "Build one with toolgym.agents.options (e.g. arithmetic_options())."
            )
        names = [o.name for o in options]
        if len(set(names)) != len(names):
            raise ConfigError(f"ToolChoice: expected distinct option names, got {names}.")
        if not isinstance(max_decisions, int) or max_decisions < 1:
            raise ConfigError(f"ToolChoice: expected max_decisions to be a positive int, got {max_decisions!r}.")
        if not isinstance(obs_dim, int) or obs_dim < 0:
            raise ConfigError(f"ToolChoice: expected obs_dim to be an int >= 0, got {obs_dim!r}.")
        if invalid_penalty < 0:
            raise ConfigError(f"ToolChoice: expected invalid_penalty >= 0, got {invalid_penalty!r}.")
        base = env.unwrapped
        if not hasattr(base, "get_state") or not hasattr(base, "cost_model"):
            raise ConfigError(
                f"ToolChoice: expected a toolgym TextEnv (or a wrapper of one), got {type(base).__name__}. "
                "Create it with gym.make('toolgym/...')."
            )
        self.options = options
        self.max_decisions = max_decisions
        self.invalid_penalty = float(invalid_penalty)
        self.task_ids = None if task_ids is None else [str(t) for t in task_ids]
        if self.task_ids is not None and not self.task_ids:
            raise ConfigError("ToolChoice: expected task_ids to be None or non-empty, got an empty list.")
        self.encoder = encoder or HashedBagOfWords(dim, numbers="shape", symbols=True)
        self.obs_encoder = HashedBagOfWords(obs_dim, numbers="shape", symbols=True) if obs_dim else None
        n = len(options)
        self._size = self.encoder.dim + obs_dim + 3 + 2 * n
        self.action_space = spaces.Discrete(n)
        self.observation_space = spaces.Box(0.0, np.inf, shape=(self._size,), dtype=np.float32)
        self._task_rng = np.random.default_rng()
        #: Decisions and base-env steps taken since construction, across episodes and snapshot restores (the
        #: budget a learner spent; not part of a snapshot).
        self.total_decisions = 0
        self.total_env_steps = 0
        self._clear()

    def _clear(self) -> None:
        self._question = ""
        self._observations: list[str] = []
        self._info: dict[str, Any] = {}
        self._used: list[str] = []
        self._last = -1
        self._decisions = 0
        self._last_invalid = False
        self._done = False

    @property
    def cost_model(self) -> Any:
        """The base env's :class:`~toolgym.costs.CostModel` (prices and λ)."""
        return self._base().cost_model

    @property
    def cost_weight(self) -> float:
        """λ: the base env's weight of tool costs in the reward."""
        return float(self._base().cost_model.weight)

    def _base(self) -> Any:
        """The toolgym text env under the view (typed loosely: a TextEnv of any observation type)."""
        return self.env.unwrapped

    def _ctx(self, inner: list[str]) -> OptionContext:
        base = self.env.unwrapped
        return OptionContext(self._question, self._observations, self._info, self._used, inner, base.np_random)

    def _mask(self) -> np.ndarray:
        if self._done:
            return np.ones(len(self.options), dtype=bool)
        base = self.env.unwrapped
        ctx = self._ctx([])
        mask = np.array([bool(o.available(base, ctx)) for o in self.options], dtype=bool)
        if not mask.any():
            raise ConfigError(
                f"ToolChoice: expected at least one available option in every state, got none of "
                f"{[o.name for o in self.options]} at decision {self._decisions}. Keep an answering option "
                "always available."
            )
        return mask

    def _features(self) -> np.ndarray:
        parts = [self.encoder(self._question)]
        if self.obs_encoder is not None:
            latest = self._observations[-1] if len(self._observations) > 1 else ""
            parts.append(self.obs_encoder(latest))
        n = len(self.options)
        used = np.array([1.0 if o.name in self._used else 0.0 for o in self.options], dtype=np.float32)
        last = np.zeros(n, dtype=np.float32)
        if self._last >= 0:
            last[self._last] = 1.0
        tail = [
            self._decisions / self.max_decisions,
            float(self._info.get("cost_total", 0.0)),
            float(self._last_invalid),
        ]
        parts += [np.array(tail, dtype=np.float32), used, last]
        return np.concatenate(parts).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Reset the env (on a task of ``task_ids`` when given); return the features and ``info``."""
        if seed is not None:
            self._task_rng = np.random.default_rng(seed)
        opts = dict(options or {})
        if self.task_ids is not None and "task_id" not in opts:
            opts["task_id"] = rand_elem(self._task_rng, self.task_ids)
        if seed is None:  # a fresh env seed per episode, independent of what the options drew last episode
            seed = int(self._task_rng.integers(2**31 - 1))
        obs, info = self.env.reset(seed=seed, options=opts or None)
        self._clear()
        self._question = str(obs)
        self._observations = [str(obs)]
        self._info = dict(info)
        out = dict(info)
        out.update(option="", inner_steps=[], decisions=0, action_mask=self._mask())
        return self._features(), out

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict]:
        """Run option ``action`` to its end (or the episode's); see the class docstring for ``info``."""
        env: Any = self.env  # a text env under the view
        if self._done:
            raise ResetNeeded("ToolChoice.step: expected reset() after the episode ended, got step(). Call reset().")
        i = int(action)
        mask = self._mask()
        self._decisions += 1
        self.total_decisions += 1
        base = self.env.unwrapped
        inner_steps: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        reward = task_reward = cost = 0.0
        terminated = truncated = False
        valid = 0 <= i < len(self.options) and bool(mask[i])
        penalty = 0.0 if valid else self.invalid_penalty
        if valid:
            option = self.options[i]
            inner: list[str] = []
            self._used.append(option.name)
            self._last = i
            for _ in range(option.max_inner_steps):
                text = option.next_action(base, self._ctx(inner))
                if text is None:
                    break
                inner.append(text)
                obs, r, terminated, truncated, info = env.step(text)
                self.total_env_steps += 1
                self._observations.append(str(obs))
                self._info = dict(info)
                self._last_invalid = bool(info.get("invalid_action", False))
                reward += float(r)
                task_reward += float(info.get("task_reward", 0.0))
                cost += float(info.get("cost", 0.0))
                calls.extend(info.get("tool_calls", []))
                step = Step(
                    action=text,
                    observation=str(obs),
                    reward=float(r),
                    terminated=bool(terminated),
                    truncated=bool(truncated),
                    cost=float(info.get("cost", 0.0)),
                    tool_calls=tuple(info.get("tool_calls", [])),
                    invalid_action=bool(info.get("invalid_action", False)),
                    info={"option": option.name, "success": bool(info.get("success", False))},
                )
                inner_steps.append(step.to_dict())
                if terminated or truncated:
                    break
        else:
            self._last_invalid = True
        reward -= penalty
        if not terminated and not truncated and self._decisions >= self.max_decisions:
            truncated = True
        self._done = bool(terminated or truncated)
        out = dict(self._info)
        lam = self.cost_weight
        out.update(
            option=self.options[i].name if valid else "",
            invalid_action=not valid or any(s["invalid_action"] for s in inner_steps),
            inner_steps=inner_steps,
            tool_calls=calls,
            cost=cost,
            task_reward=task_reward,
            reward_breakdown={
                "task_reward": task_reward,
                "cost": cost,
                "cost_weight": lam,
                "weighted_cost": lam * cost,
                "penalty": penalty,
                "reward": reward,
            },
            decisions=self._decisions,
            action_mask=self._mask(),
        )
        return self._features(), reward, bool(terminated), bool(truncated), out

    def action_masks(self) -> np.ndarray:
        """Which options are available now (the method sb3-contrib's ``MaskablePPO`` calls)."""
        return self._mask()

    @property
    def question(self) -> str:
        """The episode's first observation (the task), as text."""
        return self._question

    @property
    def done(self) -> bool:
        """Whether the episode ended."""
        return self._done

    def get_state(self) -> ToolChoiceState:
        """Snapshot the base env and the view's bookkeeping (options keep no state, see :class:`Option`)."""
        view = (
            self._question,
            tuple(self._observations),
            dict(self._info),
            tuple(self._used),
            self._last,
            self._decisions,
            self._last_invalid,
            self._done,
        )
        return ToolChoiceState(self._base().get_state(), view)

    def set_state(self, state: ToolChoiceState) -> None:
        """Restore a snapshot from :meth:`get_state`."""
        if not isinstance(state, ToolChoiceState):
            raise StateError(
                f"ToolChoice.set_state: expected a ToolChoiceState from ToolChoice.get_state(), got "
                f"{type(state).__name__}."
            )
        self._base().set_state(state.env)
        question, observations, info, used, last, decisions, last_invalid, done = state.view
        self._question = question
        self._observations = list(observations)
        self._info = dict(info)
        self._used = list(used)
        self._last = last
        self._decisions = decisions
        self._last_invalid = last_invalid
        self._done = done

    def observe(self) -> np.ndarray:
        """The current feature vector (e.g. after :meth:`set_state`)."""
        return self._features()
