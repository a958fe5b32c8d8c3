"""Checking a PDDL goal formula against a household state, exactly as the formula says.

:func:`compile_goal` flattens nested ``exists``/``and`` into one conjunctive query with typed variables (renamed
apart), and :meth:`GoalChecker.check` answers it by a join over the state's facts: it binds variables from
the most selective positive atom first and checks ``not``, ``or``, ``forall`` and ``=`` once their variables
are bound (or enumerates the variable's type where a formula alone mentions it). This handles the goals of
all six ALFWorld task types and any other goal in the same language.

Goals of the six task types' shapes are also recognised (:func:`analyze`, strictly: every conjunct must be
accounted for) and then tested by a specialised function (:func:`shape_checker`) that reads the state's
masks and tuples directly, about 50 times faster; the tests check both agree on many random states.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolgym.envs.household.pddl import Formula

if TYPE_CHECKING:
    from toolgym.envs.household.world import HouseState, World

__all__ = ["DYNAMIC_PREDICATES", "GoalChecker", "GoalShape", "analyze", "compile_goal", "shape_checker"]

#: Predicates whose truth changes while playing (the others are fixed by the game file).
DYNAMIC_PREDICATES = frozenset(
    {
        "inreceptacle",
        "objectatlocation",
        "atlocation",
        "holds",
        "holdsany",
        "opened",
        "ishot",
        "iscool",
        "isclean",
        "issliced",
        "istoggled",
    }
)


def _is_var(term: str) -> bool:
    return term.startswith("?")


def _free_vars(f: Formula) -> frozenset[str]:
    kind = f[0]
    if kind == "atom":
        return frozenset(a for a in f[2:] if _is_var(a))
    if kind == "=":
        return frozenset(a for a in f[1:] if _is_var(a))
    if kind == "not":
        return _free_vars(f[1])
    if kind in ("exists", "forall"):
        return _free_vars(f[2]) - {v for v, _ in f[1]}
    return frozenset().union(*(_free_vars(g) for g in f[1:]))


def _predicates(f: Formula) -> frozenset[str]:
    kind = f[0]
    if kind == "atom":
        return frozenset({f[1]})
    if kind == "=":
        return frozenset()
    if kind == "not":
        return _predicates(f[1])
    if kind in ("exists", "forall"):
        return _predicates(f[2])
    return frozenset().union(*(_predicates(g) for g in f[1:]))


def _rename(f: Formula, mapping: Mapping[str, str]) -> Formula:
    kind = f[0]
    if kind == "atom":
        return ("atom", f[1], *(mapping.get(a, a) for a in f[2:]))
    if kind == "=":
        return ("=", mapping.get(f[1], f[1]), mapping.get(f[2], f[2]))
    if kind == "not":
        return ("not", _rename(f[1], mapping))
    if kind in ("exists", "forall"):
        inner = {k: v for k, v in mapping.items() if k not in {v for v, _ in f[1]}}
        return (kind, f[1], _rename(f[2], inner))
    return (kind, *(_rename(g, mapping) for g in f[1:]))


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def fresh(self, var: str) -> str:
        self.n += 1
        return f"{var}#{self.n}"


def _flatten(f: Formula, variables: dict[str, str], out: list[Formula], counter: _Counter) -> None:
    """Flatten ``and``/``exists`` into ``out`` (conjuncts) and ``variables`` (renamed, typed)."""
    kind = f[0]
    if kind == "and":
        for g in f[1:]:
            _flatten(g, variables, out, counter)
    elif kind == "exists":
        mapping = {}
        for var, typ in f[1]:
            new = counter.fresh(var)
            mapping[var] = new
            variables[new] = typ
        _flatten(_rename(f[2], mapping), variables, out, counter)
    else:
        out.append(f)


class _Facts:
    """The facts of one state, built lazily per predicate, with an index per argument position."""

    def __init__(self, world: World, state: HouseState) -> None:
        self.world = world
        self.state = state
        self._sets: dict[str, frozenset[tuple[str, ...]]] = {}
        self._lists: dict[str, Sequence[tuple[str, ...]]] = {}
        self._index: dict[tuple[str, int], dict[str, list[tuple[str, ...]]]] = {}

    def tuples(self, pred: str) -> Sequence[tuple[str, ...]]:
        got = self._lists.get(pred)
        if got is None:
            if pred in DYNAMIC_PREDICATES:
                got = self.world.relation(pred, self.state)
            else:
                memo = self.world.memo
                key = ("relation", pred)
                got = memo.get(key)
                if got is None:
                    got = memo[key] = tuple(self.world.relation(pred, self.state))
            self._lists[pred] = got
        return got

    def holds(self, pred: str, args: tuple[str, ...]) -> bool:
        s = self._sets.get(pred)
        if s is None:
            s = self._sets[pred] = frozenset(self.tuples(pred))
        return args in s

    def matching(self, pred: str, pos: int, value: str) -> list[tuple[str, ...]]:
        key = (pred, pos)
        idx = self._index.get(key)
        if idx is None:
            idx = {}
            for t in self.tuples(pred):
                if pos < len(t):
                    idx.setdefault(t[pos], []).append(t)
            self._index[key] = idx
        return idx.get(value, [])


@dataclass(frozen=True)
class GoalChecker:
    """A compiled goal.

    Attributes:
        formula: The goal as written.
        variables: The flattened query's variables and their types.
        conjuncts: The flattened query's conjuncts.
        predicates: Every predicate the goal mentions.
        dynamic: The mentioned predicates that can change during play (a step that changes none of them
            cannot change whether the goal holds).
    """

    formula: Formula
    variables: Mapping[str, str]
    conjuncts: tuple[Formula, ...]
    predicates: frozenset[str]
    dynamic: frozenset[str]

    def check(self, world: World, state: HouseState) -> bool:
        """Whether ``state`` of ``world`` satisfies the goal."""
        facts = _Facts(world, state)
        return any(True for _ in _solve(list(self.conjuncts), {}, self.variables, facts))

    def witness(self, world: World, state: HouseState) -> dict[str, str] | None:
        """A satisfying assignment of the goal's variables (renamed ``?var#n``), or ``None``."""
        facts = _Facts(world, state)
        for env in _solve(list(self.conjuncts), {}, self.variables, facts):
            return dict(env)
        return None


