"""Policies that need no language model: every env's expert, and a random baseline."""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from toolgym.agents.base import BasePolicy, observation_text
from toolgym.error import ConfigError
from toolgym.parsing import AnyOf, BracketGrammar, CommandGrammar, FencedCodeGrammar, JsonToolGrammar
from toolgym.rng import rand_elem

if TYPE_CHECKING:
    import gymnasium as gym

__all__ = ["ExpertPolicy", "RandomPolicy", "ScriptedPolicy", "stable_seed"]


def stable_seed(*parts: Any) -> int:
    """A seed that depends only on ``parts`` (stable across processes, unlike ``hash``).

    Example:
        >>> stable_seed(0, "L1-3") == stable_seed(0, "L1-3")
        True
    """
    return zlib.crc32(repr(parts).encode("utf-8"))


def _need_env(policy: BasePolicy, slot: int) -> gym.Env[Any, Any]:
    env = policy.episode(slot).env
    if env is None:
        raise ConfigError(
            f"{type(policy).__name__}: expected reset(observation, info, env=env, slot={slot}) before act(), "
            "got no env. The expert reads the environment's privileged state; pass env= to reset "
            "(the rollout engine does)."
        )
    return env


class ExpertPolicy(BasePolicy):
    """The environment's expert (oracle) as a policy: each action is ``env.unwrapped.expert_action()``.

    The expert reads privileged state (the gold answer, the plan), so it needs the env: the rollout engine
    passes it to :meth:`reset`.
    """

    name = "expert"

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """The expert's action in the current state."""
        return str(cast(Any, _need_env(self, slot).unwrapped).expert_action())


class RandomPolicy(BasePolicy):
    """A uniformly random baseline.

    Where ``info["admissible_actions"]`` exists, it picks one of them uniformly. Otherwise it writes a
    well-formed call of one of the env's tools (read from the env's grammar) with a random argument: one to
    three words from the current observation (or a random number); envs without a known grammar get a sample
    of the action space. Randomness is seeded per episode from ``seed`` and the task id, so results do not
    depend on how many environments run side by side.

    Args:
        seed: The policy's seed.
    """

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        """Create the policy (see the class docstring)."""
        super().__init__()
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise ConfigError(f"RandomPolicy.seed: expected an int, got {seed!r}.")
        self.seed = int(seed)

    def reset(self, observation: Any, info: Mapping[str, Any], *, env: gym.Env | None = None, slot: int = 0) -> None:
        """Start an episode: a fresh generator seeded from the policy seed and the task."""
        trial = int(info.get("trial", 0)) if isinstance(info.get("trial", 0), (int, np.integer)) else 0
        super().reset(observation, info, env=env, slot=slot)
        self.episode(slot)["rng"] = np.random.default_rng([self.seed, stable_seed(info.get("task_id", "")), trial])

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """A random admissible action, or a random well-formed tool call."""
        state = self.episode(slot)
        rng: np.random.Generator = state.setdefault("rng", np.random.default_rng(self.seed))
        admissible = info.get("admissible_actions")
        if admissible:
            return str(rand_elem(rng, admissible))
        env = state.env
        grammar = getattr(env.unwrapped, "grammar", None) if env is not None else None
        action = _random_call(grammar, observation_text(observation), rng)
        if action is not None:
            return action
        if env is not None:
            env.action_space.seed(int(rng.integers(2**31)))
            return str(env.action_space.sample())
        return ""


def _random_call(grammar: Any, text: str, rng: np.random.Generator) -> str | None:
    grammars = list(grammar.grammars) if isinstance(grammar, AnyOf) else [grammar]
    for g in grammars:
        if isinstance(g, (BracketGrammar, JsonToolGrammar)):
            tools = list(g.tools)
            name = rand_elem(rng, tools)
            return f"{name}[{_random_argument(text, rng)}]"
        if isinstance(g, FencedCodeGrammar):
            head = "Submit:\n" if rng.random() < 0.5 else ""
            return f"{head}```python\nprint({_random_argument(text, rng)!r})\n```"
        if isinstance(g, CommandGrammar) and g.verbs:
            verb = rand_elem(rng, g.verbs)
            return f"{verb} {_random_argument(text, rng)}".strip()
    return None


def _random_argument(text: str, rng: np.random.Generator) -> str:
    words = re.findall(r"[\w'-]+", text)
    if not words or rng.random() < 0.2:
        return str(int(rng.integers(0, 1000)))
    n = int(rng.integers(1, 4))
    start = int(rng.integers(len(words)))
    return " ".join(words[start : start + n])


class ScriptedPolicy(BasePolicy):
    """Replays fixed actions: one list for every episode, or one list per task id.

    Past the end of its list it repeats the last action. Useful in tests and for replaying a recorded run.

    Args:
        actions: The actions of every episode, or a mapping from task id to that task's actions.
        name: The name recorded in results.

    Example:
        >>> p = ScriptedPolicy(["calc[2*3]", "finish[6]"])
        >>> p.reset("Question: What is 2 × 3?", {"task_id": "t"})
        >>> [p.act("", {}), p.act("6", {}), p.act("", {})]
        ['calc[2*3]', 'finish[6]', 'finish[6]']
    """

    def __init__(self, actions: Sequence[str] | Mapping[str, Sequence[str]], name: str = "scripted") -> None:
        """Create the policy (see the class docstring)."""
        super().__init__()
        if isinstance(actions, str) or not isinstance(actions, (Sequence, Mapping)) or not actions:
            raise ConfigError(
                f"ScriptedPolicy.actions: expected a non-empty list of action strings or a mapping from task id "
                f"to such lists, got {actions!r}."
            )
        self.actions = actions
        self.name = name

    def reset(self, observation: Any, info: Mapping[str, Any], *, env: gym.Env | None = None, slot: int = 0) -> None:
        """Start an episode: pick the task's action list."""
        super().reset(observation, info, env=env, slot=slot)
        if isinstance(self.actions, Mapping):
            task = str(info.get("task_id", ""))
            if task not in self.actions:
                raise ConfigError(
                    f"ScriptedPolicy: expected actions for task {task!r}, got actions for {sorted(self.actions)}."
                )
            script = list(self.actions[task])
        else:
            script = list(self.actions)
        self.episode(slot).update(script=script, i=0)

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """The next scripted action."""
        state = self.episode(slot)
        script = state.get("script")
        if script is None and not isinstance(self.actions, Mapping):
            script = state["script"] = list(self.actions)
        if not script:
            raise ConfigError("ScriptedPolicy: expected reset() before act().")
        i = state.get("i", 0)
        state["i"] = i + 1
        return script[min(i, len(script) - 1)]
