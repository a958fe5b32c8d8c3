"""Teachers: scripted policies that write the demonstrations a student is fine-tuned on (FireAct's GPT-4 role).

Each acts with a thought, so its trajectories train ReAct-style students. They read privileged state where the
env offers it (the expert's plan); their trajectories are filtered on ``info["success"]`` like any other.

* :class:`ExpertTeacher` - the env's expert, with a templated thought per action (any env family).
* :class:`CalculatorTeacher` - ToolChoice-Arithmetic: ``calc[<the question's expression, verbatim>]``, then
  ``finish[<the calculator's output>]``: the tool-using behaviour a small model can learn (the env's own
  expert answers from the gold value, which no model can copy).
* :class:`GuessTeacher` - ToolChoice-Arithmetic without the tool: ``finish[<the question's first number>]``, a
  cheap and (almost always) wrong habit. Mixed into a warm start's demonstrations unfiltered, it gives a model
  that picks the tool only some of the time: what reinforcement learning from the env's reward should repair.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from toolgym.agents.base import AgentAction, BasePolicy, observation_text
from toolgym.agents.prompting.family import EnvAdapter
from toolgym.agents.prompting.fewshot import template_thought
from toolgym.error import ConfigError

__all__ = ["CalculatorTeacher", "ExpertTeacher", "GuessTeacher"]

_QUESTION = re.compile(r"What is (.+?)\?\s*$", re.DOTALL)
_NUMBER = re.compile(r"-?\d+")


def _expression(observation: Any, teacher: str) -> str:
    """The expression of a ToolChoice-Arithmetic question."""
    m = _QUESTION.search(observation_text(observation))
    if m is None:
        raise ConfigError(
            f"{teacher}: expected a 'Question: What is <expression>?' observation (ToolChoice-Arithmetic), got "
            f"{observation_text(observation)[:80]!r}."
        )
    return m.group(1).strip()


class ExpertTeacher(BasePolicy):
    """The env's expert, each action with a thought written from a per-tool template.

    Needs the env (the rollout engine passes it to :meth:`reset`).
    """

    name = "expert-teacher"

    def reset(self, observation: Any, info: Mapping[str, Any], *, env: Any = None, slot: int = 0) -> None:
        """Start an episode: keep the env and read its action format."""
        if env is None:
            raise ConfigError(
                "ExpertTeacher: expected reset(observation, info, env=env), got no env. The expert reads the env's "
                "privileged state; the rollout engine passes it."
            )
        super().reset(observation, info, env=env, slot=slot)
        self.episode(slot)["adapter"] = EnvAdapter.from_env(env)

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """The expert's action, with its templated thought."""
        state = self.episode(slot)
        action = str(cast(Any, state.env).unwrapped.expert_action())
        return AgentAction(action, thought=template_thought(state["adapter"], action))


class CalculatorTeacher(BasePolicy):
    """ToolChoice-Arithmetic by the calculator: ``calc[expression]``, then ``finish[value]``.

    The expression is copied verbatim from the question (the calculator reads ``×`` and ``÷``), the answer from
    the calculator's output, so a student that learns the two copies solves every level. (Rewriting ``×`` as
    ``*`` makes the operator a mapping rather than a copy: a small student then writes ``*`` for ``+`` too.)
    """

    name = "calc-teacher"

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """Calculate on the first step, answer with the result on the second."""
        state = self.episode(slot)
        if int(info.get("step", 0)) == 0:
            expression = _expression(state.first_observation, "CalculatorTeacher")
            return AgentAction(f"calc[{expression}]", thought=f"I will compute {expression} with the calculator.")
        value = observation_text(observation).strip()
        return AgentAction(f"finish[{value}]", thought=f"The calculator says {value}, so that is the answer.")


class GuessTeacher(BasePolicy):
    """ToolChoice-Arithmetic without the tool: ``finish[<the question's first number>]`` at once.

    No tool cost and, except by chance, no success: the habit a warm start picks up from unverified logs. A model
    imitating a mixture of this and :class:`CalculatorTeacher` chooses the tool with about the mixture's weight.
    """

    name = "guess-teacher"

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """Answer with the first number of the question."""
        expression = _expression(self.episode(slot).first_observation, "GuessTeacher")
        number = _NUMBER.search(expression)
        guess = number.group(0) if number else "0"
        return AgentAction(f"finish[{guess}]", thought=f"I think the answer is {guess}.")