def compile_goal(formula: Formula) -> GoalChecker:
    """Compile a goal formula (see :data:`~toolgym.envs.household.pddl.Formula`).

    Example:
        >>> from toolgym.envs.household.pddl import parse_formula, parse_sexp
        >>> g = compile_goal(parse_formula(parse_sexp("(exists (?o - object) (isHot ?o))")[0]))
        >>> sorted(g.dynamic)
        ['ishot']
    """
    variables: dict[str, str] = {}
    conjuncts: list[Formula] = []
    _flatten(formula, variables, conjuncts, _Counter())
    preds = _predicates(formula)
    return GoalChecker(formula, variables, tuple(conjuncts), preds, preds & DYNAMIC_PREDICATES)


#: Predicates fixed by the game file that a goal may require of an object (``cleanable ?o``).
STATIC_OBJECT_PREDICATES = frozenset(
    {"pickupable", "cleanable", "heatable", "coolable", "toggleable", "sliceable", "isreceptacleobject"}
)
#: Predicates that change during play and say something about one object (``isClean ?o``).
DYNAMIC_OBJECT_PREDICATES = frozenset({"isclean", "ishot", "iscool", "istoggled", "issliced"})


@dataclass(frozen=True)
class GoalShape:
    """What an ALFWorld-style goal asks, when it has one of the six task types' shapes.

    Attributes:
        kind: ``"place"`` (objects in one receptacle of a type) or ``"look"`` (hold an object where a lamp
            that was switched on stands).
        otype: The object type (``"mugtype"``).
        requires: Static predicates the object must have (``{"cleanable"}``).
        states: Dynamic predicates the object must have (``{"isclean"}``).
        rtype: The receptacle type (``place``).
        count: How many distinct objects (``place``: 1, or 2 for pick-two).
        lamp: The lamp's object type (``look``).
        lamp_requires / lamp_states: What the lamp must have (``{"toggleable"}`` / ``{"istoggled"}``).
    """

    kind: str
    otype: str
    requires: frozenset[str] = frozenset()
    states: frozenset[str] = frozenset()
    rtype: str = ""
    count: int = 1
    lamp: str = ""
    lamp_requires: frozenset[str] = frozenset()
    lamp_states: frozenset[str] = frozenset()


