"""The pluggable roles of an agent: :class:`Policy`, :class:`LLM` and :class:`Reflector`.

These are :class:`typing.Protocol` classes: anything with the right methods plugs in, no inheritance needed.
:class:`BasePolicy` is an optional base class that fills in the batched call and the per-episode
bookkeeping, so that a new policy is a few lines::

    from toolgym.agents import BasePolicy

    class CalcThenAnswer(BasePolicy):
        name = "calc-then-answer"

        def act(self, observation, info, *, slot=0):
            if info["step"] == 0:
                return "calc[" + observation.split("What is ")[-1].rstrip("?") + "]"
            return f"finish[{observation}]"

A policy may serve several episodes at once (the rollout engine runs N environments side by side and
asks for N actions in one :meth:`Policy.act_batch` call, so that a language model sees one batch). Each
concurrent episode has a *slot* number; a policy that keeps per-episode state (a ReAct scratchpad) keys it
by slot.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from toolgym.error import ConfigError, ToolgymError

if TYPE_CHECKING:
    import gymnasium as gym

    from toolgym.records import Trajectory

__all__ = [
    "LLM",
    "AgentAction",
    "BasePolicy",
    "Completion",
    "LLMError",
    "LLMStats",
    "Message",
    "Policy",
    "Prompt",
    "Reflection",
    "Reflector",
    "SamplingParams",
    "SlotState",
    "mix_seed",
    "observation_images",
    "observation_text",
]

logger = logging.getLogger(__name__)

#: A chat message: ``{"role": "system" | "user" | "assistant", "content": str | list of parts}``. A part is
#: ``{"type": "text", "text": ...}`` or ``{"type": "image", "image": <H×W×3 uint8 array or PIL image>}``.
Message = Mapping[str, Any]
#: What an :class:`LLM` completes: a plain text prompt, or a list of chat messages.
Prompt = str | Sequence[Message]


class LLMError(ToolgymError, RuntimeError):
    """A language-model backend failed (unreachable server, timeout, bad response, out of memory).

    The rollout engine records the message in ``EpisodeResult.error`` for the affected episodes and goes on.
    """


# ---------------------------------------------------------------------------------------------- LLM


@dataclass(frozen=True)
class SamplingParams:
    """How to sample a completion.

    Attributes:
        max_tokens: The most new tokens per completion.
        temperature: 0 for greedy decoding; above 0 samples.
        top_p: Nucleus sampling mass.
        stop: Strings that end a completion; the completion is cut before the first one (and excludes it).
        seed: Seeds the call's sampling where the backend supports it: prompt ``i`` of a ``generate`` call
            samples from its own generator seeded by ``(seed, i)``, so the k copies of one prompt give k
            independent samples, and the same seed gives the same samples whatever the batching. Without a seed
            (and without ``seeds``) every call draws fresh samples (local backends take them from torch's global
            generator, so ``torch.manual_seed`` makes a run repeatable).
        seeds: One seed per prompt of the call (overrides ``seed``): a policy derives them from its episodes
            so that a sample depends on its episode, not on which other episodes shared the batch.

    Example:
        >>> SamplingParams(max_tokens=64, stop=("\\nObservation",)).replace(temperature=0.7).temperature
        0.7
        >>> SamplingParams(temperature=1.0, seed=3).prompt_seeds(2) == SamplingParams(seed=3).prompt_seeds(2)
        True
    """

    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    seeds: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ConfigError(f"SamplingParams.max_tokens: expected a positive int, got {self.max_tokens!r}.")
        if not isinstance(self.temperature, (int, float)) or self.temperature < 0:
            raise ConfigError(f"SamplingParams.temperature: expected a number >= 0, got {self.temperature!r}.")
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            raise ConfigError(f"SamplingParams.top_p: expected a number in (0, 1], got {self.top_p!r}.")
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        if any(not isinstance(s, str) or not s for s in stop):
            raise ConfigError(f"SamplingParams.stop: expected non-empty strings, got {self.stop!r}.")
        object.__setattr__(self, "stop", stop)
        if self.seed is not None and not _is_int(self.seed):
            raise ConfigError(f"SamplingParams.seed: expected an int or None, got {self.seed!r}.")
        if self.seeds is not None:
            seeds = tuple(self.seeds)
            if not all(_is_int(x) for x in seeds):
                raise ConfigError(f"SamplingParams.seeds: expected one int per prompt, got {self.seeds!r}.")
            object.__setattr__(self, "seeds", tuple(int(x) for x in seeds))

    def replace(self, **changes: Any) -> SamplingParams:
        """Return a copy with some fields changed."""
        return replace(self, **changes)

    def prompt_seeds(self, n: int) -> list[int] | None:
        """The seed of each of the ``n`` prompts of a call (``None`` when neither ``seeds`` nor ``seed`` is set).

        Raises:
            ConfigError: ``seeds`` does not hold one seed per prompt.
        """
        if self.seeds is not None:
            if len(self.seeds) != n:
                raise ConfigError(
                    f"SamplingParams.seeds: expected one seed per prompt ({n}), got {len(self.seeds)}. Pass seeds "
                    "with the same length as the prompts, or a single seed=."
                )
            return list(self.seeds)
        if self.seed is None:
            return None
        return [mix_seed(self.seed, i) for i in range(n)]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def mix_seed(*parts: Any) -> int:
    """A 63-bit seed that depends only on ``parts`` (stable across processes and platforms, unlike ``hash``).

    Example:
        >>> mix_seed(0, 1) == mix_seed(0, 1) != mix_seed(0, 2)
        True
    """
    digest = hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass(frozen=True)
class Completion:
    """One completion of one prompt.

    Attributes:
        text: The generated text (cut before the first stop string).
        prompt_tokens: Tokens in the prompt.
        completion_tokens: Tokens generated.
        latency_s: Wall-clock seconds the caller waited for it (for a batch: the batch's time).
        finish_reason: ``"stop"`` (a stop string or end of sequence) or ``"length"`` (``max_tokens`` hit).
        prompt_ids: The prompt's token ids as the model read them, where the backend knows them (local models).
        completion_ids: The ids the model generated (through the stop or EOS), where the backend knows them; with
            ``prompt_ids`` they make a training example without re-tokenising text
            (:mod:`toolgym.algorithms.tokens`).
    """

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    finish_reason: str = "stop"
    prompt_ids: tuple[int, ...] | None = None
    completion_ids: tuple[int, ...] | None = None


@dataclass
class LLMStats:
    """Running totals of a backend's use (read them to measure time spent in the model).

    Attributes:
        calls: ``generate`` calls.
        prompts: Prompts completed.
        prompt_tokens: Prompt tokens processed.
        completion_tokens: Tokens generated.
        busy_s: Wall-clock seconds spent inside ``generate``.
        errors: Failed calls.
    """

    calls: int = 0
    prompts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    busy_s: float = 0.0
    errors: int = 0

    def add(self, completions: Sequence[Completion], wall_s: float) -> None:
        """Count one successful ``generate`` call."""
        self.calls += 1
        self.prompts += len(completions)
        self.prompt_tokens += sum(c.prompt_tokens for c in completions)
        self.completion_tokens += sum(c.completion_tokens for c in completions)
        self.busy_s += wall_s

    def as_dict(self) -> dict[str, float]:
        """The totals as a plain dict."""
        return {
            "calls": self.calls,
            "prompts": self.prompts,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "busy_s": self.busy_s,
            "errors": self.errors,
        }


@runtime_checkable
class LLM(Protocol):
    """A language model: completes a batch of prompts.

    Backends: ``"hf"`` (:class:`~toolgym.agents.llm.hf.HFLLM`), ``"openai"``
    (:class:`~toolgym.agents.llm.openai_compat.OpenAILLM`), ``"scripted"``
    (:class:`~toolgym.agents.llm.scripted.ScriptedLLM`) and ``"tiny"`` (a tiny random model for tests); build
    one with :func:`toolgym.agents.make_llm`.

    Attributes:
        name: A short description for records (backend and model).
        stats: Running totals (:class:`LLMStats`).
        supports_images: Whether prompts may carry image parts.
    """

    name: str
    stats: LLMStats
    supports_images: bool

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams | None = None) -> list[Completion]:
        """Complete every prompt (one completion each, in order).

        Args:
            prompts: Text prompts or chat message lists (mixing is allowed).
            params: Sampling parameters (defaults: :class:`SamplingParams`).

        Returns:
            One :class:`Completion` per prompt.

        Raises:
            LLMError: The backend failed.
        """
        ...


# ---------------------------------------------------------------------------------------------- Policy


class AgentAction(str):
    """An action text that carries what produced it (a ``str`` subclass: environments see plain text).

    Policies may return these from :meth:`Policy.act`; the rollout engine copies ``thought`` into the
    :class:`~toolgym.records.Step` and adds ``usage`` to the episode's token counts.

    Attributes:
        thought: The reasoning before the action, if any.
        raw: The model's full output for this step, if any.
        usage: ``prompt_tokens``, ``completion_tokens`` and ``llm_s`` spent on this step.

    Example:
        >>> a = AgentAction("finish[4]", thought="2 + 2 = 4.", usage={"completion_tokens": 7})
        >>> a == "finish[4]", a.thought
        (True, '2 + 2 = 4.')
    """

    thought: str | None
    raw: str | None
    usage: Mapping[str, float]

    def __new__(
        cls,
        text: str,
        *,
        thought: str | None = None,
        raw: str | None = None,
        usage: Mapping[str, float] | None = None,
    ) -> AgentAction:
        """Wrap ``text`` with its metadata."""
        obj = super().__new__(cls, text)
        obj.thought = thought
        obj.raw = raw
        obj.usage = dict(usage or {})
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_action, (str(self), self.thought, self.raw, dict(self.usage)))


def _rebuild_action(text: str, thought: str | None, raw: str | None, usage: dict[str, float]) -> AgentAction:
    return AgentAction(text, thought=thought, raw=raw, usage=usage)


@runtime_checkable
class Policy(Protocol):
    """Chooses actions. One instance may serve several concurrent episodes, told apart by ``slot``.

    Attributes:
        name: A short name for records (``"expert"``, ``"react"``...).
    """

    name: str

    def reset(self, observation: Any, info: Mapping[str, Any], *, env: gym.Env | None = None, slot: int = 0) -> None:
        """Start an episode in ``slot``.

        Args:
            observation: The reset observation (the task as the agent sees it).
            info: The reset ``info`` (``task_id``...).
            env: The environment of this episode (the expert reads its privileged state; most policies
                ignore it).
            slot: Which concurrent episode this is.
        """
        ...

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """Return the next action text for the episode in ``slot``."""
        ...

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[Mapping[str, Any]], *, slots: Sequence[int] | None = None
    ) -> list[str]:
        """Return one action per episode, in one go (a language-model policy makes one batched call).

        Args:
            observations: The current observation of each episode.
            infos: The current ``info`` of each episode.
            slots: The slot of each episode (default ``0..n-1``).
        """
        ...


_TYPED_SLOT_FIELDS = frozenset({"env", "first_observation", "first_info"})


@dataclass(eq=False)
class SlotState(MutableMapping[str, Any]):
    """The state of the episode in one slot of a :class:`BasePolicy` (``policy.episode(slot)``).

    What :meth:`BasePolicy.reset` records is typed (``env``, ``first_observation``, ``first_info``); a
    subclass keeps its own per-episode values by key (``state["history"]``, ``state.get("rng")``): the state
    is a mapping of those.

    Attributes:
        env: The episode's environment (``None`` when ``reset`` was not given one).
        first_observation: The reset observation.
        first_info: The reset ``info`` (a copy).
    """

    env: gym.Env | None = None
    first_observation: Any = None
    first_info: dict[str, Any] = field(default_factory=dict)
    _values: dict[str, Any] = field(default_factory=dict, repr=False)

    def __getitem__(self, key: str) -> Any:
        if key in _TYPED_SLOT_FIELDS and key not in self._values:
            raise KeyError(f"SlotState: {key!r} is an attribute, not a key: read state.{key}")
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[key] = value

    def __delitem__(self, key: str) -> None:
        del self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def restart(self, env: gym.Env | None, observation: Any, info: Mapping[str, Any]) -> None:
        """Start a new episode in this slot: forget the subclass's values, record the env and the task."""
        self._values.clear()
        self.env, self.first_observation, self.first_info = env, observation, dict(info)


class BasePolicy:
    """Optional base class for policies: a batched call that loops over :meth:`act`, and per-slot state.

    Subclasses implement :meth:`act` (and override :meth:`act_batch` when a batch is cheaper than a loop,
    as for language models). :meth:`reset` records the episode's env, observation and info in
    ``self.episode(slot)`` (a :class:`SlotState`), which also holds the subclass's own per-episode values.

    Optional hook: a multi-trial policy (Reflexion) defines
    ``end_episodes(trajectories, infos, slots) -> list[bool]``; the rollout engine calls it when episodes
    end and re-runs the same task in each slot for which it returns True.
    """

    name: str = "policy"

    def __init__(self) -> None:
        """Create the per-slot store."""
        self._episodes: dict[int, SlotState] = {}

    def episode(self, slot: int = 0) -> SlotState:
        """The mutable per-episode state of ``slot`` (created empty on first use)."""
        if not hasattr(self, "_episodes"):
            self._episodes = {}
        return self._episodes.setdefault(slot, SlotState())

    def reset(self, observation: Any, info: Mapping[str, Any], *, env: gym.Env | None = None, slot: int = 0) -> None:
        """Start an episode in ``slot``: forget the slot's previous state, keep the env and the task."""
        self.episode(slot).restart(env, observation, info)

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """Return the next action (subclasses implement this)."""
        raise NotImplementedError(f"{type(self).__name__} must implement act()")

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[Mapping[str, Any]], *, slots: Sequence[int] | None = None
    ) -> list[str]:
        """Call :meth:`act` for each episode in turn."""
        slots = _check_batch(observations, infos, slots)
        return [self.act(o, i, slot=s) for o, i, s in zip(observations, infos, slots)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _check_batch(observations: Sequence[Any], infos: Sequence[Any], slots: Sequence[int] | None) -> list[int]:
    """The batch's slots (``0..n-1`` when None), after checking the three lists have one entry per episode."""
    slots = list(range(len(observations))) if slots is None else list(slots)
    if not (len(observations) == len(infos) == len(slots)):
        raise ConfigError(
            "act_batch: expected as many observations, infos and slots, got "
            f"{len(observations)}, {len(infos)} and {len(slots)}."
        )
    return slots


# ---------------------------------------------------------------------------------------------- Reflector


@dataclass(frozen=True)
class Reflection:
    """What a :class:`Reflector` says about a failed attempt.

    Attributes:
        text: The verbal reflection (Reflexion: a diagnosis and a new plan), or the reflector's reasoning.
        actions: A repaired action sequence to re-execute in the environment (Re-ReST), or ``None`` when the
            reflector only gives advice.
        thoughts: The thought before each repaired action (same length as ``actions``), if any.
        usage: Tokens and seconds the reflector spent.
    """

    text: str
    actions: tuple[str, ...] | None = None
    thoughts: tuple[str | None, ...] | None = None
    usage: Mapping[str, float] = field(default_factory=dict)


@runtime_checkable
class Reflector(Protocol):
    """Looks at a failed attempt and says how to do better (Reflexion), or repairs it (Re-ReST)."""

    def reflect(self, task: str, trajectory: Trajectory, feedback: str) -> Reflection:
        """Reflect on one failed attempt.

        Args:
            task: The task as the agent saw it (``trajectory.question``).
            trajectory: The failed attempt.
            feedback: What the environment said about it (``info["feedback"]`` at the end).
        """
        ...

    def reflect_batch(
        self, tasks: Sequence[str], trajectories: Sequence[Trajectory], feedbacks: Sequence[str]
    ) -> list[Reflection]:
        """Reflect on several attempts in one go (one batched model call)."""
        ...


# ---------------------------------------------------------------------------------------------- observations

_TEXT_KEYS = ("question", "text", "observation", "tool_output", "last_tool_output", "feedback", "output")


def observation_text(observation: Any) -> str:
    """The text of an observation: the string itself, or the text fields of a dict observation.

    Dict observations (the VQA envs: image + question + last tool output) contribute their string values in
    a stable order (``question`` first, then other text keys, then the rest alphabetically), each text once;
    arrays and images are left out (see :func:`observation_images`).

    Example:
        >>> observation_text({"image": np.zeros((2, 2, 3), np.uint8), "question": "What colour?", "tool_output": ""})
        'What colour?'
    """
    if isinstance(observation, str):
        return observation
    if isinstance(observation, Mapping):
        keys = [k for k in _TEXT_KEYS if k in observation]
        keys += sorted(k for k in observation if k not in _TEXT_KEYS)
        parts = []
        for k in keys:
            v = observation[k]
            if isinstance(v, np.ndarray) and v.dtype.kind in "US" and v.ndim == 0:
                v = str(v)
            if isinstance(v, str) and v.strip() and v.strip() not in parts:
                parts.append(v.strip())
        return "\n".join(parts)
    if isinstance(observation, (bytes, bytearray)):
        return bytes(observation).decode("utf-8", errors="replace")
    return str(observation)


def observation_images(observation: Any) -> list[np.ndarray]:
    """The images of an observation: every H×W×3 (or H×W) ``uint8`` array among a dict's values.

    Example:
        >>> len(observation_images({"image": np.zeros((4, 4, 3), np.uint8), "question": "q"}))
        1
        >>> observation_images("text only")
        []
    """
    if not isinstance(observation, Mapping):
        return []
    out: list[np.ndarray] = []
    for k in sorted(observation):
        v = observation[k]
        items = v if isinstance(v, (list, tuple)) else [v]
        for item in items:
            if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim in (2, 3) and item.size:
                out.append(item)
    return out
