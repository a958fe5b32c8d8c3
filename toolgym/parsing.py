"""Action grammars: turning an agent's free text into a structured action.

Four grammars cover the environment families, and :class:`AnyOf` composes them:

* :class:`BracketGrammar` - ReAct's ``search[Paris]``, ``lookup[born]``, ``finish[yes]``.
* :class:`JsonToolGrammar` - ``{"tool": "search", "args": {"query": "Paris"}}`` (also the OpenAI
  ``{"name": ..., "arguments": ...}`` and LangChain ``{"action": ..., "action_input": ...}`` shapes).
* :class:`FencedCodeGrammar` - a fenced code block, optionally preceded by ``Submit:``.
* :class:`CommandGrammar` - free commands such as ALFWorld's ``go to fridge 1``.

All are tolerant of the usual language-model noise: a leading ``Action 3:`` or ``>``, a ``Thought: ...``
before the action, trailing text after it, and any letter case in the tool name. When nothing parses they
return a :class:`ParseError` whose message says what was expected, what came and what to write instead;
environments turn it into the observation of an invalid action. Parsing never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "AnyOf",
    "BracketGrammar",
    "CommandGrammar",
    "FencedCodeGrammar",
    "Grammar",
    "JsonToolGrammar",
    "ParseError",
    "ParsedAction",
    "normalize_command",
    "snippet",
    "split_thought",
]

_ACTION_MARKER = re.compile(r"(?im)^\s*(?:\**)action\s*\d*\s*(?:\**)\s*:\s*")
_LEADING_NOISE = re.compile(r"^\s*(?:>\s*|action\s*\d*\s*:\s*)+", re.IGNORECASE)
_THOUGHT = re.compile(r"(?is)^\s*thought\s*\d*\s*:\s*(.*)$")


def snippet(text: str, limit: int = 80) -> str:
    """Return ``text`` shortened to ``limit`` characters for an error message, quoted."""
    flat = text.replace("\n", "\\n")
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


def split_thought(text: str) -> tuple[str | None, str]:
    """Split ``"Thought: ...\\nAction: ..."`` into the thought and the action part.

    Args:
        text: The model's output for one step.

    Returns:
        ``(thought, action_text)``. ``thought`` is ``None`` when there is no ``Action:`` marker; then
        ``action_text`` is the whole input.

    Example:
        >>> split_thought("Thought 1: I need to search X.\\nAction 1: search[X]")
        ('I need to search X.', 'search[X]')
    """
    markers = list(_ACTION_MARKER.finditer(text))
    if not markers:
        return None, text
    last = markers[-1]
    before, after = text[: last.start()], text[last.end() :]
    m = _THOUGHT.match(before)
    thought = (m.group(1) if m else before).strip() or None
    return thought, after


@dataclass(frozen=True)
class ParsedAction:
    """A successfully parsed action.

    Attributes:
        name: The tool or command name, lower-case (``"search"``, ``"finish"``, ``"execute"``...).
        argument: The argument as text (the bracket's content, the code, the whole command).
        args: Structured arguments when the action came as a JSON tool call, else ``None``.
        syntax: Which grammar matched: ``"bracket"``, ``"json"``, ``"fenced"`` or ``"command"``.
        raw: The action text as received.
    """

    name: str
    argument: str
    args: Mapping[str, Any] | None = None
    syntax: str = "bracket"
    raw: str = ""


@dataclass(frozen=True)
class ParseError:
    """Why an action did not parse; ``message`` becomes the observation.

    Attributes:
        message: A full sentence: what was expected, what came, what to write.
        kind: A short machine-readable reason (``"no_match"``, ``"unclosed"``, ``"unknown_tool"``...).
    """

    message: str
    kind: str = "no_match"


@runtime_checkable
class Grammar(Protocol):
    """Anything that parses an action text."""

    def parse(self, text: str) -> ParsedAction | ParseError:
        """Parse ``text``; never raise."""
        ...

    def usage(self) -> str:
        """A short description of the accepted forms, e.g. ``"search[<entity>] or finish[<answer>]"``."""
        ...


def _strip_noise(text: str) -> str:
    _, action = split_thought(text)
    return _LEADING_NOISE.sub("", action.strip()).strip()


@dataclass(frozen=True)
class BracketGrammar:
    """ReAct's ``tool[argument]`` grammar.

    The first ``name[`` of a known tool (any case) after the last ``Action N:`` marker starts the action;
    the argument runs to the matching ``]`` (nested brackets are balanced), and text after it is ignored.

    Attributes:
        tools: The tool names and, for each, a placeholder shown in usage messages
            (e.g. ``{"search": "entity", "finish": "answer"}``).

    Example:
        >>> g = BracketGrammar({"search": "entity", "finish": "answer"})
        >>> g.parse("Action 2: Search[Milhouse [character]] because...").argument
        'Milhouse [character]'
        >>> g.parse("I think it is Paris").kind
        'no_match'
    """

    tools: Mapping[str, str]
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = sorted(self.tools, key=len, reverse=True)
        alt = "|".join(re.escape(n) for n in names)
        object.__setattr__(self, "_pattern", re.compile(rf"(?i)(?<![\w])({alt})\s*\["))

    def usage(self) -> str:
        """Describe the accepted forms."""
        return ", ".join(f"{name}[<{hint}>]" for name, hint in self.tools.items())

    def parse(self, text: str) -> ParsedAction | ParseError:
        """Parse a bracket action (see the class docstring)."""
        body = _strip_noise(text)
        m = self._pattern.search(body)
        if m is None:
            other = re.match(r"\s*([A-Za-z_]\w*)\s*\[", body)
            if other:
                return ParseError(
                    f"Invalid action: expected one of {self.usage()}; got the unknown tool "
                    f"{other.group(1)!r} in {snippet(text)}.",
                    kind="unknown_tool",
                )
            return ParseError(
                f"Invalid action: expected one of {self.usage()}; got {snippet(text)}. "
                f"Write the action alone, e.g. {next(iter(self.tools))}[...].",
            )
        name = m.group(1).lower()
        start = m.end()
        depth = 1
        for i in range(start, len(body)):
            c = body[i]
            if c == "[":
                depth += 1
            elif c == "]":
                depth -= 1
                if depth == 0:
                    return ParsedAction(name, body[start:i].strip(), syntax="bracket", raw=text)
        last = body.rfind("]")
        if last >= start:  # unbalanced inner brackets: take up to the last closing bracket
            return ParsedAction(name, body[start:last].strip(), syntax="bracket", raw=text)
        return ParseError(
            f"Invalid action: {name}[ has no closing bracket in {snippet(text)}; "
            f"expected {name}[<{self.tools[name]}>].",
            kind="unclosed",
        )


def _iter_json_objects(text: str) -> Iterable[Any]:
    decoder = json.JSONDecoder()
    idx = text.find("{")
    while idx != -1:
        try:
            obj, _ = decoder.raw_decode(text, idx)
        except json.JSONDecodeError:
            pass
        else:
            yield obj
        idx = text.find("{", idx + 1)


@dataclass(frozen=True)
class JsonToolGrammar:
    """JSON tool calls: ``{"tool": name, "args": ...}`` and the OpenAI / LangChain shapes.

    ``args`` may be a string, a list or an object. ``ParsedAction.argument`` is the string itself, the
    single value of a one-key object, or the JSON text of anything else; ``ParsedAction.args`` keeps the
    object.

    Attributes:
        tools: The tool names (and usage placeholders), as for :class:`BracketGrammar`.

    Example:
        >>> g = JsonToolGrammar({"search": "entity"})
        >>> g.parse('{"tool": "search", "args": {"query": "Paris"}}').argument
        'Paris'
    """

    tools: Mapping[str, str]

    def usage(self) -> str:
        """Describe the accepted forms."""
        return '{"tool": "<name>", "args": ...} with <name> in ' + ", ".join(self.tools)

    def parse(self, text: str) -> ParsedAction | ParseError:
        """Parse the first JSON object that looks like a tool call."""
        saw_json = False
        for obj in _iter_json_objects(text):
            if not isinstance(obj, dict):
                continue
            saw_json = True
            name = obj.get("tool", obj.get("name", obj.get("action")))
            if "function" in obj and isinstance(obj["function"], dict):  # OpenAI tool_calls entry
                name = obj["function"].get("name")
                obj = obj["function"]
            if not isinstance(name, str):
                continue
            args = obj.get("args", obj.get("arguments", obj.get("action_input", obj.get("input", ""))))
            if isinstance(args, str) and args.strip().startswith("{"):
                try:
                    args = json.loads(args)
                except json.JSONDecodeError:
                    pass
            key = name.strip().lower()
            if key not in self.tools:
                from toolgym.error import did_you_mean

                return ParseError(
                    f"Invalid action: expected a tool among {', '.join(self.tools)}; got the JSON tool "
                    f"{name!r}.{did_you_mean(key, self.tools)}",
                    kind="unknown_tool",
                )
            if isinstance(args, dict):
                argument = str(next(iter(args.values()))) if len(args) == 1 else json.dumps(args)
                return ParsedAction(key, argument.strip(), args=args, syntax="json", raw=text)
            if isinstance(args, (list, tuple)):
                return ParsedAction(key, json.dumps(args), args={"args": list(args)}, syntax="json", raw=text)
            return ParsedAction(key, str(args).strip(), syntax="json", raw=text)
        return ParseError(
            f"Invalid action: expected a JSON tool call {self.usage()}; got "
            + ("JSON without a tool name" if saw_json else snippet(text))
            + ".",
        )


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


@dataclass(frozen=True)
class FencedCodeGrammar:
    """A fenced code block; ``Submit:`` (or ``submit``) before the fence makes it a submission.

    Attributes:
        run_name: The action name for a plain block.
        submit_name: The action name for a block preceded by a submit marker.
        languages: Fence languages accepted (the empty string accepts an unlabelled fence).

    Example:
        >>> g = FencedCodeGrammar()
        >>> a = g.parse("Submit:\\n```python\\ndef f():\\n    return 1\\n```")
        >>> (a.name, a.argument)
        ('submit', 'def f():\\n    return 1')
    """

    run_name: str = "execute"
    submit_name: str = "submit"
    languages: tuple[str, ...] = ("python", "py", "python3", "")

    def usage(self) -> str:
        """Describe the accepted forms."""
        return f"a ```python fenced block (runs it), or 'Submit:' followed by a fenced block ({self.submit_name})"

    def parse(self, text: str) -> ParsedAction | ParseError:
        """Parse the last fenced block of an accepted language."""
        blocks = [m for m in _FENCE.finditer(text) if m.group(1).lower() in self.languages]
        if not blocks:
            return ParseError(f"Invalid action: expected {self.usage()}; got {snippet(text)}.")
        m = blocks[-1]
        before = text[: m.start()]
        tail = before.rstrip().rsplit("\n", 1)[-1].lower()
        name = self.submit_name if re.search(r"\bsubmit\b", tail) else self.run_name
        return ParsedAction(name, m.group(2).rstrip("\n").strip("\n"), syntax="fenced", raw=text)


def normalize_command(text: str) -> str:
    """Normalise a free command: first line, no ``Action N:``/``>`` prefix, lower-case, single spaces.

    Example:
        >>> normalize_command("> Action 3:  Go to   Fridge 1.\\nThen...")
        'go to fridge 1'
    """
    _, action = split_thought(text)
    line = action.strip().split("\n", 1)[0]
    line = _LEADING_NOISE.sub("", line)
    line = re.sub(r"\s+", " ", line).strip().lower()
    return line.rstrip(".!").strip()


@dataclass(frozen=True)
class CommandGrammar:
    """Free text commands, such as ALFWorld's ``take apple 1 from countertop 2``.

    The command is normalised with :func:`normalize_command`; ``verbs`` are the first words accepted.
    ``ParsedAction.name`` is the verb (the longest verb that prefixes the command) and ``argument`` the
    whole normalised command. Whether the command can be carried out is the environment's business.

    Attributes:
        verbs: The accepted first words or phrases, e.g. ``("go to", "take", "think:")``.
        examples: Commands shown in the error message.
    """

    verbs: Sequence[str]
    examples: Sequence[str] = ()

    def usage(self) -> str:
        """Describe the accepted forms."""
        ex = f" (e.g. {', '.join(repr(e) for e in self.examples[:3])})" if self.examples else ""
        return "a command starting with one of: " + ", ".join(repr(v) for v in self.verbs) + ex

    def parse(self, text: str) -> ParsedAction | ParseError:
        """Parse a command."""
        cmd = normalize_command(text)
        for verb in sorted(self.verbs, key=len, reverse=True):
            v = verb.lower()
            if cmd == v or cmd.startswith(v + " ") or (v.endswith(":") and cmd.startswith(v)):
                return ParsedAction(v.rstrip(":").strip(), cmd, syntax="command", raw=text)
        return ParseError(f"Invalid action: expected {self.usage()}; got {snippet(text)}.")


@dataclass(frozen=True)
class AnyOf:
    """Try several grammars in order and return the first success.

    When all fail, the message of the first grammar that recognised *something* (an unknown tool, an
    unclosed bracket) wins; otherwise a combined message lists every accepted form.

    Example:
        >>> tools = {"search": "entity", "finish": "answer"}
        >>> g = AnyOf((BracketGrammar(tools), JsonToolGrammar(tools)))
        >>> g.parse('{"tool": "finish", "args": "Paris"}').name
        'finish'
    """

    grammars: tuple[Grammar, ...]

    def usage(self) -> str:
        """Describe the accepted forms."""
        return "; or ".join(g.usage() for g in self.grammars)

    def parse(self, text: str) -> ParsedAction | ParseError:
        """Parse with the first grammar that accepts ``text``."""
        errors: list[ParseError] = []
        for g in self.grammars:
            out = g.parse(text)
            if isinstance(out, ParsedAction):
                return out
            errors.append(out)
        for e in errors:
            if e.kind != "no_match":
                return e
        also = "; ".join(g.usage() for g in self.grammars[1:])
        return ParseError(errors[0].message + (f" Also accepted: {also}." if also else ""))