def analyze(goal: GoalChecker) -> GoalShape | None:
    """Recognise a goal of one of ALFWorld's six shapes (``None`` for anything else).

    The recognition is strict: every conjunct of the goal must be accounted for, so a recognised goal means
    exactly what :class:`GoalShape` says.
    """
    types = goal.variables
    otype: dict[str, set[str]] = {}
    rtype: dict[str, set[str]] = {}
    requires: dict[str, set[str]] = {}
    states: dict[str, set[str]] = {}
    inrec: list[tuple[str, str]] = []
    holds: list[tuple[str, str]] = []
    atloc: list[tuple[str, str]] = []
    recloc: list[tuple[str, str]] = []
    distinct: set[frozenset[str]] = set()
    for f in goal.conjuncts:
        if f[0] == "not" and f[1][0] == "=" and all(_is_var(a) for a in f[1][1:]):
            distinct.add(frozenset(f[1][1:]))
            continue
        if f[0] != "atom":
            return None
        pred, args = f[1], f[2:]
        nvars = [a for a in args if _is_var(a)]
        if pred in ("objecttype", "receptacletype") and len(args) == 2 and _is_var(args[0]) and not _is_var(args[1]):
            (otype if pred == "objecttype" else rtype).setdefault(args[0], set()).add(args[1])
        elif pred in STATIC_OBJECT_PREDICATES and len(args) == 1 and nvars:
            requires.setdefault(args[0], set()).add(pred)
        elif pred in DYNAMIC_OBJECT_PREDICATES and len(args) == 1 and nvars:
            states.setdefault(args[0], set()).add(pred)
        elif pred == "inreceptacle" and len(nvars) == 2:
            inrec.append((args[0], args[1]))
        elif pred == "holds" and len(nvars) == 2:
            holds.append((args[0], args[1]))
        elif pred == "atlocation" and len(nvars) == 2:
            atloc.append((args[0], args[1]))
        elif pred == "receptacleatlocation" and len(nvars) == 2:
            recloc.append((args[0], args[1]))
        else:
            return None
    if any(len(v) != 1 for v in (*otype.values(), *rtype.values())):
        return None
    if not holds and not atloc and not recloc:
        return _place_shape(types, otype, rtype, requires, states, inrec, distinct)
    return _look_shape(types, otype, rtype, requires, states, inrec, holds, atloc, recloc, distinct)


def _place_shape(
    types: Mapping[str, str],
    otype: Mapping[str, set[str]],
    rtype: Mapping[str, set[str]],
    requires: Mapping[str, set[str]],
    states: Mapping[str, set[str]],
    inrec: list[tuple[str, str]],
    distinct: set[frozenset[str]],
) -> GoalShape | None:
    recs = {r for _, r in inrec}
    objs = [o for o, _ in inrec]
    if len(recs) != 1 or len(set(objs)) != len(objs) or not 1 <= len(objs) <= 2:
        return None
    (r,) = recs
    if r not in rtype or r in requires or r in states or types.get(r) != "receptacle":
        return None
    if set(otype) != set(objs) or len(set(rtype)) != 1 or set(types) != {r, *objs}:
        return None
    if len({next(iter(otype[o])) for o in objs}) != 1 or len({frozenset(requires.get(o, ())) for o in objs}) != 1:
        return None
    if len({frozenset(states.get(o, ())) for o in objs}) != 1 or any(types[o] != "object" for o in objs):
        return None
    if len(objs) == 2 and frozenset(objs) not in distinct:
        return None
    if distinct - {frozenset(objs)}:
        return None
    o = objs[0]
    return GoalShape(
        "place",
        next(iter(otype[o])),
        frozenset(requires.get(o, ())),
        frozenset(states.get(o, ())),
        rtype=next(iter(rtype[r])),
        count=len(objs),
    )


