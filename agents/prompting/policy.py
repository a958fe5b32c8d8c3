"""The shared machinery of the prompting policies: :class:`LLMPolicy` and the helpers the methods share.

:class:`LLMPolicy` holds the model, sampling, examples and per-episode history, and batches the calls;
:mod:`~toolgym.agents.prompting.react`, :mod:`~toolgym.agents.prompting.answer` and
:mod:`~toolgym.agents.prompting.fallback` build the methods on it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from toolgym.agents.base import (
    AgentAction,
    BasePolicy,
    Completion,
    SamplingParams,
    _check_batch,
    mix_seed,
    observation_images,
    observation_text,
)
from toolgym.agents.llm import make_llm
from toolgym.agents.prompting.family import EnvAdapter
from toolgym.agents.prompting.fewshot import Example, cache_key, examples_from, select_examples
from toolgym.error import ConfigError

if TYPE_CHECKING:
    import gymnasium as gym

__all__ = ["ALPACA_HEADER", "REFLECTION_HEADER", "LLMPolicy", "act_into"]

#: The Alpaca instruction header used by FireAct's fine-tuning data and zero-shot inference.
ALPACA_HEADER = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
)
#: Put before the reflections of earlier trials (Reflexion).
REFLECTION_HEADER = (
    "You have attempted this task before and failed. The following reflection(s) give a plan to avoid failing "
    "the same way again. Use them to improve your strategy for solving the task."
)
_STYLES = ("text", "chat", "alpaca")


def _usage(completions: Sequence[Completion]) -> dict[str, float]:
    return {
        "prompt_tokens": sum(c.prompt_tokens for c in completions),
        "completion_tokens": sum(c.completion_tokens for c in completions),
        "llm_s": max((c.latency_s for c in completions), default=0.0),
    }


def _add_usage(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


def _question(text: str) -> str:
    stripped = text.strip()
    return stripped[len("question:") :].strip() if stripped.lower().startswith("question:") else stripped


def _init_options(*classes: type) -> dict[str, inspect.Parameter]:
    """The keyword parameters of the ``__init__`` of ``classes`` and their bases (up to :class:`BasePolicy`)."""
    out: dict[str, inspect.Parameter] = {}
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    for cls in classes:
        for klass in cls.__mro__:
            if klass in (BasePolicy, object):
                break
            if "__init__" in vars(klass):
                for name, p in inspect.signature(vars(klass)["__init__"]).parameters.items():
                    if name != "self" and p.kind in kinds:
                        out.setdefault(name, p)
    return out


class LLMPolicy(BasePolicy):
    """Shared machinery of the prompting policies: the model, sampling, examples and per-episode history.

    Subclasses implement :meth:`_prompt` (the prompt of one slot) and :meth:`_parse` (a completion into an
    :class:`~toolgym.agents.base.AgentAction`); this class batches the calls.

    Args:
        llm: An :class:`~toolgym.agents.base.LLM`, or a spec for :func:`~toolgym.agents.make_llm`.
        examples: ``"auto"`` (published, written or expert-made examples, see
            :func:`~toolgym.agents.prompting.fewshot.select_examples`), ``"published"``, ``"written"``,
            ``"expert"``, ``"none"``, or a list of :class:`~toolgym.agents.prompting.fewshot.Example` (or dicts).
        num_examples: At most this many examples (default: the source's own number).
        max_tokens: New tokens per call.
        temperature: Sampling temperature (0: greedy).
        top_p: Nucleus mass.
        seed: Sampling seed (with ``temperature > 0``).
        instructions: Replaces the env's instructions in the prompt.
        style: ``"text"`` (a completion prompt), ``"chat"`` (chat messages) or ``"alpaca"``.
    """

    method = "llm"
    #: Put before the memory block (:meth:`memory_text`) in the prompt.
    memory_header = REFLECTION_HEADER

    @classmethod
    def accepted_options(cls) -> dict[str, inspect.Parameter]:
        """Every option the constructor takes, those passed on to the base class included."""
        return _init_options(cls)

    def __init__(
        self,
        llm: Any,
        *,
        examples: str | Sequence[Example | Mapping[str, Any]] = "auto",
        num_examples: int | None = None,
        max_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        instructions: str | None = None,
        style: str = "text",
    ) -> None:
        """Create the policy (see the class docstring)."""
        super().__init__()
        self.llm = make_llm(llm)
        if isinstance(examples, str):
            if examples not in ("auto", "published", "written", "expert", "none"):
                raise ConfigError(
                    "examples: expected 'auto', 'published', 'written', 'expert', 'none' or a list of examples, "
                    f"got {examples!r}."
                )
            self._example_source, self._fixed_examples = examples, None
        else:
            self._example_source, self._fixed_examples = "given", examples_from(examples)
        if num_examples is not None and (not isinstance(num_examples, int) or num_examples < 0):
            raise ConfigError(f"num_examples: expected an int >= 0 or None, got {num_examples!r}.")
        if style not in _STYLES:
            raise ConfigError(f"style: expected one of {list(_STYLES)}, got {style!r}.")
        self.num_examples = num_examples
        self.params = SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed)
        self.instructions = instructions
        self.style = style
        self.memory: Callable[[int], str] | None = None
        self._example_cache: dict[tuple[Any, ...], list[Example]] = {}
        self.name = f"{self.method}"

    # ------------------------------------------------------------------------------------------ episode state
    def reset(self, observation: Any, info: Mapping[str, Any], *, env: gym.Env | None = None, slot: int = 0) -> None:
        """Start an episode: read the env, pick examples, clear the history."""
        super().reset(observation, info, env=env, slot=slot)
        state = self.episode(slot)
        adapter = EnvAdapter.from_env(env) if env is not None else _default_adapter()
        state.update(
            adapter=adapter,
            question=_question(observation_text(observation)),
            images=observation_images(observation) if getattr(self.llm, "supports_images", False) else [],
            history=[],
            pending=None,
            extra_usage={},
            examples=self._examples(env, observation),
            sample_key=(str(info.get("task_id", "")), info.get("reset_seed"), int(info.get("trial", 0) or 0)),
        )

    def _examples(self, env: gym.Env | None, observation: Any) -> list[Example]:
        if self._fixed_examples is not None:
            return list(
                self._fixed_examples[: self.num_examples] if self.num_examples is not None else self._fixed_examples
            )
        if env is None or self._example_source == "none":
            return []
        key = cache_key(env, self._examples_method(), observation, self.num_examples, self._example_source)
        if key not in self._example_cache:
            self._example_cache[key] = select_examples(
                env, self._examples_method(), observation, k=self.num_examples, source=self._example_source
            )
        return list(self._example_cache[key])

    def _examples_method(self) -> str:
        return self.method

    def add_usage(self, slot: int, usage: Mapping[str, float]) -> None:
        """Charge extra model usage (e.g. a reflection) to the next action of ``slot``."""
        state = self.episode(slot)
        state["extra_usage"] = _add_usage(state.get("extra_usage", {}), usage)

    def _observe(self, slot: int, observation: Any) -> None:
        """Move the slot's pending action into its history with the observation it got (idempotent)."""
        state = self.episode(slot)
        if "history" not in state:
            raise ConfigError(f"{type(self).__name__}: expected reset() before act() in slot {slot}.")
        if state["pending"] is not None:
            thought, action = state["pending"]
            state["history"].append((thought, action, observation_text(observation)))
            state["pending"] = None

    def _commit(self, slot: int, action: AgentAction) -> AgentAction:
        state = self.episode(slot)
        state["pending"] = (action.thought, str(action))
        extra = state.get("extra_usage")
        if extra:
            action = AgentAction(
                str(action), thought=action.thought, raw=action.raw, usage=_add_usage(action.usage, extra)
            )
            state["extra_usage"] = {}
        return action

    def memory_text(self, slot: int) -> str:
        """The reflections block for ``slot`` (empty unless a Reflexion policy set :attr:`memory`)."""
        if self.memory is None:
            return ""
        return self.memory(slot).strip()

    # ------------------------------------------------------------------------------------------ batching
    def _prompt(self, slot: int) -> Any:
        """The prompt of ``slot``'s next call (abstract: each method renders its own)."""
        raise NotImplementedError(f"{type(self).__name__}: an LLMPolicy must define _prompt")

    def _stop(self, slot: int) -> tuple[str, ...]:
        return ()

    def _parse(self, slot: int, completion: Completion) -> AgentAction:
        """The action a completion gives (abstract: each method parses its own format)."""
        raise NotImplementedError(f"{type(self).__name__}: an LLMPolicy must define _parse")

    def _repair(self, slots: list[int], actions: list[AgentAction]) -> list[AgentAction]:
        """A second chance for outputs without an action (ReAct); default: none."""
        return actions

    def propose(
        self, slots: Sequence[int], n: int = 1, params: SamplingParams | None = None
    ) -> list[list[AgentAction]]:
        """Sample ``n`` candidate actions per slot in one batched call (the history is not changed).

        Args:
            slots: The slots (after :meth:`_observe`).
            n: Candidates per slot.
            params: Sampling parameters (default: the policy's).
        """
        params = params or self.params
        prompts, index = [], []
        for s in slots:
            p = self._prompt(s)
            stop = self._stop(s)
            for j in range(n):
                prompts.append(p)
                index.append((s, stop, j))
        seeds = self._sample_seeds(params, index)
        # one call per distinct stop set (usually one)
        by_stop: dict[tuple[str, ...], list[int]] = {}
        for k, (_, stop, _) in enumerate(index):
            by_stop.setdefault(stop, []).append(k)
        completions: list[Completion | None] = [None] * len(prompts)
        for stop, ks in by_stop.items():
            call = params.replace(stop=tuple(dict.fromkeys((*params.stop, *stop))))
            if seeds is not None:
                call = call.replace(seed=None, seeds=tuple(seeds[k] for k in ks))
            for k, c in zip(ks, self.llm.generate([prompts[k] for k in ks], call)):
                completions[k] = c
        actions = [self._parse(index[k][0], c) for k, c in enumerate(completions) if c is not None]
        actions = self._repair([index[k][0] for k in range(len(index))], actions)
        return [actions[i * n : (i + 1) * n] for i in range(len(slots))]

    def _sample_seeds(self, params: SamplingParams, index: Sequence[tuple[int, Any, int]]) -> list[int] | None:
        """With a seed and ``temperature > 0``: one seed per prompt, from the episode, its step and the candidate.

        A sample then depends on its episode (task, reset seed, trial), step and candidate index, never on
        which episodes shared the batch: ``rollout(task_ids=[t] * k, num_envs=n)`` gives k independent episodes,
        the same ones for every ``n``. Without a seed, each call samples afresh.
        """
        if params.temperature <= 0 or params.seed is None:
            return None
        out = []
        for s, _, j in index:
            state = self.episode(s)
            out.append(mix_seed(params.seed, state.get("sample_key", s), len(state.get("history", ())), j))
        return out

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """The next action of one episode (a batch of one)."""
        return self.act_batch([observation], [info], slots=[slot])[0]

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[Mapping[str, Any]], *, slots: Sequence[int] | None = None
    ) -> list[str]:
        """The next action of every episode, from one batched model call."""
        slots = _check_batch(observations, infos, slots)
        for s, o in zip(slots, observations):
            self._observe(s, o)
        proposals = self.propose(slots)
        return [self._commit(s, p[0]) for s, p in zip(slots, proposals)]

    # ------------------------------------------------------------------------------------------ prompt parts
    def _header(self, slot: int, lead: str) -> str:
        state = self.episode(slot)
        text = self.instructions if self.instructions is not None else state["adapter"].instructions
        return f"{lead}\n{text}".strip() if lead else text.strip()

    def _memory_block(self, slot: int) -> str:
        mem = self.memory_text(slot)
        return f"{self.memory_header}\n{mem}\n" if mem else ""

    def _user_content(self, slot: int, text: str) -> Any:
        images = self.episode(slot).get("images") or []
        if not images:
            return text
        return [{"type": "text", "text": text}] + [{"type": "image", "image": im} for im in images]


def _default_adapter() -> EnvAdapter:
    return EnvAdapter("other", "", "", ("finish",), False, False, "finish")


def _llm_kwargs(policy: LLMPolicy) -> dict[str, Any]:
    examples: Any = policy._fixed_examples if policy._fixed_examples is not None else policy._example_source
    return {
        "examples": examples,
        "num_examples": policy.num_examples,
        "max_tokens": policy.params.max_tokens,
        "temperature": policy.params.temperature,
        "top_p": policy.params.top_p,
        "seed": policy.params.seed,
        "instructions": policy.instructions,
        "style": policy.style if policy.style != "alpaca" else "text",
    }


def act_into(
    out: list[str],
    act_batch: Callable[..., list[str]],
    ks: Sequence[int],
    observations: Sequence[Any],
    infos: Sequence[Mapping[str, Any]],
    slots: Sequence[int],
) -> None:
    """Act on the entries ``ks`` of a batch with ``act_batch`` and write each action to ``out[k]``."""
    if not ks:
        return
    acts = act_batch([observations[k] for k in ks], [infos[k] for k in ks], slots=[slots[k] for k in ks])
    for k, a in zip(ks, acts):
        out[k] = a
