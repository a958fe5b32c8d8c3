"""Ready-made options (fixed sub-policies) for the :class:`~toolgym.wrappers.ToolChoice` view.

An option is what one discrete action of the tool-choice view runs: answer directly, call a tool, or hand the
work to a nested sub-agent. Two families are covered:

* **arithmetic** (``toolgym/ToolChoice-Arithmetic-v0``), :func:`arithmetic_options`: ``answer`` - a direct
  answerer of known accuracy per level (a scripted stand-in for a language model answering without tools:
  right with probability ``accuracy[level]``, else off by a small amount); ``calculate`` - one ``calc[...]``
  call on the question's expression; ``answer_with_tool`` - ``finish`` with the calculator's output
  (available only after ``calculate``, which is available once).
* **search** (``toolgym/MultiHop-v0``, any :class:`~toolgym.envs.search.env.SearchQAEnv`),
  :func:`search_options`: ``answer_direct`` - answer from the question alone (the first candidate of a
  comparison, ``yes`` for a same-value question, else ``unknown``); ``tool_step`` - one flat ``search`` or
  ``lookup`` call of a scripted searcher; ``research`` - a **nested tool**: a sub-agent that runs the
  searcher's ``search``/``lookup`` calls until the evidence is complete, as one decision, its cost the sum of
  its inner calls (listed in ``info["inner_steps"]`` and ``info["tool_calls"]``); ``answer`` - a reader that
  answers from what the episode has shown (the gold answer when every supporting sentence was shown, else
  the direct guess; available after the first tool call).

The scripted searcher and reader stand in for a language model's sub-policies; they read the env's public
expert plan (:meth:`~toolgym.envs.search.env.SearchQAEnv.expert_plan`) and the observations, never the
learner's choices.

Example:
    >>> import gymnasium as gym
    >>> import toolgym
    >>> from toolgym.wrappers import ToolChoice
    >>> view = ToolChoice(gym.make("toolgym/MultiHop-v0"), search_options(), max_decisions=4)
    >>> _, info = view.reset(seed=0)
    >>> _, reward, _, _, info = view.step(2)  # research: several inner calls, one decision
    >>> len(info["inner_steps"]) >= 2, info["cost"] == sum(c["cost"] for c in info["tool_calls"])
    (True, True)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from toolgym.envs.calculator import format_number, parse_number
from toolgym.error import ConfigError
from toolgym.wrappers import Option, OptionContext

__all__ = [
    "ARITHMETIC_ACCURACY",
    "AnswerDirect",
    "AnswerWithTool",
    "Calculate",
    "GuessAnswer",
    "ReadAndAnswer",
    "Research",
    "ToolStep",
    "arithmetic_options",
    "search_options",
]

#: The direct answerer's accuracy per arithmetic level (the issue's example: 0.98/0.9/0.5/0.05/0.02).
ARITHMETIC_ACCURACY: Mapping[int, float] = MappingProxyType({1: 0.98, 2: 0.9, 3: 0.5, 4: 0.05, 5: 0.02})

_QUESTION = re.compile(r"What is (.+)\?\s*$", re.DOTALL)


def _expert_answer(env: Any) -> Fraction:
    """The gold number, read from the env's expert action (``finish[<answer>]``)."""
    action = env.expert_action()
    value = parse_number(action) if action.startswith("finish[") else None
    if value is None:
        raise ConfigError(
            f"AnswerDirect: expected an env whose expert answers with finish[<number>], got {action!r} from "
            f"{type(env).__name__}. Use it on toolgym/ToolChoice-Arithmetic-v0."
        )
    return value