def _look_shape(
    types: Mapping[str, str],
    otype: Mapping[str, set[str]],
    rtype: Mapping[str, set[str]],
    requires: Mapping[str, set[str]],
    states: Mapping[str, set[str]],
    inrec: list[tuple[str, str]],
    holds: list[tuple[str, str]],
    atloc: list[tuple[str, str]],
    recloc: list[tuple[str, str]],
    distinct: set[frozenset[str]],
) -> GoalShape | None:
    if len(inrec) != 1 or len(holds) != 1 or len(atloc) != 1 or len(recloc) != 1 or rtype or distinct:
        return None
    (lamp, r), (a2, o), (a1, loc), (r2, loc2) = inrec[0], holds[0], atloc[0], recloc[0]
    if r2 != r or loc2 != loc or lamp == o or lamp not in otype or o not in otype:
        return None
    expected = {"lamp": "object", "o": "object", "r": "receptacle", "loc": "location", "a1": "agent", "a2": "agent"}
    bound = {"lamp": lamp, "o": o, "r": r, "loc": loc, "a1": a1, "a2": a2}
    if any(types.get(bound[k]) != t for k, t in expected.items()):
        return None
    if set(types) != set(bound.values()) or set(otype) != {lamp, o}:
        return None
    if set(requires) - {lamp, o} or set(states) - {lamp, o}:
        return None
    return GoalShape(
        "look",
        next(iter(otype[o])),
        frozenset(requires.get(o, ())),
        frozenset(states.get(o, ())),
        lamp=next(iter(otype[lamp])),
        lamp_requires=frozenset(requires.get(lamp, ())),
        lamp_states=frozenset(states.get(lamp, ())),
    )


def shape_checker(world: World, shape: GoalShape) -> Callable[[HouseState], bool]:
    """A fast test of ``shape`` on states of ``world`` (equivalent to :meth:`GoalChecker.check`)."""
    static = {
        "pickupable": world.pickupable,
        "cleanable": world.cleanable,
        "heatable": world.heatable,
        "coolable": world.coolable,
        "toggleable": world.toggleable,
        "sliceable": world.sliceable,
        "isreceptacleobject": world.recobj,
    }

    def mask_of(otype: str, reqs: frozenset[str]) -> int:
        m = 0
        for i, t in enumerate(world.obj_types):
            if t == otype:
                m |= 1 << i
        for p in reqs:
            m &= static[p]
        return m

    def dyn(states: frozenset[str]) -> Callable[[HouseState], int]:
        getters = [_STATE_GETTERS[p] for p in sorted(states)]
        if not getters:
            return lambda s: -1
        if len(getters) == 1:
            return getters[0]

        def both(s: HouseState) -> int:
            m = -1
            for g in getters:
                m &= g(s)
            return m

        return both

    good = mask_of(shape.otype, shape.requires)
    good_now = dyn(shape.states)
    if shape.kind == "place":
        targets = tuple(r for r, t in enumerate(world.rec_types) if t == shape.rtype)
        count = shape.count

        def place(state: HouseState) -> bool:
            ok = good & good_now(state)
            if not ok:
                return False
            for r in targets:
                n = 0
                for o in state.contents[r]:
                    if ok >> o & 1:
                        n += 1
                        if n >= count:
                            return True
            return False

        return place

    lamps = mask_of(shape.lamp, shape.lamp_requires)
    lamps_now = dyn(shape.lamp_states)
    recs_at = world.recs_at

    def look(state: HouseState) -> bool:
        ok = good & good_now(state)
        if not any(ok >> o & 1 for o in state.held):
            return False
        on = lamps & lamps_now(state)
        if not on:
            return False
        contents = state.contents
        return any(on >> o & 1 for r in recs_at[state.loc] for o in contents[r])

    return look


