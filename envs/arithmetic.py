"""The tool-choice arithmetic task: answer directly when it is easy, pay for the calculator when it is hard."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from toolgym.core import TextEnv, Transition
from toolgym.costs import ToolCost
from toolgym.envs.calculator import CalcError, evaluate, format_number, parse_number
from toolgym.error import ConfigError, UnknownTaskError
from toolgym.parsing import AnyOf, BracketGrammar, JsonToolGrammar, ParsedAction
from toolgym.rng import rand_elem

__all__ = ["LEVELS", "ArithmeticEnv", "make_question"]

#: Difficulty levels: (description, generator) - see :func:`make_question`.
LEVELS: Mapping[int, str] = {
    1: "one-digit addition or subtraction (7 + 5)",
    2: "two-digit addition or subtraction (48 - 19)",
    3: "two-digit by one- or two-digit multiplication (37 × 8)",
    4: "three/four-digit by two/three-digit multiplication (4837 × 219)",
    5: "three operations with parentheses ((347 + 1289) × 56 - 78)",
}
_TOOLS = {"calc": "expression", "finish": "answer"}


def make_question(level: int, seed: int) -> tuple[str, Fraction]:
    """Generate the question of a task deterministically from its level and seed.

    Args:
        level: 1 (easiest) to 5.
        seed: Any non-negative integer.

    Returns:
        ``(expression as shown to the agent, exact answer)``.

    Example:
        >>> make_question(4, 0)[0] == make_question(4, 0)[0]
        True
    """
    rng = np.random.default_rng([level, seed])

    def num(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi + 1))

    if level == 1:
        a, b = num(1, 9), num(1, 9)
        expr = f"{a} + {b}" if rng.random() < 0.5 else f"{max(a, b)} - {min(a, b)}"
    elif level == 2:
        a, b = num(10, 99), num(10, 99)
        expr = f"{a} + {b}" if rng.random() < 0.5 else f"{max(a, b)} - {min(a, b)}"
    elif level == 3:
        expr = f"{num(11, 99)} × {num(3, 99)}"
    elif level == 4:
        expr = f"{num(100, 9999)} × {num(11, 999)}"
    elif level == 5:
        a, b, c, d = num(100, 999), num(100, 1999), num(11, 99), num(10, 99)
        op1, op2 = rand_elem(rng, ("+", "-")), rand_elem(rng, ("+", "-"))
        expr = f"({a} {op1} {b}) × {c} {op2} {d}"
    else:
        raise ConfigError(f"difficulty: expected levels in {sorted(LEVELS)}, got {level!r}.")
    return expr, evaluate(expr)


class ArithmeticEnv(TextEnv[str]):
    """Tool-choice arithmetic: "What is 4837 × 219?" with a priced calculator.

    ## Description

    The testbed for learning *when* to use a tool. Questions range from "What is 7 + 5?" (a language model
    answers correctly without help) to "What is (347 + 1289) × 56 - 78?" (it rarely does). The calculator
    is always right but costs reward, so the best policy answers easy questions directly and pays for the
    tool on hard ones. Questions are generated from the task id, so there is no data to download.

    ## Action Space

    Text (:class:`~toolgym.spaces.Utf8Text`), one of

    * ``calc[<expression>]`` - evaluates ``+ - * / // % **`` and parentheses exactly (``×``, ``÷``, ``^``
      accepted); the observation is the value, or ``Error: ...``.
    * ``finish[<answer>]`` - submits the answer (the last number in it counts; ``1,059,303`` and
      ``1059303.0`` are both fine) and ends the episode.

    JSON tool calls (``{"tool": "calc", "args": "12*7"}``) are accepted too. Anything else is an invalid
    action: an observation that says what was expected, ``info["invalid_action"] = True`` and the
    ``invalid_action_penalty``.

    ## Observation Space

    Text. After reset: ``Question: What is 4837 × 219?``; after ``calc``: the value; after ``finish``:
    ``Episode finished, reward = True`` (or ``False``).

    ## Rewards

    ``1`` for a correct ``finish``, else ``0``, minus ``cost_weight × tool cost``. Default tool price:
    ``calc`` 0.1 per call (nominal latency 1 ms, not priced). ``finish`` is free.

    ## Episode End

    Terminated by ``finish``; truncated after ``max_steps`` (default 4) steps, with score 0.

    ## Arguments

    * ``difficulty`` - a level 1-5 or a sequence of levels to draw from uniformly (default all five).
    * plus the shared :class:`~toolgym.core.TextEnv` arguments (``max_steps``, ``cost_weight``,
      ``tool_costs``, ``latency``, ``invalid_action_penalty``, ``render_mode``).

    Task ids are ``"L<level>-<n>"`` (e.g. ``"L4-17"``); any non-negative ``n`` is a task.
    ``info["difficulty"]`` carries the level.

    ## Version History

    * v0: initial version.
    """

    family = "tools"
    default_max_steps = 4
    max_action_length = 4096
    max_observation_length = 4096
    default_tool_costs = {
        "calc": ToolCost(per_call=0.1, nominal_latency_s=0.001),
        "finish": ToolCost(),
    }
    #: Number of task ids per level listed by :meth:`task_ids`.
    tasks_per_level = 200

    def __init__(self, difficulty: int | Sequence[int] = (1, 2, 3, 4, 5), **kwargs: Any) -> None:
        """Create the env (see the class docstring for the arguments)."""
        super().__init__(**kwargs)
        levels = (difficulty,) if isinstance(difficulty, (int, np.integer)) else tuple(difficulty)
        bad = [lv for lv in levels if lv not in LEVELS]
        if not levels or bad:
            raise ConfigError(f"difficulty: expected levels among {sorted(LEVELS)}, got {difficulty!r}.")
        self.levels = tuple(int(lv) for lv in levels)
        self.grammar = AnyOf((BracketGrammar(_TOOLS), JsonToolGrammar(_TOOLS)))
        self._level = self.levels[0]
        self._expression = ""
        self._answer = Fraction(0)

    def instructions(self) -> str:
        """How to act, for prompts and the ``play`` command."""
        price = self.cost_model.costs["calc"].per_call
        return (
            "Answer the arithmetic question. Actions: calc[<expression>] evaluates an arithmetic expression "
            f"exactly (costs {price:g} reward per call); finish[<answer>] submits your answer and ends the "
            "episode (reward 1 if correct)."
        )

    def task_ids(self) -> list[str]:
        """``tasks_per_level`` ids per configured level."""
        return [f"L{lv}-{n}" for lv in self.levels for n in range(self.tasks_per_level)]

    def iter_task_ids(self) -> Iterator[str]:
        """``L<level>-0`` of each configured level, then ``-1``, ... without end."""
        return (f"L{lv}-{n}" for n in itertools.count() for lv in self.levels)

    def _reset_task(self, task_id: str | None, options: Mapping[str, Any]) -> tuple[str, str]:
        if task_id is None:
            level = rand_elem(self.np_random, self.levels)
            n = int(self.np_random.integers(2**31 - 1))
        else:
            level, n = self._parse_task_id(task_id)
        self._level = level
        self._expression, self._answer = make_question(level, n)
        return f"Question: What is {self._expression}?", f"L{level}-{n}"

    def _parse_task_id(self, task_id: str) -> tuple[int, int]:
        head, _, tail = task_id.partition("-")
        if not (head[:1] == "L" and head[1:].isdigit() and tail.isdigit() and int(head[1:]) in LEVELS):
            raise UnknownTaskError(task_id, type(self).__name__, self.task_ids()[:50])
        return int(head[1:]), int(tail)

    def _act(self, action: ParsedAction) -> Transition:
        if action.name == "calc":
            result = self.use_tool("calc", action.argument, self._calc, action.argument)
            return Transition(observation=result, invalid=result.startswith("Error:"))
        given = parse_number(action.argument)
        correct = given is not None and given == self._answer
        if given is None:
            feedback = f"The answer {action.argument!r} is not a number, so it is incorrect."
        else:
            feedback = f"The answer {format_number(given)} is {'correct' if correct else 'incorrect'}."
        return Transition(
            observation=f"Episode finished, reward = {correct}",
            reward=1.0 if correct else 0.0,
            terminated=True,
            success=correct,
            score=1.0 if correct else 0.0,
            feedback=feedback,
        )

    @staticmethod
    def _calc(expression: str) -> str:
        try:
            return format_number(evaluate(expression))
        except CalcError as exc:
            return f"Error: {exc}. Write an arithmetic expression such as calc[(12 + 5) * 3]."

    def _on_truncate(self) -> Transition:
        return Transition(
            observation=f"Step limit reached ({self.max_steps}) without finish[...]; the episode scores 0.",
            feedback=f"The step limit of {self.max_steps} was reached before an answer was submitted.",
        )

    def _extra_info(self) -> dict[str, Any]:
        return {"difficulty": self._level}

    def _get_state(self) -> tuple[int, str, str]:
        return (self._level, self._expression, str(self._answer))

    def _set_state(self, state: tuple[int, str, str]) -> None:
        self._level, self._expression, answer = state
        self._answer = Fraction(answer)

    def expert_action(self) -> str:
        """The oracle answers directly with the exact result (the reward-optimal action)."""
        return f"finish[{format_number(self._answer)}]"