class AnswerDirect(Option):
    """Answer without tools, right with a known probability per difficulty level.

    A scripted stand-in for a language model's direct answer: with probability ``accuracy[level]`` it submits
    the exact result, else the result plus a random non-zero offset of at most ``max_error`` (drawn from the
    env's generator, so seeds and snapshots fix it).

    Args:
        accuracy: Probability of a right answer per level (``info["difficulty"]``); levels not listed use
            ``default``.
        default: Accuracy for unlisted levels.
        max_error: Largest absolute error of a wrong answer.
    """

    name = "answer"

    def __init__(self, accuracy: Mapping[int, float] = ARITHMETIC_ACCURACY, default: float = 0.0, max_error: int = 9):
        """Set the accuracies (see the class docstring)."""
        given: dict[str, float] = {str(k): float(v) for k, v in accuracy.items()}
        given["default"] = float(default)
        bad = {k: v for k, v in given.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ConfigError(f"AnswerDirect: expected accuracies in [0, 1], got {bad}.")
        if max_error < 1:
            raise ConfigError(f"AnswerDirect: expected max_error >= 1, got {max_error!r}.")
        self.accuracy = {int(k): float(v) for k, v in accuracy.items()}
        self.default = float(default)
        self.max_error = int(max_error)

    def accuracy_of(self, level: int) -> float:
        """The probability of a right answer at ``level``."""
        return self.accuracy.get(int(level), self.default)

    def next_action(self, env: Any, ctx: OptionContext) -> str | None:
        """``finish[<answer>]`` once, right with probability ``accuracy[level]``."""
        if ctx.inner_actions:
            return None
        gold = _expert_answer(env)
        acc = self.accuracy_of(int(ctx.info.get("difficulty", 0)))
        if ctx.rng.random() < acc:
            return f"finish[{format_number(gold)}]"
        offset = int(ctx.rng.integers(1, self.max_error + 1)) * (1 if ctx.rng.random() < 0.5 else -1)
        return f"finish[{format_number(gold + offset)}]"


class Calculate(Option):
    """One ``calc[<expression>]`` call on the question's expression; available once per episode."""

    name = "calculate"

    def available(self, env: Any, ctx: OptionContext) -> bool:
        """Not after a calculation (a second one would return the same value)."""
        return self.name not in ctx.options_used

    def next_action(self, env: Any, ctx: OptionContext) -> str | None:
        """``calc[<the question's expression>]`` once."""
        if ctx.inner_actions:
            return None
        m = _QUESTION.search(ctx.question)
        expression = m.group(1) if m else ctx.question
        return f"calc[{expression}]"


class AnswerWithTool(Option):
    """``finish`` with the latest tool output; available only after ``tool`` (default ``calculate``) was used.

    Args:
        tool: The option whose output is answered.
    """

    name = "answer_with_tool"

    def __init__(self, tool: str = "calculate") -> None:
        """Name the tool option (see the class docstring)."""
        self.tool = tool

    def available(self, env: Any, ctx: OptionContext) -> bool:
        """Only once the tool option has run."""
        return self.tool in ctx.options_used

    def next_action(self, env: Any, ctx: OptionContext) -> str | None:
        """``finish[<latest observation>]`` once."""
        if ctx.inner_actions:
            return None
        return f"finish[{ctx.observations[-1].strip()}]"


def arithmetic_options(accuracy: Mapping[int, float] = ARITHMETIC_ACCURACY) -> list[Option]:
    """The arithmetic option set: ``answer``, ``calculate``, ``answer_with_tool`` (in action order).

    Args:
        accuracy: The direct answerer's accuracy per level.
    """
    return [AnswerDirect(accuracy), Calculate(), AnswerWithTool("calculate")]


# ---------------------------------------------------------------------- search family
_CHOICE = re.compile(r",\s*(.+?)\s+or\s+(.+?)\?\s*$")


def _guess(question: str) -> str:
    """Answer from the question alone: a comparison's first candidate, ``yes`` to a same-value question."""
    text = question.removeprefix("Question:").strip()
    m = _CHOICE.search(text)
    if m:
        return m.group(1)
    if text.split(" ", 1)[0].lower() in ("were", "are", "was", "is", "did", "do", "does"):
        return "yes"
    return "unknown"


def _tool_name(env: Any, action: str) -> str:
    parsed = env.grammar.parse(action)
    return getattr(parsed, "name", "")


def _evidence_complete(env: Any, ctx: OptionContext) -> bool:
    """Whether every supporting sentence of the expert's plan appeared in an observation of the episode."""
    seen = "\n".join(ctx.observations[1:])
    return all(s.strip() in seen for hop in env.expert_plan() for s in hop.needed)


def _steps_left(env: Any) -> int:
    return int(env.max_steps - env.elapsed_steps)


class GuessAnswer(Option):
    """Answer from the question alone, without tools (free)."""

    name = "answer_direct"

    def next_action(self, env: Any, ctx: OptionContext) -> str | None:
        """``finish[<guess>]`` once."""
        return None if ctx.inner_actions else f"finish[{_guess(ctx.question)}]"


class ToolStep(Option):
    """One flat tool call: the scripted searcher's next ``search`` or ``lookup``.

    Available while the searcher has something left to read and at least two env steps remain (one for the
    call, one to answer).
    """

    name = "tool_step"

    def available(self, env: Any, ctx: OptionContext) -> bool:
        """While evidence is missing and the env has room for a call and an answer."""
        return _steps_left(env) >= 2 and not _evidence_complete(env, ctx)

    def next_action(self, env: Any, ctx: OptionContext) -> str | None:
        """The searcher's next call, once."""
        if ctx.inner_actions:
            return None
        action = env.expert_action()
        return None if _tool_name(env, action) == "finish" else action


class Research(ToolStep):
    """A nested tool: a search + lookup sub-agent that reads until the evidence is complete, as one decision.

    It runs the scripted searcher's calls one after another (at most ``max_inner_steps``, and never the env's
    last step, which is left for the answer). Its cost is the sum of its inner calls' costs; the calls appear
    in ``info["inner_steps"]`` and ``info["tool_calls"]`` of the view.

    Args:
        max_inner_steps: Most inner calls per run.
    """

    name = "research"

    def __init__(self, max_inner_steps: int = 8) -> None:
        """Set the inner budget (see the class docstring)."""
        if max_inner_steps < 1:
            raise ConfigError(f"Research: expected max_inner_steps >= 1, got {max_inner_steps!r}.")
        self.max_inner_steps = int(max_inner_steps)

    def next_action(self, env: Any, ctx: OptionContext) -> str | None:
        """The searcher's next call until the evidence is complete or one env step is left."""
        if _steps_left(env) < 2 or (ctx.inner_actions and _evidence_complete(env, ctx)):
            return None
        action = env.expert_action()
        return None if _tool_name(env, action) == "finish" else action


class ReadAndAnswer(Option):
    """Answer from the evidence the episode has shown: the gold answer when it is all there, else the guess.

    A scripted stand-in for a reader that extracts the answer from the pages it saw. Available after the
    first tool call (before that, :class:`GuessAnswer` is the same thing).
    """

    name = "answer"

    def available(self, env: Any, ctx: OptionContext) -> bool:
        """Once a tool has been called this episode."""
        return len(ctx.observations) > 1

    def next_action(self, env: Any, ctx: OptionContext) -> str | None:
        """``finish[<answer>]`` once."""
        if ctx.inner_actions:
            return None
        complete = _evidence_complete(env, ctx)
        return f"finish[{env.current_task.answer if complete else _guess(ctx.question)}]"


def search_options(max_research_steps: int = 8) -> list[Option]:
    """The search option set: ``answer_direct``, ``tool_step``, ``research``, ``answer`` (in action order).

    Args:
        max_research_steps: The nested ``research`` tool's inner call budget.
    """
    return [GuessAnswer(), ToolStep(), Research(max_research_steps), ReadAndAnswer()]
