"""Reflexion (Shinn et al., 2023): retry a failed task with self-reflections in the prompt.

:class:`ReflexionPolicy` wraps a prompting method (ReAct by default) and uses the rollout engine's
multi-trial hook: when a trial fails, a :class:`~toolgym.agents.reflectors.VerbalReflector` reflects on it
(all failed episodes of a round in one batched call), the reflection joins the episode's memory (the last
``memory_size`` are kept, 3 as in Reflexion's ALFWorld runs), and the engine re-runs the same task with the
memory in the prompt, up to ``max_trials`` trials.

Whether a trial failed is read from ``info["success"]`` at its end — the environment's evaluator, which
knows the gold answer. Reflexion's HotpotQA and ALFWorld runs use this same oracle signal; report it as such.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from toolgym.agents.base import BasePolicy
from toolgym.agents.llm import make_llm
from toolgym.agents.prompting.answer import _base_policy, base_method_options
from toolgym.agents.reflectors import VerbalReflector, render_attempt
from toolgym.error import ConfigError

if TYPE_CHECKING:
    import gymnasium as gym

    from toolgym.records import Trajectory

__all__ = ["STRATEGIES", "ReflexionPolicy"]

#: What the next trial sees: Reflexion's strategies.
STRATEGIES = ("reflexion", "last_attempt", "last_attempt_and_reflexion", "none")


class ReflexionPolicy(BasePolicy):
    """A prompting method retried with self-reflection (see the module docstring).

    Args:
        llm: The actor's model (an :class:`~toolgym.agents.base.LLM` or a spec).
        base: The method of each trial: ``"react"`` (default), ``"act"``, ``"cot"`` or ``"io"``.
        max_trials: Trials per task, the first included.
        memory_size: Reflections kept (the most recent).
        strategy: ``"reflexion"`` (reflections), ``"last_attempt"`` (the previous trial's text),
            ``"last_attempt_and_reflexion"``, or ``"none"`` (plain retries, a baseline).
        reflector: A :class:`~toolgym.agents.base.Reflector` (default: a
            :class:`~toolgym.agents.reflectors.VerbalReflector` over ``llm``).
        **kwargs: Options of the base method (examples, max_tokens, temperature, style...).
    """

    @classmethod
    def accepted_options(cls) -> dict[str, inspect.Parameter]:
        """Its own options and those of the base methods (``base`` picks the method)."""
        return base_method_options(cls)

    def __init__(
        self,
        llm: Any,
        *,
        base: str = "react",
        max_trials: int = 3,
        memory_size: int = 3,
        strategy: str = "reflexion",
        reflector: Any = None,
        **kwargs: Any,
    ) -> None:
        """Create the policy (see the class docstring)."""
        super().__init__()
        if not isinstance(max_trials, int) or max_trials < 1:
            raise ConfigError(f"max_trials: expected a positive int, got {max_trials!r}.")
        if not isinstance(memory_size, int) or memory_size < 1:
            raise ConfigError(f"memory_size: expected a positive int, got {memory_size!r}.")
        if strategy not in STRATEGIES:
            raise ConfigError(f"strategy: expected one of {list(STRATEGIES)}, got {strategy!r}.")
        self.llm = make_llm(llm)
        self.base = _base_policy(self.llm, base, kwargs)
        self.base.memory = self._memory_text
        self.reflector = reflector if reflector is not None else VerbalReflector(self.llm)
        if not callable(getattr(self.reflector, "reflect_batch", None)):
            raise ConfigError("reflector: expected a Reflector with reflect_batch(), got " + type(reflector).__name__)
        self.max_trials = max_trials
        self.memory_size = memory_size
        self.strategy = strategy
        self.name = "reflexion" if base == "react" else f"reflexion-{base}"

    def _memory_text(self, slot: int) -> str:
        state = self.episode(slot)
        parts = []
        if self.strategy in ("last_attempt", "last_attempt_and_reflexion") and state.get("last_attempt"):
            parts.append("Previous trial:\n" + state["last_attempt"])
        if self.strategy in ("reflexion", "last_attempt_and_reflexion") and state.get("reflections"):
            parts.append("Reflections:\n" + "\n".join(f"- {r}" for r in state["reflections"]))
        return "\n".join(parts)

    def reflections(self, slot: int = 0) -> list[str]:
        """The reflections in the memory of ``slot``'s episode."""
        return list(self.episode(slot).get("reflections", []))

    def reset(self, observation: Any, info: Mapping[str, Any], *, env: gym.Env | None = None, slot: int = 0) -> None:
        """Start a trial; the memory is kept across the trials of one task and cleared for a new task."""
        trial = int(info.get("trial", 0) or 0)
        state = self.episode(slot)
        keep: dict[str, Any] = {k: state[k] for k in ("reflections", "last_attempt") if k in state} if trial > 0 else {}
        pending = state.get("pending_usage") if trial > 0 else None
        super().reset(observation, info, env=env, slot=slot)
        state = self.episode(slot)
        state.update(keep, trial=trial)
        state.setdefault("reflections", [])
        self.base.reset(observation, info, env=env, slot=slot)
        if pending:
            self.base.add_usage(slot, pending)

    def trial_metadata(self, slot: int = 0) -> dict[str, Any]:
        """What the trial starting in ``slot`` carries (the engine keeps it in the trial's metadata)."""
        return {"reflections": self.reflections(slot)}

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """The base method's next action."""
        return self.base.act(observation, info, slot=slot)

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[Mapping[str, Any]], *, slots: Sequence[int] | None = None
    ) -> list[str]:
        """The base method's next actions (one batched call)."""
        return self.base.act_batch(observations, infos, slots=slots)

    def end_episodes(
        self, trajectories: Sequence[Trajectory], infos: Sequence[Mapping[str, Any]], slots: Sequence[int]
    ) -> list[bool]:
        """After trials end: reflect on the failed ones (one batched call) and ask for another trial."""
        retry = []
        for traj, slot in zip(trajectories, slots):
            trial = int(self.episode(slot).get("trial", 0))
            retry.append(not traj.success and trial + 1 < self.max_trials)
        todo = [k for k, r in enumerate(retry) if r]
        if not todo:
            return retry
        if self.strategy in ("reflexion", "last_attempt_and_reflexion"):
            reflections = self.reflector.reflect_batch(
                [trajectories[k].question for k in todo],
                [trajectories[k] for k in todo],
                [str(infos[k].get("feedback", "") or "") for k in todo],
            )
        else:
            reflections = [None] * len(todo)
        for k, refl in zip(todo, reflections):
            state = self.episode(slots[k])
            state["last_attempt"] = render_attempt(trajectories[k].question, trajectories[k])
            if refl is not None:
                text = " ".join(refl.text.split())
                state["reflections"] = [*state.get("reflections", []), text][-self.memory_size :]
                state["pending_usage"] = dict(refl.usage)
        return retry
