"""The household world model: a compiled game (:class:`World`, immutable) and its dynamic :class:`HouseState`.

A :class:`World` is built once per game from a :class:`~toolgym.envs.household.pddl.GameSpec`. Entities are
numbered in the order of their PDDL ids (the order in which the official engine lists them), and carry the
names the official engine shows (``"mug 1"``, ``"loc 12"``), computed exactly as ALFWorld's demangler does.

A :class:`HouseState` is an immutable named tuple of small ints, tuples, bit masks and a frozen set: stepping
builds a new one, so snapshots are free (``get_state`` returns the current object, ``set_state`` assigns it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from toolgym.envs.household.goal import GoalChecker, GoalShape, analyze, compile_goal, shape_checker
from toolgym.envs.household.pddl import GameSpec, entity_ids
from toolgym.error import ConfigError

__all__ = ["TASK_TYPES", "HouseState", "World", "demangle"]

#: ALFWorld's six task types, in its numbering (``env.task_types`` 1-6).
TASK_TYPES: tuple[str, ...] = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)

#: Receptacle types where ``clean``, ``heat`` and ``cool`` work (as the ALFRED domain says).
CLEAN_TYPES = frozenset({"sinktype", "sinkbasintype"})
HEAT_TYPES = frozenset({"microwavetype"})
COOL_TYPES = frozenset({"fridgetype"})
#: Object types that can slice.
KNIFE_TYPES = frozenset({"knifetype", "butterknifetype"})


class HouseState(NamedTuple):
    """The dynamic part of a household (immutable; every step returns a new one).

    Attributes:
        loc: The agent's location (index into ``World.loc_ids``).
        held: Objects the agent holds (sorted indices).
        contents: For each receptacle, the objects in it (sorted indices) - the ``inReceptacle`` facts.
        obj_locs: For each object, its ``objectAtLocation`` locations (sorted indices).
        opened: Bit mask of open receptacles.
        hot: Bit mask of hot objects (``isHot``).
        cool: Bit mask of cool objects (``isCool``).
        clean: Bit mask of clean objects (``isClean``).
        sliced: Bit mask of sliced objects (``isSliced``).
        toggled: Bit mask of objects that were switched (``isToggled``; the domain never clears it).
        not_in: The ``not_inReceptacle(o, r)`` facts that taking objects leaves behind (``(o, r)`` pairs); the
            official ``look`` lists such objects as lying "next to" a receptacle.
    """

    loc: int
    held: tuple[int, ...]
    contents: tuple[tuple[int, ...], ...]
    obj_locs: tuple[tuple[int, ...], ...]
    opened: int
    hot: int
    cool: int
    clean: int
    sliced: int
    toggled: int
    not_in: frozenset[tuple[int, int]]

    def canonical(self) -> list:
        """A JSON-ready, order-independent form (for hashing)."""
        return [
            self.loc,
            list(self.held),
            [list(c) for c in self.contents],
            [list(c) for c in self.obj_locs],
            self.opened,
            self.hot,
            self.cool,
            self.clean,
            self.sliced,
            self.toggled,
            sorted(self.not_in),
        ]


def demangle(ids: Iterable[str]) -> dict[str, str]:
    """The names the official engine shows for entity ids, as ALFWorld's ``Demangler`` computes them.

    Ids are sorted; ``name_bar_...`` ids are numbered per name (``basin`` appended when the id mentions a
    basin), and the *first* id in sorted order gets the *highest* number. Ids without ``_bar_`` keep their
    text with an empty number.

    Example:
        >>> demangle(["desk_bar__plus_01", "desk_bar__minus_02", "agent1"])
        {'agent1': 'agent1 ', 'desk_bar__minus_02': 'desk 2', 'desk_bar__plus_01': 'desk 1'}
    """
    ordered = sorted(ids)

    def base(entity: str) -> str:
        name = entity.split("_bar_", 1)[0]
        return name + "basin" if "basin" in entity else name

    counts = Counter(base(e) for e in ordered if "_bar_" in e)
    numbers = {name: list(range(1, n + 1)) for name, n in counts.items()}
    names: dict[str, str] = {}
    for entity in ordered:
        if "_bar_" not in entity:
            text = entity.replace("_minus_", "-").replace("_plus_", "+").replace("_dot_", ".").replace("_comma_", ",")
            names[entity] = f"{text} "
        else:
            name = base(entity)
            names[entity] = f"{name} {numbers[name].pop()}"
    return names


def _mask(indices: Iterable[int]) -> int:
    m = 0
    for i in indices:
        m |= 1 << i
    return m


@dataclass(frozen=True, eq=False)
class World:
    """A compiled household game (static: entities, names, properties, the goal).

    Build one with :meth:`World.compile`. Indices of objects, receptacles and locations follow the sorted
    order of their PDDL ids, which is the order the official engine lists them in.

    Attributes:
        spec: The game it was compiled from.
        agent: The agent's id.
        loc_ids / loc_names: Locations.
        rec_ids / rec_names / rec_types / rec_loc: Receptacles, their types (``"fridgetype"``) and locations.
        obj_ids / obj_names / obj_types: Objects and their types (``"mugtype"``).
        openable: Bit mask of openable receptacles.
        sinks / microwaves / fridges: Bit masks of receptacles where clean / heat / cool work.
        pickupable / cleanable / heatable / coolable / toggleable / sliceable / recobj / knives: Object masks.
        accepts: For each receptacle, the mask of objects it can contain (``canContain`` of their types).
        recs_at: For each location, the receptacles there (sorted).
        inner: For each object, the objects inside it (``inReceptacleObject``, static in this domain).
        initial: The initial state.
        goal: The compiled goal.
        names: Every named entity's display name, by id.
        memo: A cache of derived static data (relations, lookups); never part of a state.
    """

    spec: GameSpec
    agent: str
    loc_ids: tuple[str, ...]
    loc_names: tuple[str, ...]
    rec_ids: tuple[str, ...]
    rec_names: tuple[str, ...]
    rec_types: tuple[str, ...]
    rec_loc: tuple[int, ...]
    obj_ids: tuple[str, ...]
    obj_names: tuple[str, ...]
    obj_types: tuple[str, ...]
    openable: int
    sinks: int
    microwaves: int
    fridges: int
    pickupable: int
    cleanable: int
    heatable: int
    coolable: int
    toggleable: int
    sliceable: int
    recobj: int
    knives: int
    accepts: tuple[int, ...]
    recs_at: tuple[tuple[int, ...], ...]
    inner: tuple[tuple[int, ...], ...]
    can_contain: frozenset[tuple[str, str]]
    initial: HouseState
    goal: GoalChecker
    names: Mapping[str, str]
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["memo"] = {}  # caches hold closures; they are rebuilt on demand
        return state

    @property
    def task(self) -> str:
        """The task sentence (without ``"Your task is to: "``)."""
        return self.spec.task

    @classmethod
    def compile(cls, spec: GameSpec) -> World:
        """Compile a game.

        Raises:
            ConfigError: The game is not a household game this engine supports (no agent location, a
                receptacle at several locations...).
        """
        kinds = {name: typ for name, typ in spec.objects}
        named = entity_ids(spec.init)
        names = demangle(named)
        by_kind: dict[str, list[str]] = {"agent": [], "location": [], "receptacle": [], "object": []}
        for e in named:
            kind = kinds.get(e)
            if kind in by_kind:
                by_kind[kind].append(e)
        agents = by_kind["agent"]
        if len(agents) != 1:
            raise ConfigError(f"household game {spec.name}: expected exactly one agent, got {agents}.")
        loc_ids, rec_ids, obj_ids = (tuple(by_kind[k]) for k in ("location", "receptacle", "object"))
        li = {e: i for i, e in enumerate(loc_ids)}
        ri = {e: i for i, e in enumerate(rec_ids)}
        oi = {e: i for i, e in enumerate(obj_ids)}

        rec_types = [""] * len(rec_ids)
        obj_types = [""] * len(obj_ids)
        rec_locs: list[set[int]] = [set() for _ in rec_ids]
        contents: list[set[int]] = [set() for _ in rec_ids]
        obj_locs: list[set[int]] = [set() for _ in obj_ids]
        inner: list[set[int]] = [set() for _ in obj_ids]
        unary: dict[str, set[int]] = {}
        opened: set[int] = set()
        held: set[int] = set()
        can_contain: set[tuple[str, str]] = set()
        agent_loc: list[int] = []
        for fact in spec.init:
            pred, args = fact[0], fact[1:]
            if pred == "receptacletype" and args[0] in ri:
                rec_types[ri[args[0]]] = args[1]
            elif pred == "objecttype" and args[0] in oi:
                obj_types[oi[args[0]]] = args[1]
            elif pred == "receptacleatlocation" and args[0] in ri and args[1] in li:
                rec_locs[ri[args[0]]].add(li[args[1]])
            elif pred == "inreceptacle" and args[0] in oi and args[1] in ri:
                contents[ri[args[1]]].add(oi[args[0]])
            elif pred == "objectatlocation" and args[0] in oi and args[1] in li:
                obj_locs[oi[args[0]]].add(li[args[1]])
            elif pred == "inreceptacleobject" and args[0] in oi and args[1] in oi:
                inner[oi[args[1]]].add(oi[args[0]])
            elif pred == "cancontain":
                can_contain.add((args[0], args[1]))
            elif pred == "atlocation" and args[1] in li:
                agent_loc.append(li[args[1]])
            elif pred == "opened" and args[0] in ri:
                opened.add(ri[args[0]])
            elif pred == "holds" and args[1] in oi:
                held.add(oi[args[1]])
            elif len(args) == 1 and args[0] in oi:
                unary.setdefault(pred, set()).add(oi[args[0]])
            elif pred == "openable" and args[0] in ri:
                unary.setdefault("openable", set()).add(ri[args[0]])
        if len(agent_loc) != 1:
            raise ConfigError(f"household game {spec.name}: expected one (atLocation agent loc) fact, got {agent_loc}.")
        multi = [rec_ids[r] for r, locs in enumerate(rec_locs) if len(locs) != 1]
        if multi:
            raise ConfigError(
                f"household game {spec.name}: expected every receptacle at exactly one location, got {multi[:3]}."
            )
        rec_loc = tuple(next(iter(locs)) for locs in rec_locs)
        recs_at: list[list[int]] = [[] for _ in loc_ids]
        for r, loc in enumerate(rec_loc):
            recs_at[loc].append(r)

        def objs(pred: str) -> int:
            return _mask(i for i in unary.get(pred, ()) if i < len(obj_ids))

        accepts = tuple(_mask(o for o, ot in enumerate(obj_types) if (rt, ot) in can_contain) for rt in rec_types)
        initial = HouseState(
            loc=agent_loc[0],
            held=tuple(sorted(held)),
            contents=tuple(tuple(sorted(c)) for c in contents),
            obj_locs=tuple(tuple(sorted(c)) for c in obj_locs),
            opened=_mask(opened),
            hot=objs("ishot"),
            cool=objs("iscool"),
            clean=objs("isclean"),
            sliced=objs("issliced"),
            toggled=objs("istoggled"),
            not_in=frozenset(),
        )
        world = cls(
            spec=spec,
            agent=agents[0],
            loc_ids=loc_ids,
            loc_names=tuple(names[e] for e in loc_ids),
            rec_ids=rec_ids,
            rec_names=tuple(names[e] for e in rec_ids),
            rec_types=tuple(rec_types),
            rec_loc=rec_loc,
            obj_ids=obj_ids,
            obj_names=tuple(names[e] for e in obj_ids),
            obj_types=tuple(obj_types),
            openable=_mask(unary.get("openable", ())),
            sinks=_mask(r for r, t in enumerate(rec_types) if t in CLEAN_TYPES),
            microwaves=_mask(r for r, t in enumerate(rec_types) if t in HEAT_TYPES),
            fridges=_mask(r for r, t in enumerate(rec_types) if t in COOL_TYPES),
            pickupable=objs("pickupable"),
            cleanable=objs("cleanable"),
            heatable=objs("heatable"),
            coolable=objs("coolable"),
            toggleable=objs("toggleable"),
            sliceable=objs("sliceable"),
            recobj=objs("isreceptacleobject"),
            knives=_mask(o for o, t in enumerate(obj_types) if t in KNIFE_TYPES),
            accepts=accepts,
            recs_at=tuple(tuple(x) for x in recs_at),
            inner=tuple(tuple(sorted(x)) for x in inner),
            can_contain=frozenset(can_contain),
            initial=initial,
            goal=compile_goal(spec.goal),
            names=names,
        )
        return world

    # ------------------------------------------------------------------ facts (for goals and planners)
    def relation(self, pred: str, state: HouseState) -> Sequence[tuple[str, ...]]:
        """The true facts of a predicate in ``state``, as tuples of entity ids (PDDL semantics).

        Covers every predicate of the ALFRED domain that a goal can mention.
        """
        o, r, loc = self.obj_ids, self.rec_ids, self.loc_ids
        if pred == "inreceptacle":
            return [(o[i], r[j]) for j, c in enumerate(state.contents) for i in c]
        if pred == "objecttype":
            return [(o[i], t) for i, t in enumerate(self.obj_types) if t]
        if pred == "receptacletype":
            return [(r[i], t) for i, t in enumerate(self.rec_types) if t]
        if pred == "receptacleatlocation":
            return [(r[i], loc[j]) for i, j in enumerate(self.rec_loc)]
        if pred == "objectatlocation":
            return [(o[i], loc[j]) for i, ls in enumerate(state.obj_locs) for j in ls]
        if pred == "atlocation":
            return [(self.agent, loc[state.loc])]
        if pred == "holds":
            return [(self.agent, o[i]) for i in state.held]
        if pred == "holdsany":
            return [(self.agent,)] if state.held else []
        if pred == "inreceptacleobject":
            return [(o[i], o[j]) for j, ins in enumerate(self.inner) for i in ins]
        if pred == "cancontain":
            return sorted(self.can_contain)
        if pred in ("openable", "opened"):
            mask = self.openable if pred == "openable" else state.opened
            return [(r[i],) for i in range(len(r)) if mask >> i & 1]
        flags: int | None = {
            "ishot": state.hot,
            "iscool": state.cool,
            "isclean": state.clean,
            "issliced": state.sliced,
            "istoggled": state.toggled,
            "pickupable": self.pickupable,
            "cleanable": self.cleanable,
            "heatable": self.heatable,
            "coolable": self.coolable,
            "toggleable": self.toggleable,
            "sliceable": self.sliceable,
            "isreceptacleobject": self.recobj,
        }.get(pred)
        if flags is None:
            return []
        return [(o[i],) for i in range(len(o)) if flags >> i & 1]

    def entities_of_type(self, typ: str) -> frozenset[str]:
        """Entity ids of a PDDL type (``object``, ``receptacle``, ``location``, ``agent``)."""
        key = ("type", typ)
        got = self.memo.get(key)
        if got is None:
            ids = {"object": self.obj_ids, "receptacle": self.rec_ids, "location": self.loc_ids}.get(typ)
            got = self.memo[key] = frozenset(ids if ids is not None else ((self.agent,) if typ == "agent" else ()))
        return got

    def won(self, state: HouseState) -> bool:
        """Whether ``state`` satisfies the goal."""
        fn = self.memo.get("won")
        if fn is None:
            shape = analyze(self.goal)
            fn = self.memo["won"] = shape_checker(self, shape) if shape is not None else self.generic_won
        return fn(state)

    def generic_won(self, state: HouseState) -> bool:
        """Whether ``state`` satisfies the goal, by the general query evaluator (the reference)."""
        return self.goal.check(self, state)

    @property
    def shape(self) -> GoalShape | None:
        """The goal's shape, if it is one of the six task types' (see :func:`~toolgym.envs.household.goal.analyze`)."""
        if "shape" not in self.memo:
            self.memo["shape"] = analyze(self.goal)
        return self.memo["shape"]