_STATE_GETTERS: dict[str, Callable[[HouseState], int]] = {
    "isclean": lambda s: s.clean,
    "ishot": lambda s: s.hot,
    "iscool": lambda s: s.cool,
    "istoggled": lambda s: s.toggled,
    "issliced": lambda s: s.sliced,
}


def _value(term: str, env: Mapping[str, str]) -> str | None:
    return env.get(term) if _is_var(term) else term


def _sat(f: Formula, env: dict[str, str], types: Mapping[str, str], facts: _Facts) -> bool:
    """Truth of a formula whose free variables are all bound in ``env``."""
    kind = f[0]
    if kind == "atom":
        args = tuple(_value(a, env) for a in f[2:])
        return facts.holds(f[1], args)  # type: ignore[arg-type]
    if kind == "=":
        return _value(f[1], env) == _value(f[2], env)
    if kind == "not":
        return not _sat(f[1], env, types, facts)
    if kind == "and":
        return all(_sat(g, env, types, facts) for g in f[1:])
    if kind == "or":
        return any(_sat(g, env, types, facts) for g in f[1:])
    if kind == "exists":
        local: dict[str, str] = dict(types)
        conj: list[Formula] = []
        counter = _Counter()
        _flatten(f, local, conj, counter)
        return any(True for _ in _solve(conj, dict(env), local, facts))
    if kind == "forall":
        local = {**types, **dict(f[1])}
        names = [v for v, _ in f[1]]

        def assignments(i: int, cur: dict[str, str]) -> Iterator[dict[str, str]]:
            if i == len(names):
                yield cur
                return
            for e in sorted(facts.world.entities_of_type(local[names[i]])):
                yield from assignments(i + 1, {**cur, names[i]: e})

        return all(_sat(f[2], a, local, facts) for a in assignments(0, dict(env)))
    raise ValueError(f"unknown formula kind {kind!r}")


def _solve(
    items: list[Formula], env: dict[str, str], types: Mapping[str, str], facts: _Facts
) -> Iterator[dict[str, str]]:
    """Yield every extension of ``env`` that satisfies all ``items`` (a conjunction)."""
    if not items:
        yield env
        return
    # 1. Anything fully bound is a filter: check it first.
    for i, f in enumerate(items):
        if all(v in env for v in _free_vars(f)):
            if not _sat(f, env, types, facts):
                return
            yield from _solve(items[:i] + items[i + 1 :], env, types, facts)
            return
    # 2. Bind variables from the most selective positive atom.
    best: tuple[int, int, list[tuple[str, ...]]] | None = None
    for i, f in enumerate(items):
        if f[0] != "atom":
            continue
        args = f[2:]
        cands: list[tuple[str, ...]] | None = None
        for pos, a in enumerate(args):
            v = _value(a, env)
            if v is not None:
                cands = facts.matching(f[1], pos, v)
                break
        if cands is None:
            cands = list(facts.tuples(f[1]))
        if best is None or len(cands) < best[1]:
            best = (i, len(cands), cands)
    if best is not None:
        i, _, cands = best
        f = items[i]
        rest = items[:i] + items[i + 1 :]
        for t in cands:
            if len(t) != len(f) - 2:
                continue
            new = dict(env)
            ok = True
            for a, val in zip(f[2:], t):
                if _is_var(a):
                    cur = new.get(a)
                    if cur is None:
                        if val not in facts.world.entities_of_type(types.get(a, "object")):
                            ok = False
                            break
                        new[a] = val
                    elif cur != val:
                        ok = False
                        break
                elif a != val:
                    ok = False
                    break
            if ok:
                yield from _solve(rest, new, types, facts)
        return
    # 3. Only non-atoms with unbound variables remain: enumerate one variable's type.
    f = items[0]
    var = sorted(v for v in _free_vars(f) if v not in env)[0]
    for e in sorted(facts.world.entities_of_type(types.get(var, "object"))):
        yield from _solve(items, {**env, var: e}, types, facts)
