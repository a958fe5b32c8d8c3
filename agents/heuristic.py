"""A rule-based baseline for every env family: the ``heuristic`` policy (``make_policy("heuristic")``).

It needs no model and reads only what an agent sees (the observation, ``info`` and the env's grammar):

* **admissible actions** (household games): the action sharing the most words with the goal (the first
  observation's ``Your task is to: ...``; a ``put`` counts only into the goal's destination), avoiding the
  last four actions, and preferring actions that change the situation (``go to``, ``take``, ``open``) over
  ``look``/``inventory``/``examine``;
* **bracket tools with an answer tool** (search, arithmetic, VQA): one call of the first information tool on
  the question's key phrase (an arithmetic expression for a calculator, the longest capitalised phrase for
  a search engine), then the answer tool with the salient part of that tool's output (its first number, or
  its first capitalised phrase that the question does not contain);
* **code** (fenced blocks): a function with the signature of the prompt that returns the expected value of
  the first example found in the prompt (``>>> f(x)`` followed by its output, or ``assert f(x) == y``).

It sits between ``random`` and ``expert``: a floor that any learned agent should beat.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from toolgym.agents.base import BasePolicy, SlotState, observation_text
from toolgym.agents.prompting.family import ANSWER_TOOLS, EnvAdapter

__all__ = ["HeuristicPolicy"]

_STOP = frozenset(
    "a an the of in on at to for from with by is are was were be been what which who whom whose when where why how "
    "did does do many much and or than that this these those it its as into your you task is put some".split()
)
_EXPR = re.compile(r"[-(]*\d[\d.,]*(?:\s*[-+*/×÷^%()]+\s*[(]*\d[\d.,]*[)]*)+")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_CAPS = re.compile(r"(?:[A-Z][\w'.-]*|\d{3,4})(?:\s+(?:of|the|de|[A-Z][\w'.-]*|\d{1,4}))*")
_DEF = re.compile(r"^\s*def\s+(\w+)\s*\(([^)]*)\)", re.MULTILINE)
_LOW_VALUE = ("look", "inventory", "examine", "help", "think", "close")
_YES_NO = frozenset("is are was were did does do can could has have had will would should".split())


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP}


def _question(text: str) -> str:
    """The question of a first observation: the rest of its ``Question:`` line, else the whole text."""
    for line in text.splitlines():
        if line.strip().lower().startswith("question:"):
            return line.split(":", 1)[1].strip()
    return text.strip()


def _key_phrase(question: str) -> str:
    """The longest capitalised phrase of the question that is not its first word, else its first content words."""
    rest = question.split(" ", 1)[1] if " " in question else ""  # the first word is capitalised anyway
    spans = [m.group(0).strip(" .,'?") for m in _CAPS.finditer(rest)]
    spans = [s for s in spans if s.lower() not in _STOP]
    if spans:
        return max(spans, key=len)
    words = [w for w in re.findall(r"[\w'-]+", question)[1:] if w.lower() not in _STOP]
    return " ".join(words[:3]) or question[:40]


def _answer_from(output: str, question: str) -> str:
    """Guess the answer from the question's form and a tool's output."""
    q = question.strip().lower()
    choice = re.search(r"\b([\w-]+)\s+or\s+(?:to\s+the\s+)?([\w-]+)", q)
    if choice and q.split(" ", 1)[0] in _YES_NO:
        return choice.group(1)  # "Is it left or right of ...?" -> the first option
    if q.split(" ", 1)[0] in _YES_NO:
        return "yes"
    numbers = _NUMBER.findall(output)
    if re.match(r"(in )?(what|which) year|when\b", q):
        years = re.findall(r"\b1\d{3}\b|\b20\d{2}\b", output)
        if years:
            return years[0]
    if q.startswith("how many") or (numbers and len(output) < 40 and not _CAPS.search(output)):
        return numbers[0].replace(",", "") if numbers else "1"
    qwords = _words(question)
    for m in _CAPS.finditer(output):
        span = m.group(0).strip(" .,'")
        if span and not span.isdigit() and not (_words(span) <= qwords):
            return span
    words = re.findall(r"[\w'-]+", output)
    return " ".join(words[:3]) if words else "unknown"


def _first_example(text: str, fname: str) -> str | None:
    """The expected value of the first example of ``fname`` in a code prompt."""
    m = re.search(rf"assert\s+{re.escape(fname)}\s*\(.*?\)\s*==\s*(.+)", text)
    if m:
        return m.group(1).strip()
    m = re.search(rf">>>\s*{re.escape(fname)}\s*\(.*\)\s*\n\s*(.+)", text)
    if m and not m.group(1).lstrip().startswith(">>>"):
        return m.group(1).strip()
    return None


class HeuristicPolicy(BasePolicy):
    """A rule-based baseline for every env family (see the module docstring); deterministic, no model."""

    name = "heuristic"

    def reset(self, observation: Any, info: Mapping[str, Any], *, env: Any = None, slot: int = 0) -> None:
        """Start an episode: read the env's grammar and the goal."""
        super().reset(observation, info, env=env, slot=slot)
        state = self.episode(slot)
        text = observation_text(observation)
        goal = text.split("Your task is to:", 1)[1] if "Your task is to:" in text else text
        dest = re.split(r"\s(?:in|on|into|to)\s", goal.strip().rstrip("."))
        state.update(
            adapter=EnvAdapter.from_env(env),
            question=_question(text),
            goal=_words(goal),
            dest=_words(dest[-1]) if len(dest) > 1 else set(),
            taken={},
            step=0,
        )

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """The next rule-based action."""
        state = self.episode(slot)
        state["step"] = state.get("step", 0) + 1
        if "adapter" not in state:
            state.update(adapter=EnvAdapter.from_env(None), question=observation_text(observation), taken={})
            state.setdefault("goal", _words(state["question"]))
        adapter: EnvAdapter = state["adapter"]
        admissible = info.get("admissible_actions")
        if admissible:
            action = self._pick(list(admissible), state)
        elif adapter.code_answers:
            action = self._code(state["question"], adapter)
        elif adapter.answer_tool is not None:
            action = self._tools(observation_text(observation), state, adapter)
        elif adapter.commands:
            action = "look"
        else:
            action = "finish[unknown]"
        taken: dict[str, int] = state["taken"]
        taken[action] = taken.get(action, 0) + 1
        return action

    @staticmethod
    def _pick(actions: list[str], state: SlotState) -> str:
        """The best-scoring admissible action.

        Score = 2 x words shared with the goal + 0.5 for a state-changing verb - 3 if taken in the last four
        steps - 1 per earlier time taken.
        A ``put ... in/on X`` only counts its goal words when X is the goal's destination (the words after the
        goal's last ``in``/``on``/``to``), a ``take ... from X`` none when X is; ``look``, ``examine``,
        ``inventory``, ``close``... count none.
        """
        goal: set[str] = state.get("goal", set())
        dest: set[str] = state.get("dest", set())
        recent: list[str] = state.setdefault("recent", [])
        taken: dict[str, int] = state["taken"]

        def score(k: int) -> tuple[float, int]:
            a = actions[k]
            verb = a.split(" ", 1)[0].lower()
            low = verb in _LOW_VALUE
            overlap = 0 if low else len(_words(a) & goal)
            if verb == "put" and dest:  # only into the goal's destination
                target = re.split(r"\s(?:in/on|in|on|into)\s", a, maxsplit=1)[-1]
                overlap = overlap if _words(target) & dest else 0
            if verb == "take" and dest and " from " in a and _words(a.split(" from ", 1)[1]) & dest:
                overlap = 0  # never take back out of the destination
            value = 2.0 * overlap + (0.0 if low else 0.5) - (3.0 if a in recent else 0.0) - 1.0 * taken.get(a, 0)
            return value, -k

        action = actions[max(range(len(actions)), key=score)]
        recent.append(action)
        del recent[:-4]
        return action

    @staticmethod
    def _tools(text: str, state: SlotState, adapter: EnvAdapter) -> str:
        question: str = state["question"]
        info_tools = [t for t in adapter.tools if t not in ANSWER_TOOLS and t != "lookup"]
        if state["step"] == 1 and info_tools:
            tool = info_tools[0]
            expr = _EXPR.search(question)
            arg = (
                expr.group(0).replace("×", "*").replace("÷", "/") if expr and tool == "calc" else _key_phrase(question)
            )
            return f"{tool}[{arg}]"
        source = text if state["step"] > 1 else question
        return adapter.answer_action(_answer_from(source, question))

    @staticmethod
    def _code(prompt: str, adapter: EnvAdapter) -> str:
        m = _DEF.search(prompt)
        if m is None:
            names = re.findall(r"\b([a-z_]\w*)\s*\(", prompt)
            fname, args = (names[0] if names else "solution"), "*args"
        else:
            fname, args = m.group(1), m.group(2)
        value = _first_example(prompt, fname) or "None"
        return adapter.answer_action(f"def {fname}({args}):\n    return {value}\n")
