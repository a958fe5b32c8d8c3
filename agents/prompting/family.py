"""What a prompting method needs to know about an environment, read from the env itself.

:class:`EnvAdapter` looks at an env's ``family``, grammar and instructions and answers: which prompt format
fits (ReAct's ``Thought/Action/Observation`` lines, or ALFWorld's ``> command`` transcript), how to turn a
final answer into the env's answer action (``finish[...]``, ``answer[...]``, a ``Submit:`` code block), how
to read the answer back out of an action, and how to compare two answers when voting (CoT-SC).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

from toolgym.parsing import (
    AnyOf,
    BracketGrammar,
    CommandGrammar,
    FencedCodeGrammar,
    JsonToolGrammar,
    ParsedAction,
    normalize_command,
)

__all__ = ["ANSWER_TOOLS", "EnvAdapter", "normalize_answer", "strip_code_fence"]

#: Tool names that submit a final answer, in order of preference.
ANSWER_TOOLS = ("finish", "answer", "submit")

_FENCE = re.compile(r"```[ \t]*[A-Za-z0-9_+-]*[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


def normalize_answer(text: str) -> str:
    """SQuAD/HotpotQA answer normalisation: lower-case, no punctuation, no articles, single spaces.

    Example:
        >>> normalize_answer("The  Eiffel Tower!")
        'eiffel tower'
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def strip_code_fence(text: str) -> str:
    """The code of the last fenced block in ``text``, or ``text`` itself without a dangling fence.

    Example:
        >>> strip_code_fence("Here:\\n```python\\ndef f():\\n    return 1\\n```\\nDone.")
        'def f():\\n    return 1'
    """
    blocks = _FENCE.findall(text)
    if blocks:
        return blocks[-1].strip("\n").rstrip()
    return text.strip().strip("`").strip()


def _grammars(grammar: Any) -> list[Any]:
    return list(grammar.grammars) if isinstance(grammar, AnyOf) else [grammar]


@dataclass
class EnvAdapter:
    """Family-specific knowledge a prompting method reads from an env.

    Attributes:
        family: The env's ``family`` (``"search"``, ``"code"``, ``"household"``, ``"vqa"``, ``"tools"``...).
        env_id: The registered id (``""`` when unknown).
        instructions: The env's ``instructions()`` text.
        tools: Bracket/JSON tool names of the grammar.
        fenced: Whether the grammar takes fenced code blocks.
        commands: Whether the grammar is free commands (ALFWorld-style).
        answer_tool: The tool that submits an answer, if any.
    """

    family: str
    env_id: str
    instructions: str
    tools: tuple[str, ...]
    fenced: bool
    commands: bool
    answer_tool: str | None
    grammar: Any = None

    @classmethod
    def from_env(cls, env: Any) -> EnvAdapter:
        """Read the adapter from an env (wrapped or not)."""
        base = env.unwrapped if env is not None else None
        grammar = getattr(base, "grammar", None)
        tools: list[str] = []
        fenced = commands = False
        for g in _grammars(grammar) if grammar is not None else []:
            if isinstance(g, (BracketGrammar, JsonToolGrammar)):
                tools.extend(t for t in g.tools if t not in tools)
            elif isinstance(g, FencedCodeGrammar):
                fenced = True
            elif isinstance(g, CommandGrammar) or getattr(g, "free_commands", False):
                commands = True
        answer_tool = next((t for t in ANSWER_TOOLS if t in tools), None)
        instructions = ""
        if base is not None and callable(getattr(base, "instructions", None)):
            instructions = str(base.instructions())
        spec = getattr(env, "spec", None)
        return cls(
            family=str(getattr(base, "family", "other")),
            env_id=str(getattr(spec, "id", "") or ""),
            instructions=instructions,
            tools=tuple(tools),
            fenced=fenced,
            commands=commands,
            answer_tool=answer_tool,
            grammar=grammar,
        )

    @property
    def transcript(self) -> bool:
        """Whether ALFWorld's ``> command`` / observation transcript format fits (command grammars)."""
        return self.commands and not self.tools and not self.fenced

    @property
    def has_answer_action(self) -> bool:
        """Whether a single action can submit a final answer (IO/CoT/CoT-SC apply directly)."""
        return self.answer_tool is not None or self.fenced

    @property
    def code_answers(self) -> bool:
        """Whether answers are programs (submitted as a fenced block)."""
        return self.fenced and (self.family == "code" or self.answer_tool is None)

    def answer_action(self, answer: str) -> str:
        """The env action that submits ``answer``.

        Example:
            >>> EnvAdapter("search", "", "", ("search", "finish"), False, False, "finish").answer_action(" Paris ")
            'finish[Paris]'
        """
        answer = answer.strip()
        if self.code_answers:
            return f"Submit:\n```python\n{strip_code_fence(answer)}\n```"
        if self.answer_tool is not None:
            return f"{self.answer_tool}[{answer}]"
        return answer

    def parse(self, action: str) -> ParsedAction | None:
        """Parse an action with the env's grammar (``None`` when it does not parse)."""
        if self.grammar is None:
            return None
        out = self.grammar.parse(action)
        return out if isinstance(out, ParsedAction) else None

    def answer_of(self, action: str) -> str | None:
        """The answer an action submits, or ``None`` when it is not an answer action."""
        parsed = self.parse(action)
        if parsed is None:
            return None
        if parsed.name in ANSWER_TOOLS:
            return parsed.argument
        return None

    def vote_key(self, action: str) -> str:
        """What two actions must share to count as the same vote (CoT-SC).

        Answers compare after HotpotQA normalisation, code after whitespace normalisation, commands after
        :func:`~toolgym.parsing.normalize_command`, other tool calls by name and normalised argument.
        """
        parsed = self.parse(action)
        if parsed is None:
            return "invalid:" + " ".join(action.split()).lower()
        if parsed.syntax == "fenced" or self.code_answers and parsed.name in ("submit", "execute"):
            return f"{parsed.name}:" + "\n".join(line.rstrip() for line in parsed.argument.strip().splitlines())
        if parsed.syntax == "command":
            return "cmd:" + normalize_command(parsed.argument)
        return f"{parsed.name}:" + normalize_answer(parsed.argument)
