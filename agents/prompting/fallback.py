"""ReAct and CoT-SC combined, as in ReAct's paper (Table 1): ReAct→CoT-SC and CoT-SC→ReAct."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from toolgym.agents.base import BasePolicy, _check_batch
from toolgym.agents.prompting.answer import SelfConsistencyPolicy
from toolgym.agents.prompting.policy import act_into
from toolgym.agents.prompting.react import ReActPolicy
from toolgym.error import ConfigError

if TYPE_CHECKING:
    import gymnasium as gym

__all__ = ["FallbackPolicy"]


class FallbackPolicy(BasePolicy):
    """ReAct and CoT-SC combined, as in ReAct's paper (Table 1).

    * ``order="react-cot-sc"``: ReAct acts for ``react_steps`` steps; an episode that has not ended by then
      gets its answer from CoT-SC (which sees the question only).
    * ``order="cot-sc-react"``: CoT-SC votes first; when its majority answer has at least ``k/2`` votes it
      is submitted, otherwise ReAct solves the task from the start.

    Args:
        llm: The model (shared by both).
        order: ``"react-cot-sc"`` or ``"cot-sc-react"``.
        react_steps: ReAct's step budget before backing off (default: the env's ``max_steps - 1``, so that
            CoT-SC answers at the last step; ReAct's paper used 7 for HotpotQA and 5 for FEVER).
        k: CoT-SC samples.
        temperature: CoT-SC sampling temperature.
        react: Options for the ReAct policy.
        cot: Options for the CoT policy (examples, max_tokens...).
    """

    def __init__(
        self,
        llm: Any,
        *,
        order: str = "react-cot-sc",
        react_steps: int | None = None,
        k: int = 21,
        temperature: float = 0.7,
        react: Mapping[str, Any] | None = None,
        cot: Mapping[str, Any] | None = None,
    ) -> None:
        """Create the policy (see the class docstring)."""
        super().__init__()
        if order not in ("react-cot-sc", "cot-sc-react"):
            raise ConfigError(f"order: expected 'react-cot-sc' or 'cot-sc-react', got {order!r}.")
        if react_steps is not None and (not isinstance(react_steps, int) or react_steps < 0):
            raise ConfigError(f"react_steps: expected an int >= 0 or None, got {react_steps!r}.")
        self.order = order
        self.react_steps = react_steps
        self.react = ReActPolicy(llm, **dict(react or {}))
        self.llm = self.react.llm
        self.cot_sc = SelfConsistencyPolicy(self.llm, k=k, temperature=temperature, base="cot", **dict(cot or {}))
        self.name = order

    @property
    def memory(self) -> Callable[[int], str] | None:
        """The reflections hook (forwarded to both policies)."""
        return self.react.memory

    @memory.setter
    def memory(self, fn: Callable[[int], str] | None) -> None:
        self.react.memory = fn
        self.cot_sc.memory = fn

    def add_usage(self, slot: int, usage: Mapping[str, float]) -> None:
        """Charge extra usage to the next action of ``slot``."""
        self.react.add_usage(slot, usage)

    def reset(self, observation: Any, info: Mapping[str, Any], *, env: gym.Env | None = None, slot: int = 0) -> None:
        """Start an episode with the first method of :attr:`order`."""
        super().reset(observation, info, env=env, slot=slot)
        state = self.episode(slot)
        budget = self.react_steps
        if budget is None:
            limit = getattr(getattr(env, "unwrapped", None), "max_steps", None)
            budget = max(int(limit) - 1, 0) if isinstance(limit, int) else 6
        state.update(mode="react" if self.order == "react-cot-sc" else "cot-sc", steps=0, budget=budget, switched=False)
        self.react.reset(observation, info, env=env, slot=slot)
        self.cot_sc.reset(observation, info, env=env, slot=slot)

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[Mapping[str, Any]], *, slots: Sequence[int] | None = None
    ) -> list[str]:
        """The next action of every episode, each from its current method."""
        slots = _check_batch(observations, infos, slots)
        out: list[str] = [""] * len(slots)
        react_k: list[int] = []
        cot_k: list[int] = []
        for k, s in enumerate(slots):
            state = self.episode(s)
            if state["mode"] == "react" and self.order == "react-cot-sc" and state["steps"] >= state["budget"]:
                state["mode"], state["switched"] = "cot-sc", True
            (react_k if state["mode"] == "react" else cot_k).append(k)
        if cot_k:
            voted = self.cot_sc.vote(
                [slots[k] for k in cot_k], [self.episode(slots[k]).first_observation for k in cot_k]
            )
            back_to_react = []
            for k, (action, votes) in zip(cot_k, voted):
                s = slots[k]
                if self.order == "cot-sc-react" and votes < self.cot_sc.k / 2:
                    self.episode(s)["mode"], self.episode(s)["switched"] = "react", True
                    self.react.add_usage(s, action.usage)
                    back_to_react.append(k)
                else:
                    out[k] = self.cot_sc.base._commit(s, action)
            react_k = sorted(react_k + back_to_react)
        act_into(out, self.react.act_batch, react_k, observations, infos, slots)
        for s in slots:
            self.episode(s)["steps"] += 1
        return out

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """The next action of one episode."""
        return self.act_batch([observation], [info], slots=[slot])[0]
