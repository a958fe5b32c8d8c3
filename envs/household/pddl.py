"""Reading ALFWorld game files: the PDDL problem (objects, initial facts, goal) and the task sentence.

An ALFWorld game file (``game.tw-pddl``) is JSON with four keys: ``pddl_domain`` (the shared ALFRED domain),
``grammar`` (TextWorld's text grammar, which embeds the task sentence), ``pddl_problem`` and ``solvable``.
:func:`read_game` turns one into a :class:`GameSpec`: the entities and their types, the initial facts and the
goal formula, all lower-cased as the official engine (Fast Downward's translator) sees them.

:func:`write_problem` does the reverse for generated households, so that a procedural game can be played by
the official engine too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from toolgym.error import ConfigError

__all__ = [
    "Formula",
    "GameSpec",
    "formula_to_pddl",
    "parse_formula",
    "parse_problem",
    "parse_sexp",
    "read_game",
    "write_problem",
]

#: A goal formula: ``("and", f, ...)``, ``("or", f, ...)``, ``("not", f)``,
#: ``("exists", ((var, type), ...), f)``, ``("forall", ((var, type), ...), f)``, ``("=", a, b)`` or an atom
#: ``("atom", predicate, arg, ...)``. Variables start with ``?``; everything is lower-case.
Formula = tuple[Any, ...]

SExp = Union[str, list["SExp"]]  # noqa: UP007 - a runtime alias: X | "Y" is not valid at runtime

_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_TASK = re.compile(r'"task"\s*:\s*\[\s*\{\s*"rhs"\s*:\s*"((?:[^"\\]|\\.)*)"')
_TASK_PREFIX = "Your task is to: "


@dataclass(frozen=True)
class GameSpec:
    """A household game: what a ``game.tw-pddl`` file (or the procedural generator) defines.

    Attributes:
        name: The problem's name (``plan_trial_T2019...``) or the generator's id.
        objects: ``(id, type)`` of every declared entity, lower-case, in declaration order.
        init: The initial facts ``(predicate, arg, ...)``, lower-case, in file order.
        goal: The goal formula (see :data:`Formula`).
        task: The task sentence shown to the agent, e.g. ``"put a clean mug in coffeemachine."``.
        task_type: ALFWorld's task type (``"pick_clean_then_place_in_recep"``...) when known, else ``""``.
        solvable: The file's ``solvable`` flag (generated games are solvable by construction).
        meta: Extra information (task parameters, split, path...).
    """

    name: str
    objects: tuple[tuple[str, str], ...]
    init: tuple[tuple[str, ...], ...]
    goal: Formula
    task: str
    task_type: str = ""
    solvable: bool = True
    meta: Mapping[str, Any] = field(default_factory=dict)


def parse_sexp(text: str) -> list[SExp]:
    """Parse S-expressions (PDDL) into nested lists of lower-case atoms; ``;`` starts a comment.

    Example:
        >>> parse_sexp("(and (inReceptacle ?o ?r) ; a comment\\n (isClean ?o))")
        [['and', ['inreceptacle', '?o', '?r'], ['isclean', '?o']]]
    """
    tokens = _TOKEN.findall("\n".join(line.split(";", 1)[0] for line in text.splitlines()))
    stack: list[list[SExp]] = [[]]
    for tok in tokens:
        if tok == "(":
            stack.append([])
        elif tok == ")":
            if len(stack) == 1:
                raise ConfigError("PDDL: expected balanced parentheses, got an unmatched ')'.")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(tok.lower())
    if len(stack) != 1:
        raise ConfigError(f"PDDL: expected balanced parentheses, got {len(stack) - 1} unclosed '('.")
    return stack[0]


def _typed_list(items: Sequence[SExp]) -> list[tuple[str, str]]:
    """``a b - t1 c - t2`` -> ``[(a, t1), (b, t1), (c, t2)]`` (untyped names get ``object``)."""
    out: list[tuple[str, str]] = []
    pending: list[str] = []
    i = 0
    while i < len(items):
        tok = items[i]
        if not isinstance(tok, str):
            raise ConfigError(f"PDDL: expected a typed list of names, got {tok!r}.")
        if tok == "-":
            if i + 1 >= len(items) or not isinstance(items[i + 1], str):
                raise ConfigError("PDDL: expected a type name after '-'.")
            typ = str(items[i + 1]).rstrip(",")
            out.extend((name.rstrip(","), typ) for name in pending)
            pending = []
            i += 2
            continue
        pending.append(tok)
        i += 1
    out.extend((name.rstrip(","), "object") for name in pending)
    return out


def parse_formula(sexp: SExp) -> Formula:
    """Turn a PDDL goal S-expression into a :data:`Formula`.

    Example:
        >>> parse_formula(parse_sexp("(exists (?o - object) (and (isHot ?o) (not (= ?o a))))")[0])
        ('exists', (('?o', 'object'),), ('and', ('atom', 'ishot', '?o'), ('not', ('=', '?o', 'a'))))
    """
    if not isinstance(sexp, list) or not sexp:
        raise ConfigError(f"PDDL: expected a formula in parentheses, got {sexp!r}.")
    head = sexp[0]
    if not isinstance(head, str):
        raise ConfigError(f"PDDL: expected a connective or predicate name, got {head!r}.")
    if head in ("and", "or"):
        return (head, *(parse_formula(s) for s in sexp[1:]))
    if head == "not":
        if len(sexp) != 2:
            raise ConfigError(f"PDDL: expected (not <formula>), got {sexp!r}.")
        return ("not", parse_formula(sexp[1]))
    if head in ("exists", "forall"):
        if len(sexp) != 3 or not isinstance(sexp[1], list):
            raise ConfigError(f"PDDL: expected ({head} (<vars>) <formula>), got {sexp!r}.")
        return (head, tuple(_typed_list(sexp[1])), parse_formula(sexp[2]))
    if head == "=":
        if len(sexp) != 3 or not all(isinstance(a, str) for a in sexp[1:]):
            raise ConfigError(f"PDDL: expected (= a b), got {sexp!r}.")
        return ("=", sexp[1], sexp[2])
    if not all(isinstance(a, str) for a in sexp[1:]):
        raise ConfigError(f"PDDL: expected an atom (predicate args...), got {sexp!r}.")
    return ("atom", head, *sexp[1:])


def formula_to_pddl(f: Formula) -> str:
    """Write a :data:`Formula` back as PDDL text (the inverse of :func:`parse_formula`)."""
    kind = f[0]
    if kind == "atom":
        return "(" + " ".join(f[1:]) + ")"
    if kind == "=":
        return f"(= {f[1]} {f[2]})"
    if kind == "not":
        return f"(not {formula_to_pddl(f[1])})"
    if kind in ("exists", "forall"):
        params = " ".join(f"{v} - {t}" for v, t in f[1])
        return f"({kind} ({params}) {formula_to_pddl(f[2])})"
    return f"({kind} " + " ".join(formula_to_pddl(g) for g in f[1:]) + ")"


def parse_problem(text: str) -> tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, ...], ...], Formula]:
    """Parse a PDDL problem: ``(name, objects, init facts, goal)``.

    Numeric fluents and equalities in ``:init`` (``(= (total-cost) 0)``) are dropped, as the official engine
    drops them from its facts.

    Raises:
        ConfigError: The text is not a PDDL problem.
    """
    parsed = parse_sexp(text)
    define = next((s for s in parsed if isinstance(s, list) and s and s[0] == "define"), None)
    if define is None:
        raise ConfigError("PDDL problem: expected (define (problem ...) ...), got no define block.")
    name, objects, init, goal = "", [], [], None
    for part in define[1:]:
        if not isinstance(part, list) or not part:
            continue
        key = part[0]
        if key == "problem" and len(part) > 1:
            name = str(part[1])
        elif key == ":objects":
            objects = _typed_list(part[1:])
        elif key == ":init":
            for fact in part[1:]:
                if not isinstance(fact, list) or not fact or fact[0] == "=":
                    continue
                if all(isinstance(a, str) for a in fact):
                    init.append(tuple(str(a) for a in fact))
        elif key == ":goal":
            if len(part) != 2:
                raise ConfigError("PDDL problem: expected exactly one formula in :goal.")
            goal = parse_formula(part[1])
    if goal is None:
        raise ConfigError("PDDL problem: expected a (:goal ...) section, got none.")
    return name, tuple(objects), tuple(init), goal


def task_from_grammar(grammar: str) -> str:
    """The task sentence embedded in a game's TextWorld grammar (``"Your task is to: ..."``, prefix removed)."""
    m = _TASK.search(grammar)
    if m is None:
        raise ConfigError('ALFWorld grammar: expected a "task" rule with a "rhs" sentence, found none.')
    sentence = json.loads('"' + m.group(1) + '"')
    return sentence[len(_TASK_PREFIX) :] if sentence.startswith(_TASK_PREFIX) else sentence


