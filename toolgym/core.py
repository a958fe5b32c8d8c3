"""The base class of every toolgym environment: :class:`TextEnv`.

A :class:`TextEnv` is a :class:`gymnasium.Env` whose actions are text. It owns everything the environment
families share, so that each family writes only its task logic:

* **parsing** - the action text goes through the env's :attr:`TextEnv.grammar`; a text that does not parse
  (or is not a string, or is too long) becomes an explanatory observation with
  ``info["invalid_action"] = True`` and the documented ``invalid_action_penalty``. ``step`` never raises
  for a bad action.
* **tool costs** - tools are called through :meth:`TextEnv.use_tool` (or recorded with
  :meth:`TextEnv.record_tool_call`), priced by the env's :class:`~toolgym.costs.CostModel`, and folded into
  the reward: ``reward = task_reward - cost_weight * cost - penalty``.
* **step limits** - after ``max_steps`` steps the episode is ``truncated`` (never together with
  ``terminated``).
* **info** - the standard keys on every reset and step (see :data:`INFO_KEYS`).
* **snapshots** - :meth:`TextEnv.get_state`, :meth:`TextEnv.set_state` and :meth:`TextEnv.state_key`.

A subclass implements :meth:`TextEnv._reset_task` and :meth:`TextEnv._act`, sets :attr:`TextEnv.grammar`,
and provides :meth:`TextEnv._get_state` / :meth:`TextEnv._set_state` and :meth:`TextEnv.expert_action`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import gymnasium as gym
import numpy as np

from toolgym.costs import CostModel, LatencyMode, ToolCall, ToolCost, timed
from toolgym.error import ConfigError, ResetNeeded, StateError, did_you_mean
from toolgym.parsing import Grammar, ParsedAction, ParseError, snippet
from toolgym.records import to_jsonable
from toolgym.spaces import Utf8Text
from toolgym.splits import normalize_question, split_of

__all__ = ["INFO_KEYS", "DataStatus", "EnvState", "KernelState", "TextEnv", "Transition"]

ObsT = TypeVar("ObsT")
T = TypeVar("T")

#: Keys present in ``info`` after every ``reset`` and ``step`` of every environment.
INFO_KEYS: tuple[str, ...] = (
    "task_id",
    "step",
    "success",
    "score",
    "task_reward",
    "tool_calls",
    "cost",
    "cost_total",
    "cost_breakdown",
    "invalid_action",
    "feedback",
)


@dataclass(frozen=True)
class Transition:
    """What a subclass's :meth:`TextEnv._act` returns for one parsed action.

    Attributes:
        observation: The text the agent sees next (tool output, game response...).
        reward: The *task* reward of this step, before tool costs and penalties.
        terminated: Whether the task ended (an answer was submitted, the game was won or lost).
        success: The new value of ``info["success"]``, or ``None`` to keep the current one.
        score: The new value of ``info["score"]``, or ``None`` to keep the current one.
        feedback: What a reflector may read about this step (e.g. failing tests), or ``None``.
        invalid: The action parsed but could not be carried out (unknown object, wrong argument); the
            invalid-action penalty applies and ``info["invalid_action"]`` is set.
    """

    observation: str
    reward: float = 0.0
    terminated: bool = False
    success: bool | None = None
    score: float | None = None
    feedback: str | None = None
    invalid: bool = False


@dataclass(frozen=True)
class KernelState:
    """The base class's episode bookkeeping in a snapshot (part of :class:`EnvState`).

    Attributes:
        task_id: The current task's id.
        steps: Steps taken in the episode.
        cost_total: The unweighted tool cost so far.
        cost_by_tool: That cost per tool name and component (a copy).
        success: ``info["success"]`` so far.
        score: ``info["score"]`` so far.
        done: Whether the episode ended.
        started: Whether ``reset`` was called.
        last_text: The last observation's text.
        last_action: The last action (for ``render``).
        last_reward: The last step's reward.
    """

    task_id: str
    steps: int
    cost_total: float
    cost_by_tool: Mapping[str, float]
    success: bool
    score: float
    done: bool
    started: bool
    last_text: str
    last_action: str
    last_reward: float


@dataclass(frozen=True)
class EnvState:
    """A snapshot of an environment, from :meth:`TextEnv.get_state`.

    Attributes:
        env: The environment class's qualified name (``set_state`` checks it).
        kernel: The base class's episode bookkeeping.
        task: The subclass's state (from ``_get_state``).
        rng: The state of ``env.np_random``'s bit generator.
    """

    env: str
    kernel: KernelState
    task: Any
    rng: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataStatus:
    """Where an environment's tasks come from and whether they are available here.

    Attributes:
        source: A short description (``"procedural (embedded)"``, ``"TOOLGYM_DATA_DIR/hotpotqa/..."``).
        available: Whether ``gym.make`` would find the data now.
        detail: What to do when it is not available.
    """

    source: str
    available: bool = True
    detail: str = ""


class TextEnv(gym.Env[ObsT, str], Generic[ObsT]):
    """Base class of toolgym environments: text actions, tool costs, invalid-action handling, snapshots.

    ## Arguments (shared by every environment)

    * ``max_steps`` - the step limit; the step that reaches it returns ``truncated=True``.
    * ``cost_weight`` - λ, the weight of tool costs in the reward (0 turns costs off).
    * ``tool_costs`` - per-tool overrides of the default prices: a number (per call) or a mapping of
      :class:`~toolgym.costs.ToolCost` fields.
    * ``latency`` - ``"nominal"`` (charge each tool's declared latency; deterministic) or ``"measured"``.
    * ``invalid_action_penalty`` - subtracted from the reward of an invalid action.
    * ``render_mode`` - ``None`` or ``"ansi"`` (subclasses may add modes).

    ## Info

    Every ``reset`` and ``step`` returns ``info`` with the keys of :data:`INFO_KEYS`:
    ``task_id``; ``step`` (steps taken); ``success`` (the won / exact-match flag, ``False`` until the task
    is solved); ``score`` (the task metric); ``task_reward`` (this step's task reward); ``tool_calls`` (this
    step's priced calls as dicts: name, arguments, output_chars, latency_s, cost and its parts); ``cost``
    (this step's unweighted tool cost) and ``cost_total`` (the episode's); ``cost_breakdown`` (the episode's
    cost per tool name); ``invalid_action``; and ``feedback``. Environments with a finite action set add
    ``admissible_actions``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}  # type: ignore[misc]

    #: The family shown by ``toolgym envs`` (``"search"``, ``"code"``, ``"household"``, ``"vqa"``...).
    family: ClassVar[str] = "other"
    #: Default prices of the env's tools (documented in each env's docstring).
    default_tool_costs: ClassVar[Mapping[str, ToolCost]] = {}
    #: Default step limit.
    default_max_steps: ClassVar[int] = 20
    #: Longest action text accepted; longer actions are invalid actions.
    max_action_length: ClassVar[int] = 16_384
    #: Longest observation text; longer tool output is cut with a marker.
    max_observation_length: ClassVar[int] = 65_536
    #: Extra ``reset(options=...)`` keys the env accepts besides ``task_id``.
    reset_option_keys: ClassVar[frozenset[str]] = frozenset()
    #: Whether the expert solves every task (False where some tasks are unsolvable, e.g. missing gold data);
    #: the shared test battery checks the expert only where this is True, env tests cover the rest.
    expert_solves_all: ClassVar[bool] = True
    #: Whether the env can be pickled mid-episode (False when it holds live handles such as processes).
    picklable: ClassVar[bool] = True
    #: Whether stepping drives an external engine slow enough (seconds per episode) that the shared test
    #: battery runs this env's checks only with the ``slow`` tests.
    heavy: ClassVar[bool] = False
    #: How often a random draw (``reset`` without a task id) is redrawn when it lands on a few-shot example
    #: task (:mod:`toolgym.splits`); after that many tries the draw stands (an env of very few tasks).
    max_example_redraws: ClassVar[int] = 32

    #: The env's action grammar; subclasses set it in ``__init__``.
    grammar: Grammar

    def __init__(
        self,
        *,
        max_steps: int | None = None,
        cost_weight: float = 1.0,
        tool_costs: Mapping[str, ToolCost | Mapping[str, float] | float] | None = None,
        latency: LatencyMode = "nominal",
        invalid_action_penalty: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        """Set up the shared machinery (see the class docstring for the arguments)."""
        max_steps = self.default_max_steps if max_steps is None else max_steps
        if not isinstance(max_steps, (int, np.integer)) or isinstance(max_steps, bool) or max_steps < 1:
            raise ConfigError(f"max_steps: expected a positive integer, got {max_steps!r}.")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(
                f"render_mode: expected None or one of {self.metadata['render_modes']}, got {render_mode!r}."
            )
        if not isinstance(invalid_action_penalty, (int, float)) or invalid_action_penalty < 0:
            raise ConfigError(
                f"invalid_action_penalty: expected a non-negative number, got {invalid_action_penalty!r}."
            )
        self.max_steps = int(max_steps)
        self.invalid_action_penalty = float(invalid_action_penalty)
        self.render_mode = render_mode
        self.cost_model = CostModel.build(self.default_tool_costs, tool_costs, weight=cost_weight, latency=latency)
        self.action_space = Utf8Text(self.max_action_length)
        self.observation_space = Utf8Text(self.max_observation_length)  # type: ignore[assignment]
        # Episode bookkeeping (the kernel part of a snapshot).
        self._task_id: str = ""
        self._steps = 0
        self._cost_total = 0.0
        self._cost_by_tool: dict[str, float] = {}
        self._success = False
        self._score = 0.0
        self._done = True
        self._started = False
        self._last_text = ""
        self._last_action = ""
        self._last_reward = 0.0
        self._pending_calls: list[ToolCall] = []

    # ------------------------------------------------------------------ hooks for subclasses
    def _reset_task(self, task_id: str | None, options: Mapping[str, Any]) -> tuple[str, str]:
        """Select and set up a task; return ``(first observation text, task_id)``.

        Args:
            task_id: The task asked for in ``options["task_id"]``, or ``None`` to draw one with
                ``self.np_random``.
            options: The remaining reset options (only keys of :attr:`reset_option_keys`).

        Raises:
            UnknownTaskError: ``task_id`` is not a task of this env.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement _reset_task")

    def _act(self, action: ParsedAction) -> Transition:
        """Carry out a parsed action and describe the outcome.

        Tool calls made here go through :meth:`use_tool` / :meth:`record_tool_call` so they are priced.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement _act")

    def _get_state(self) -> Any:
        """Return the subclass's state; stepping afterwards must not mutate the returned value."""
        raise NotImplementedError(f"{type(self).__name__} must implement _get_state")

    def _set_state(self, state: Any) -> None:
        """Restore a value from :meth:`_get_state`; must not keep references that stepping mutates."""
        raise NotImplementedError(f"{type(self).__name__} must implement _set_state")

    def _parse(self, text: str) -> ParsedAction | ParseError:
        """Parse an action text (default: ``self.grammar.parse``)."""
        return self.grammar.parse(text)

    def _observe(self, text: str) -> ObsT:
        """Build the observation from the text the agent sees (default: the text itself)."""
        return text  # type: ignore[return-value]

    def _on_truncate(self) -> Transition | None:
        """Called when the step limit ends the episode; may add an observation suffix, reward or feedback."""
        return None

    def instructions(self) -> str:
        """How to act in this env, for prompts and the ``play`` command (default: the grammar's usage)."""
        return f"Actions: {self.grammar.usage()}."

    def admissible_actions(self) -> list[str] | None:
        """The valid actions in the current state, where the set is finite; else ``None``."""
        return None

    def _extra_info(self) -> dict[str, Any]:
        """Extra ``info`` keys of this env (a fresh dict on each call)."""
        return {}

    def _state_key_data(self) -> Any:
        """What :meth:`state_key` hashes besides the task id (default: :meth:`_get_state`)."""
        return self._get_state()

    def expert_action(self) -> str:
        """The action of the env's expert (oracle) in the current state, from privileged state."""
        raise NotImplementedError(f"{type(self).__name__} has no expert policy")

    def task_ids(self) -> Sequence[str]:
        """The ids of the env's tasks (for procedural envs, a deterministic finite sample of them)."""
        raise NotImplementedError(f"{type(self).__name__} does not list its tasks")

    def iter_task_ids(self) -> Iterator[str]:
        """Every task id in a fixed order (procedural envs: without end), for :func:`toolgym.splits.task_split`.

        Default: :meth:`task_ids`.
        """
        return iter(self.task_ids())

    def split_key(self) -> str:
        """The current task's question, normalised: what decides its split (:mod:`toolgym.splits`).

        Default: the first observation's text. Envs whose question text repeats across different tasks (one
        question about many images) add what tells the tasks apart.
        """
        return normalize_question(self._last_text)

    @classmethod
    def data_status(cls, **kwargs: Any) -> DataStatus:
        """Where this env's tasks come from and whether they are available (default: procedural)."""
        return DataStatus("procedural (embedded, no download)", True)

    # ------------------------------------------------------------------ tools
    def use_tool(
        self,
        name: str,
        arguments: Any,
        fn: Callable[..., T],
        *args: Any,
        output_chars: Callable[[T], int] | None = None,
        **kwargs: Any,
    ) -> T:
        """Call a tool, time it, price it and record it for this step's ``info["tool_calls"]``.

        Args:
            name: The tool's name (a key of :attr:`default_tool_costs`).
            arguments: The arguments to record (as the agent gave them).
            fn: The function that does the work.
            *args: Passed to ``fn``.
            output_chars: How to count the output's characters (default ``len(str(output))``).
            **kwargs: Passed to ``fn``.

        Returns:
            What ``fn`` returned.
        """
        out, wall = timed(fn, *args, **kwargs)
        size = output_chars(out) if output_chars is not None else len(str(out))
        self.record_tool_call(name, arguments, size, wall)
        return out

    def record_tool_call(self, name: str, arguments: Any, output_chars: int, wall_s: float) -> ToolCall:
        """Price and record a tool call whose work was done elsewhere (e.g. timed by a sandbox)."""
        call = self.cost_model.price(name, to_jsonable(arguments), output_chars, wall_s)
        self._pending_calls.append(call)
        return call

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[ObsT, dict]:
        """Start an episode.

        Args:
            seed: Seeds ``self.np_random`` (same seed, same task, same episode).
            options: ``{"task_id": ...}`` selects a task; other keys are env-specific
                (:attr:`reset_option_keys`).

        Returns:
            The first observation and ``info``.
        """
        super().reset(seed=seed)
        opts = dict(options or {})
        task_id = opts.pop("task_id", None)
        unknown = sorted(set(opts) - set(self.reset_option_keys))
        if unknown:
            valid = sorted({"task_id", *self.reset_option_keys})
            raise ConfigError(
                f"{type(self).__name__}.reset: expected options among {valid}, got {unknown}."
                + did_you_mean(unknown[0], valid)
            )
        self._steps = 0
        self._cost_total = 0.0
        self._cost_by_tool = {}
        self._success = False
        self._score = 0.0
        self._pending_calls = []
        self._last_action = ""
        self._last_reward = 0.0
        text, tid = self._reset_task(None if task_id is None else str(task_id), opts)
        self._task_id, self._last_text = str(tid), self._clip(text)
        if task_id is None:  # a random draw is never a few-shot example task (toolgym.splits)
            for _ in range(self.max_example_redraws):
                if split_of(self.split_key()) != "examples":
                    break
                text, tid = self._reset_task(None, opts)
                self._task_id, self._last_text = str(tid), self._clip(text)
        self._done = False
        self._started = True
        info = self._info(task_reward=0.0, calls=[], invalid=False, feedback="")
        return self._observe(self._last_text), info

    def step(self, action: str) -> tuple[ObsT, float, bool, bool, dict]:
        """Take one action.

        Args:
            action: The action text. Anything that does not parse (or is not a string) yields an
                explanatory observation and ``info["invalid_action"] = True``.

        Returns:
            ``(observation, reward, terminated, truncated, info)``.

        Raises:
            ResetNeeded: ``reset`` was not called, or the episode already ended.
        """
        if not self._started:
            raise ResetNeeded(
                f"{type(self).__name__}.step: expected reset() before the first step, got step(). Call env.reset()."
            )
        if self._done:
            raise ResetNeeded(
                f"{type(self).__name__}.step: the episode already ended (terminated or truncated); "
                "call env.reset() to start another."
            )
        self._steps += 1
        self._pending_calls = []
        text, problem = self._coerce(action)
        self._last_action = text
        if problem is not None:
            tr = Transition(observation=problem, invalid=True)
        else:
            parsed = self._parse(text)
            tr = (
                Transition(observation=parsed.message, invalid=True)
                if isinstance(parsed, ParseError)
                else self._act(parsed)
            )
        terminated = bool(tr.terminated)
        truncated = not terminated and self._steps >= self.max_steps
        obs_text, task_reward, feedback = tr.observation, float(tr.reward), tr.feedback
        if tr.success is not None:
            self._success = bool(tr.success)
        if tr.score is not None:
            self._score = float(tr.score)
        if truncated:
            end = self._on_truncate()
            if end is not None:
                obs_text = f"{obs_text}\n{end.observation}" if end.observation else obs_text
                task_reward += float(end.reward)
                feedback = end.feedback if end.feedback is not None else feedback
                if end.success is not None:
                    self._success = bool(end.success)
                if end.score is not None:
                    self._score = float(end.score)
        calls = self._pending_calls
        cost = float(sum(c.cost for c in calls))
        self._cost_total += cost
        for c in calls:
            self._cost_by_tool[c.name] = self._cost_by_tool.get(c.name, 0.0) + c.cost
        penalty = self.invalid_action_penalty if tr.invalid else 0.0
        reward = task_reward - self.cost_model.weight * cost - penalty
        self._last_text = self._clip(obs_text)
        self._last_reward = reward
        self._done = terminated or truncated
        info = self._info(task_reward=task_reward, calls=calls, invalid=tr.invalid, feedback=feedback or "")
        self._pending_calls = []
        return self._observe(self._last_text), float(reward), terminated, truncated, info

    def render(self) -> str | None:
        """``"ansi"``: the last action, observation and reward as text."""
        if self.render_mode != "ansi":
            return None
        head = f"[{self._task_id} step {self._steps}/{self.max_steps}]"
        if self._steps == 0:
            return f"{head}\n{self._last_text}\n"
        return (
            f"{head} > {self._last_action}\n{self._last_text}\n"
            f"(reward {self._last_reward:+.4f}, cost total {self._cost_total:.4f}, success {self._success})\n"
        )

    # ------------------------------------------------------------------ snapshots
    def get_state(self) -> EnvState:
        """Snapshot the episode (task state, bookkeeping and random generator)."""
        kernel = KernelState(
            task_id=self._task_id,
            steps=self._steps,
            cost_total=self._cost_total,
            cost_by_tool=dict(self._cost_by_tool),
            success=self._success,
            score=self._score,
            done=self._done,
            started=self._started,
            last_text=self._last_text,
            last_action=self._last_action,
            last_reward=self._last_reward,
        )
        return EnvState(type(self).__qualname__, kernel, self._get_state(), self.np_random.bit_generator.state)

    def set_state(self, state: EnvState) -> None:
        """Restore a snapshot from :meth:`get_state` (of an env of the same class and task source).

        Raises:
            StateError: ``state`` is not a snapshot of this env class.
        """
        if not isinstance(state, EnvState) or state.env != type(self).__qualname__:
            got = state.env if isinstance(state, EnvState) else type(state).__name__
            raise StateError(
                f"{type(self).__name__}.set_state: expected a state from {type(self).__name__}.get_state(), "
                f"got one from {got}."
            )
        k = state.kernel
        self._task_id, self._steps, self._cost_total = k.task_id, k.steps, k.cost_total
        self._cost_by_tool = dict(k.cost_by_tool)
        self._success, self._score, self._done, self._started = k.success, k.score, k.done, k.started
        self._last_text, self._last_action, self._last_reward = k.last_text, k.last_action, k.last_reward
        self._set_state(state.task)
        self.np_random.bit_generator.state = state.rng
        self._pending_calls = []

    def state_key(self) -> str:
        """A stable hash of the decision-relevant state (for Q-tables and MCTS transposition tables).

        Two states with the same key offer the same future: same task, same task state, same ``done``.
        The key is the same across processes and runs.
        """
        payload = [type(self).__qualname__, self._task_id, self._done, to_jsonable(self._state_key_data())]
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha1(blob.encode("utf-8")).hexdigest()[:20]

    def observe(self) -> ObsT:
        """The current observation again (e.g. after :meth:`set_state`)."""
        return self._observe(self._last_text)

    @property
    def task_id(self) -> str:
        """The current task's id."""
        return self._task_id

    @property
    def elapsed_steps(self) -> int:
        """Steps taken in this episode."""
        return self._steps

    @property
    def done(self) -> bool:
        """Whether the episode ended (or was never started)."""
        return self._done

    # ------------------------------------------------------------------ internals
    def _coerce(self, action: Any) -> tuple[str, str | None]:
        if isinstance(action, (bytes, bytearray)):
            action = bytes(action).decode("utf-8", errors="replace")
        if isinstance(action, np.str_):
            action = str(action)
        if not isinstance(action, str):
            return "", (
                f"Invalid action: expected a text action (str), got a {type(action).__name__}. "
                f"Send text such as {self._example_action()}."
            )
        if len(action) > self.max_action_length:
            return action[:200], (
                f"Invalid action: expected at most {self.max_action_length} characters, got {len(action)}. "
                "Send a shorter action."
            )
        if "\x00" in action:
            action = action.replace("\x00", "")
        return action, None

    def _example_action(self) -> str:
        usage = self.grammar.usage() if hasattr(self, "grammar") else "an action"
        return snippet(usage, 60)

    def _clip(self, text: str) -> str:
        limit = self.max_observation_length
        if len(text) <= limit:
            return text
        keep = limit - 80  # the marker is shorter than 80 characters
        return text[:keep] + f"\n... [output cut: {len(text) - keep} more characters]"

    def _info(self, *, task_reward: float, calls: list[ToolCall], invalid: bool, feedback: str) -> dict:
        info: dict[str, Any] = {
            "task_id": self._task_id,
            "step": self._steps,
            "success": self._success,
            "score": self._score,
            "task_reward": float(task_reward),
            "tool_calls": [c.to_dict() for c in calls],
            "cost": float(sum(c.cost for c in calls)),
            "cost_total": self._cost_total,
            "cost_breakdown": dict(self._cost_by_tool),
            "invalid_action": bool(invalid),
            "feedback": feedback,
        }
        admissible = self.admissible_actions()
        if admissible is not None:
            info["admissible_actions"] = list(admissible)
        info.update(self._extra_info())
        return info
