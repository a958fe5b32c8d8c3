"""The action grammar of the household environments: ALFWorld's text commands, leniently normalised.

The official engine matches a command *exactly* (after stripping surrounding spaces) against its admissible
commands. toolgym's household environments (native and official alike) first normalise what an agent writes:

* a ReAct ``Thought: ...`` part and an ``Action N:`` or ``>`` prefix are dropped, only the first line is kept;
* letters are lower-cased, runs of spaces collapse, a trailing ``.`` or ``!`` goes;
* ``think: ...`` is a thought (observation ``OK.``, as in ReAct's ALFWorld prompts), not a game command;
* ``toggle X`` is read as ALFWorld's ``use X``;
* a JSON tool call ``{"tool": "take", "args": "mug 1 from desk 1"}`` (or ``{"action": "take mug 1 from
  desk 1"}``) is read as the command it spells.

Whatever remains goes to the game, which answers "Nothing happens." unless it is admissible.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from toolgym.parsing import ParsedAction, ParseError, normalize_command

__all__ = ["VERBS", "HouseholdCommands"]

# Text that is already a clean command (lower-case words, single spaces, no prefix, no trailing dot).
_CLEAN = re.compile(r"[a-z0-9/:]+(?: [a-z0-9/:]+)*")
_NOISY_START = ("action", "thought", "think")

#: The command words (``think:`` and ``toggle`` are toolgym's additions, see the module docstring).
VERBS: tuple[str, ...] = (
    "go to",
    "open",
    "close",
    "take",
    "put",
    "use",
    "toggle",
    "heat",
    "cool",
    "clean",
    "slice",
    "examine",
    "look",
    "inventory",
    "think:",
)

_FIRST_WORD = {v.split(" ", 1)[0]: v for v in VERBS if v != "think:"}


def _from_json(text: str) -> str | None:
    decoder = json.JSONDecoder()
    start = text.find("{")
    if start < 0:
        return None
    try:
        obj, _ = decoder.raw_decode(text, start)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    for key in ("command", "action", "cmd"):
        if isinstance(obj.get(key), str) and "args" not in obj and "arguments" not in obj:
            return str(obj[key])
    name = obj.get("tool", obj.get("name", obj.get("action")))
    if not isinstance(name, str):
        return None
    args = obj.get("args", obj.get("arguments", obj.get("input", "")))
    if isinstance(args, dict):
        args = " ".join(str(v) for v in args.values())
    elif isinstance(args, (list, tuple)):
        args = " ".join(str(v) for v in args)
    return f"{name} {args}".strip()


@dataclass(frozen=True)
class HouseholdCommands:
    """Parse an agent's text into a household command (never fails: the game judges the command).

    ``ParsedAction.name`` is the verb (``"go to"``, ``"take"``, ``"think"``, or ``""`` when the text starts
    with none) and ``argument`` the normalised command, with ``toggle`` already rewritten to ``use``.

    Example:
        >>> g = HouseholdCommands()
        >>> g.parse("Thought: the mug may be there.\\nAction: Go to  Countertop 1.").argument
        'go to countertop 1'
        >>> g.parse("toggle desklamp 1").argument
        'use desklamp 1'
        >>> g.parse('{"tool": "take", "args": "mug 1 from desk 1"}').argument
        'take mug 1 from desk 1'
    """

    #: Actions are free-text commands (ALFWorld's ``> command`` transcripts fit), as with ``CommandGrammar``.
    free_commands = True

    def usage(self) -> str:
        """Describe the accepted forms."""
        return (
            "an ALFWorld command: go to <receptacle>, open/close <receptacle>, take <object> from <receptacle>, "
            "put <object> in/on <receptacle>, use <object>, heat/cool/clean <object> with <receptacle>, "
            "slice <object> with <knife>, examine <something>, look, inventory, or think: <thought>"
        )

    def parse(self, text: str) -> ParsedAction | ParseError:
        """Normalise ``text`` (see the module docstring)."""
        raw = text
        if _CLEAN.fullmatch(text) and not text.startswith(_NOISY_START):
            cmd = text  # the common case (admissible commands sent verbatim): nothing to normalise
        else:
            if "{" in text:
                spelled = _from_json(text)
                if spelled is not None:
                    text = spelled
            cmd = normalize_command(text)
        if cmd.startswith("think"):
            rest = cmd[5:]
            if rest.startswith(":") or rest == "" or rest.startswith(" "):
                return ParsedAction("think", cmd, syntax="command", raw=raw)
        first = cmd.split(" ", 1)[0]
        verb = _FIRST_WORD.get(first, "")
        if verb == "go to" and not (cmd == "go to" or cmd.startswith("go to ")):
            verb = ""
        if verb == "toggle":
            verb, cmd = "use", "use" + cmd[len("toggle") :]
        return ParsedAction(verb, cmd, syntax="command", raw=raw)