def read_game(
    data: Mapping[str, Any] | str | bytes, *, task_type: str = "", meta: Mapping[str, Any] | None = None
) -> GameSpec:
    """Read an ALFWorld game file (its JSON text or the decoded mapping).

    Args:
        data: The content of ``game.tw-pddl``.
        task_type: ALFWorld's task type, if known (the folder name starts with it).
        meta: Extra information to keep on the spec.

    Returns:
        The game.

    Raises:
        ConfigError: The content is not an ALFWorld game file.
    """
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"ALFWorld game file: expected JSON, got invalid JSON ({exc}).") from exc
    if not isinstance(data, Mapping) or "pddl_problem" not in data or "grammar" not in data:
        got = sorted(data) if isinstance(data, Mapping) else type(data).__name__
        raise ConfigError(f"ALFWorld game file: expected a JSON object with 'pddl_problem' and 'grammar', got {got}.")
    name, objects, init, goal = parse_problem(str(data["pddl_problem"]))
    return GameSpec(
        name=name,
        objects=objects,
        init=init,
        goal=goal,
        task=task_from_grammar(str(data["grammar"])),
        task_type=task_type,
        solvable=bool(data.get("solvable", True)),
        meta=dict(meta or {}),
    )


def write_problem(spec: GameSpec) -> str:
    """Write a game as a PDDL problem in the layout of ALFWorld's files (for the official engine)."""
    objs = "\n".join(f"        {name} - {typ}" for name, typ in spec.objects)
    init = "\n".join("        (" + " ".join(fact) + ")" for fact in spec.init)
    return (
        f"(define (problem {spec.name})\n(:domain alfred)\n(:objects\n{objs}\n        )\n"
        f"(:init\n{init}\n        )\n(:goal {formula_to_pddl(spec.goal)})\n)\n"
    )


def entity_ids(facts: Iterable[Sequence[str]]) -> list[str]:
    """The entities that occur in ``facts`` (the official engine names only these), sorted."""
    return sorted({arg for fact in facts for arg in fact[1:]})
