"""Procedural households: unlimited ALFWorld-style games generated from a seed, no download needed.

:func:`generate` builds a :class:`~toolgym.envs.household.pddl.GameSpec` in exactly the form the game files
have (entity ids mangled the ALFRED way, the same predicates, goals of the same six shapes and task sentences
of the same templates), so the native engine, the expert planner and even the official engine (via
:func:`~toolgym.envs.household.pddl.write_problem`) play them unchanged.

Every generated game is solvable by construction (the target object exists, can be picked up, processed
and placed; the needed appliance exists) and its goal does not hold at the start.

The household ontology below (object kinds, what they afford, which furniture holds what, which room has
which furniture) is toolgym's own compact model of an ordinary home.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from toolgym.envs.household.pddl import GameSpec, parse_formula, parse_sexp
from toolgym.envs.household.world import TASK_TYPES, World
from toolgym.error import ConfigError
from toolgym.rng import rand_elem

__all__ = [
    "DIFFICULTIES",
    "OBJECTS",
    "RECEPTACLES",
    "ROOMS",
    "GeneratorConfig",
    "ObjectKind",
    "ReceptacleKind",
    "generate",
    "generate_world",
]


@dataclass(frozen=True)
class ObjectKind:
    """A kind of movable object.

    Attributes:
        name: The ALFRED-style type name (``"Mug"``; shown lower-case, ``"mug 1"``).
        tags: Containment categories (what furniture accepts it).
        rooms: Rooms where it appears.
        affords: Subset of ``clean``, ``heat``, ``cool``, ``slice``, ``container`` (a receptacle-object).
    """

    name: str
    tags: frozenset[str]
    rooms: frozenset[str]
    affords: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ReceptacleKind:
    """A kind of furniture or appliance.

    Attributes:
        name: The ALFRED-style type name (``"CounterTop"``); ``basin`` kinds get ALFRED's ``..._bar_SinkBasin`` ids.
        rooms: Rooms where it appears, with the (min, max) count.
        accepts: Containment categories it accepts (tags) or object names.
        openable: Whether it opens and closes.
        basin: For sinks and bathtubs: the id suffix ALFRED uses (``"SinkBasin"``).
    """

    name: str
    rooms: Mapping[str, tuple[int, int]]
    accepts: frozenset[str]
    openable: bool = False
    basin: str = ""


def _o(name: str, tags: str, rooms: str, affords: str = "") -> ObjectKind:
    return ObjectKind(name, frozenset(tags.split()), frozenset(rooms.split()), frozenset(affords.split()))


#: Movable objects (all can be picked up).
OBJECTS: tuple[ObjectKind, ...] = (
    _o("Apple", "food produce", "kitchen", "clean heat cool slice"),
    _o("Potato", "food produce", "kitchen", "clean heat cool slice"),
    _o("Tomato", "food produce", "kitchen", "clean heat cool slice"),
    _o("Egg", "food", "kitchen", "clean heat cool"),
    _o("Lettuce", "food produce", "kitchen", "clean cool slice"),
    _o("Bread", "food", "kitchen", "heat cool slice"),
    _o("Mug", "dish cup", "kitchen bedroom", "clean heat cool container"),
    _o("Cup", "dish cup", "kitchen", "clean heat cool container"),
    _o("Bowl", "dish", "kitchen livingroom bedroom", "clean cool container"),
    _o("Plate", "dish", "kitchen livingroom", "clean heat cool container"),
    _o("Pot", "cookware", "kitchen", "clean cool container"),
    _o("Pan", "cookware", "kitchen", "clean cool container"),
    _o("Kettle", "cookware", "kitchen", "clean"),
    _o("Fork", "utensil", "kitchen", "clean"),
    _o("Spoon", "utensil", "kitchen", "clean"),
    _o("Spatula", "utensil", "kitchen", "clean"),
    _o("Ladle", "utensil", "kitchen", "clean"),
    _o("Knife", "utensil", "kitchen", "clean"),
    _o("ButterKnife", "utensil", "kitchen", "clean"),
    _o("SaltShaker", "condiment", "kitchen"),
    _o("PepperShaker", "condiment", "kitchen"),
    _o("WineBottle", "bottle", "kitchen livingroom", "cool"),
    _o("DishSponge", "cleaning wet", "kitchen bathroom", "clean"),
    _o("SprayBottle", "cleaning", "kitchen bathroom bedroom"),
    _o("SoapBottle", "cleaning toiletry", "kitchen bathroom"),
    _o("SoapBar", "toiletry wet", "bathroom", "clean"),
    _o("Cloth", "cleaning wet soft", "bathroom bedroom", "clean"),
    _o("ToiletPaper", "toiletry paper", "bathroom"),
    _o("HandTowel", "toiletry towel", "bathroom"),
    _o("Candle", "decor toiletry", "bathroom livingroom"),
    _o("TissueBox", "paper decor", "bathroom bedroom livingroom"),
    _o("CreditCard", "small", "kitchen bedroom livingroom"),
    _o("CellPhone", "small", "kitchen bedroom livingroom"),
    _o("KeyChain", "small", "bedroom livingroom"),
    _o("Watch", "small", "bedroom livingroom"),
    _o("Pen", "small stationery", "bedroom livingroom"),
    _o("Pencil", "small stationery", "bedroom livingroom"),
    _o("CD", "small", "bedroom"),
    _o("RemoteControl", "small", "livingroom bedroom"),
    _o("AlarmClock", "small decor", "bedroom"),
    _o("Book", "media", "bedroom livingroom"),
    _o("Newspaper", "media paper", "livingroom"),
    _o("Laptop", "media", "bedroom livingroom"),
    _o("Vase", "decor", "livingroom bedroom"),
    _o("Statue", "decor", "livingroom bedroom"),
    _o("Pillow", "soft", "bedroom livingroom"),
    _o("Box", "decor", "livingroom", "container"),
    _o("BasketBall", "sports", "bedroom"),
    _o("BaseballBat", "sports", "bedroom"),
    _o("TennisRacket", "sports", "bedroom"),
)

#: Lamps (toggleable, not movable) for the look-at-in-light task.
LAMPS: tuple[str, ...] = ("DeskLamp", "FloorLamp")
_LAMP_HOSTS = frozenset({"Desk", "SideTable", "Dresser", "CoffeeTable", "Shelf"})


def _r(name: str, rooms: str, accepts: str, openable: bool = False, basin: str = "") -> ReceptacleKind:
    parsed = {}
    for item in rooms.split():
        room, lo, hi = item.split(":")
        parsed[room] = (int(lo), int(hi))
    return ReceptacleKind(name, parsed, frozenset(accepts.split()), openable, basin)


#: Furniture and appliances.
RECEPTACLES: tuple[ReceptacleKind, ...] = (
    _r(
        "Cabinet",
        "kitchen:2:9 bathroom:1:4 livingroom:0:2",
        "dish cookware condiment cleaning toiletry bottle paper",
        True,
    ),
    _r(
        "Drawer",
        "kitchen:1:6 bathroom:0:3 bedroom:1:6 livingroom:0:3",
        "utensil small condiment wet toiletry media",
        True,
    ),
    _r("CounterTop", "kitchen:1:3 bathroom:1:1", "food dish cookware utensil condiment cleaning small bottle toiletry"),
    _r("DiningTable", "kitchen:0:1 livingroom:0:1", "food dish cookware utensil condiment small bottle media decor"),
    _r("Fridge", "kitchen:1:1", "food dish cookware bottle", True),
    _r("Microwave", "kitchen:1:1", "food dish", True),
    _r("Sink", "kitchen:1:1 bathroom:1:2", "food dish cookware utensil wet", basin="SinkBasin"),
    _r("StoveBurner", "kitchen:2:4", "cookware"),
    _r("CoffeeMachine", "kitchen:1:1", "cup"),
    _r("Toaster", "kitchen:0:1", ""),
    _r(
        "GarbageCan", "kitchen:1:1 bathroom:1:1 bedroom:0:1 livingroom:0:1", "food cleaning paper stationery bottle wet"
    ),
    _r(
        "Shelf",
        "kitchen:0:3 bathroom:0:2 bedroom:0:6 livingroom:0:4",
        "dish small decor media condiment cleaning toiletry bottle",
    ),
    _r("Bathtub", "bathroom:0:1", "wet towel", basin="BathtubBasin"),
    _r("Toilet", "bathroom:1:1", "toiletry cleaning paper"),
    _r("TowelHolder", "bathroom:0:1", "towel"),
    _r("HandTowelHolder", "bathroom:0:2", "towel"),
    _r("ToiletPaperHanger", "bathroom:0:1", "paper"),
    _r("Cart", "bathroom:0:1", "toiletry cleaning paper"),
    _r("Bed", "bedroom:1:1", "media soft sports small"),
    _r("Desk", "bedroom:0:2", "small media stationery cup decor sports"),
    _r("Dresser", "bedroom:0:1 livingroom:0:1", "small media decor paper cup", False),
    _r("SideTable", "bedroom:0:2 livingroom:0:2", "small media decor dish food stationery"),
    _r("Safe", "bedroom:0:1 livingroom:0:1", "small", True),
    _r("LaundryHamper", "bedroom:0:1", "soft"),
    _r("Sofa", "livingroom:1:1", "soft media small"),
    _r("ArmChair", "livingroom:0:2", "soft media small"),
    _r("CoffeeTable", "livingroom:1:1", "small media decor dish stationery"),
    _r("TVStand", "livingroom:0:1", "small paper decor"),
    _r("Ottoman", "livingroom:0:1", "soft media small"),
)

#: Rooms and what each needs (so every task type has a room where it can be posed).
ROOMS: tuple[str, ...] = ("kitchen", "bathroom", "bedroom", "livingroom")
_TASK_ROOMS: dict[str, tuple[str, ...]] = {
    "pick_and_place_simple": ROOMS,
    "look_at_obj_in_light": ("bedroom", "livingroom"),
    "pick_clean_then_place_in_recep": ("kitchen", "bathroom"),
    "pick_heat_then_place_in_recep": ("kitchen",),
    "pick_cool_then_place_in_recep": ("kitchen",),
    "pick_two_obj_and_place": ROOMS,
}
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "pick_and_place_simple": ("put a {obj} in {recep}.", "put some {obj} on {recep}."),
    "look_at_obj_in_light": ("look at {obj} under the {toggle}.", "examine the {obj} with the {toggle}."),
    "pick_clean_then_place_in_recep": ("put a clean {obj} in {recep}.", "clean some {obj} and put it in {recep}."),
    "pick_heat_then_place_in_recep": ("put a hot {obj} in {recep}.", "heat some {obj} and put it in {recep}."),
    "pick_cool_then_place_in_recep": ("put a cool {obj} in {recep}.", "cool some {obj} and put it in {recep}."),
    "pick_two_obj_and_place": ("put two {obj} in {recep}.", "find two {obj} and put them in {recep}."),
}
_NEEDS = {
    "pick_clean_then_place_in_recep": ("clean", "Sink"),
    "pick_heat_then_place_in_recep": ("heat", "Microwave"),
    "pick_cool_then_place_in_recep": ("cool", "Fridge"),
}
_STATE_PRED = {"clean": ("cleanable", "isClean"), "heat": ("heatable", "isHot"), "cool": ("coolable", "isCool")}


@dataclass(frozen=True)
class GeneratorConfig:
    """Difficulty knobs of the generator.

    Attributes:
        receptacles: (min, max) number of furniture pieces, on top of what the room requires.
        objects: (min, max) number of movable objects besides the task's own.
        decoys: (min, max) extra instances of the target's kind (more candidates to tell apart and more
            places where a pick-two task's pair may be split).
        closed: Probability that an openable piece is used (otherwise an open-shelved kind is preferred).
        shared_location: Probability that a piece shares its location with the previous one (as stacked
            drawers do in ALFWorld: one "go to" shows one of them, the others are examined in place).
        rooms: Rooms to draw from (each task type keeps only the rooms where it can be posed).
    """

    receptacles: tuple[int, int] = (6, 12)
    objects: tuple[int, int] = (6, 14)
    decoys: tuple[int, int] = (0, 2)
    closed: float = 0.6
    shared_location: float = 0.15
    rooms: tuple[str, ...] = ROOMS

    def validate(self) -> GeneratorConfig:
        """Check the knobs; return ``self``.

        Raises:
            ConfigError: A knob is out of range.
        """
        for name in ("receptacles", "objects", "decoys"):
            lo, hi = getattr(self, name)
            if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi):
                raise ConfigError(
                    f"household generator: expected {name}=(min, max) with 0 <= min <= max, got {(lo, hi)}."
                )
        for name in ("closed", "shared_location"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"household generator: expected {name} in [0, 1], got {p!r}.")
        bad = [r for r in self.rooms if r not in ROOMS]
        if bad or not self.rooms:
            raise ConfigError(f"household generator: expected rooms among {list(ROOMS)}, got {list(self.rooms)}.")
        return self


#: Difficulty presets (1 easy, 2 default, 3 hard).
DIFFICULTIES: Mapping[int, GeneratorConfig] = {
    1: GeneratorConfig(receptacles=(3, 5), objects=(2, 5), decoys=(0, 0), closed=0.3, shared_location=0.0),
    2: GeneratorConfig(),
    3: GeneratorConfig(receptacles=(14, 24), objects=(14, 26), decoys=(1, 4), closed=0.85, shared_location=0.25),
}


def _accepts(kind: ReceptacleKind, obj: ObjectKind) -> bool:
    return bool(kind.accepts & obj.tags) or obj.name in kind.accepts


def _coord(cents: int) -> str:
    """ALFRED's mangled coordinate: -82 -> ``_minus_00_dot_82``."""
    sign = "_plus_" if cents >= 0 else "_minus_"
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole:02d}_dot_{frac:02d}"


@dataclass
class _Builder:
    rng: np.random.Generator
    ids: set[str] = field(default_factory=set)
    _buffer: list[list[int]] = field(default_factory=list)

    def _draw(self) -> list[int]:
        # Random values come in blocks (one numpy call per 64 entities, not one per entity).
        if not self._buffer:
            block = self.rng.integers((-400, 0, -400, -9, -9, 0, 0), (401, 201, 401, 10, 10, 4, 6), size=(64, 7))
            self._buffer = block.tolist()[::-1]
        return self._buffer.pop()

    def entity_id(self, name: str, suffix: str = "") -> str:
        while True:
            x, y, z = self._draw()[:3]
            ident = "_bar_".join([name, _coord(x), _coord(y), _coord(z)]) + (f"_bar_{suffix}" if suffix else "")
            if ident.lower() not in self.ids:
                self.ids.add(ident.lower())
                return ident

    def location_id(self) -> str:
        def part(v: int) -> str:
            return f"_minus_{-v}" if v < 0 else str(v)

        while True:
            x, z, rot, h = self._draw()[3:]
            horizon = (-30, 0, 15, 30, 45, 60)[h]
            ident = "loc_bar_" + "_bar_".join(part(v) for v in (x, z, rot, horizon))
            if ident not in self.ids:
                self.ids.add(ident)
                return ident


def generate(task_type: str, seed: int, config: GeneratorConfig | None = None) -> GameSpec:
    """Generate a household game.

    Args:
        task_type: One of ALFWorld's six task types.
        seed: Any non-negative integer; the same (task type, seed, config) gives the same game.
        config: Difficulty knobs (default: :data:`DIFFICULTIES` ``[2]``).

    Returns:
        The game.

    Raises:
        ConfigError: Unknown task type, or a config under which the task cannot be posed.

    Example:
        >>> spec = generate("pick_heat_then_place_in_recep", 7)
        >>> spec.task.startswith(("put a hot", "heat some"))
        True
    """
    return generate_world(task_type, seed, config).spec


def generate_world(task_type: str, seed: int, config: GeneratorConfig | None = None) -> World:
    """Like :func:`generate`, but return the compiled :class:`~toolgym.envs.household.world.World`."""
    if task_type not in TASK_TYPES:
        raise ConfigError(f"household generator: expected a task type among {list(TASK_TYPES)}, got {task_type!r}.")
    cfg = (config or DIFFICULTIES[2]).validate()
    rooms = [r for r in _TASK_ROOMS[task_type] if r in cfg.rooms]
    if not rooms:
        raise ConfigError(
            f"household generator: {task_type} needs one of the rooms {list(_TASK_ROOMS[task_type])}, "
            f"but rooms={list(cfg.rooms)}."
        )
    for attempt in range(1000):
        rng = np.random.default_rng([TASK_TYPES.index(task_type), int(seed), attempt])
        world = _attempt(task_type, int(seed), cfg, rooms, rng)
        if world is not None:
            return world
    raise ConfigError(
        f"household generator: could not pose {task_type} with seed {seed} under {cfg}."
    )  # pragma: no cover


def _attempt(
    task_type: str, seed: int, cfg: GeneratorConfig, rooms: Sequence[str], rng: np.random.Generator
) -> World | None:
    room = rand_elem(rng, rooms)
    objects_here = [o for o in OBJECTS if room in o.rooms]
    furniture = [k for k in RECEPTACLES if room in k.rooms]
    needs = _NEEDS.get(task_type)

    # --- the task's parameters
    if task_type == "look_at_obj_in_light":
        candidates = [o for o in objects_here if o.tags & {"small", "media", "decor"} and "container" not in o.affords]
    elif needs is not None:
        candidates = [o for o in objects_here if needs[0] in o.affords]
    else:
        candidates = list(objects_here)
    if not candidates:
        return None
    target = rand_elem(rng, candidates)
    holders = [k for k in furniture if _accepts(k, target)]
    if not holders:
        return None
    lamp = ""
    goal_kind: ReceptacleKind | None = None
    if task_type == "look_at_obj_in_light":
        lamp = rand_elem(rng, LAMPS)
    else:
        goal_choices = [k for k in holders if needs is None or k.name != needs[1]]
        if not goal_choices:
            return None
        goal_kind = rand_elem(rng, goal_choices)

    # --- furniture: what the room and the task require, then random pieces
    pieces: list[ReceptacleKind] = []
    for k in furniture:
        lo, _ = k.rooms[room]
        pieces.extend([k] * lo)
    for must in filter(None, [goal_kind, needs and _kind(needs[1])]):
        if all(k.name != must.name for k in pieces):
            pieces.append(must)
    if lamp and not any(k.name in _LAMP_HOSTS for k in pieces):
        pieces.append(next(k for k in furniture if k.name in _LAMP_HOSTS))
    extra = int(rng.integers(cfg.receptacles[0], cfg.receptacles[1] + 1))
    counts: dict[str, int] = {}
    for k in pieces:
        counts[k.name] = counts.get(k.name, 0) + 1
    for _ in range(extra):
        options = [k for k in furniture if counts.get(k.name, 0) < k.rooms[room][1]]
        if not options:
            break
        cumulative = np.cumsum([(cfg.closed if k.openable else 1.0 - cfg.closed) + 0.05 for k in options])
        pick = options[
            min(int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")), len(options) - 1)
        ]
        counts[pick.name] = counts.get(pick.name, 0) + 1
        pieces.append(pick)

    b = _Builder(rng)
    recs: list[tuple[str, ReceptacleKind, str]] = []  # (id, kind, location id)
    start = b.location_id()
    for kind in pieces:
        if recs and rng.random() < cfg.shared_location and kind.openable and recs[-1][1].openable:
            loc = recs[-1][2]
        else:
            loc = b.location_id()
        recs.append((b.entity_id(kind.name, kind.basin), kind, loc))

    def holders_of(obj: ObjectKind, exclude: str = "") -> list[tuple[str, ReceptacleKind, str]]:
        return [rec for rec in recs if _accepts(rec[1], obj) and rec[1].name != exclude]

    # --- objects: the task's own, decoys, and the rest of the room
    placed: list[tuple[str, ObjectKind, tuple[str, ReceptacleKind, str]]] = []
    goal_name = goal_kind.name if goal_kind else ""
    own = 2 if task_type == "pick_two_obj_and_place" else 1
    own += int(rng.integers(cfg.decoys[0], cfg.decoys[1] + 1))
    for _ in range(own):
        spots = holders_of(target, exclude=goal_name) or holders_of(target)
        if not spots:
            return None
        spot = rand_elem(rng, spots)
        placed.append((b.entity_id(target.name), target, spot))
    n_other = int(rng.integers(cfg.objects[0], cfg.objects[1] + 1))
    others = [o for o in objects_here if o is not target]
    for _ in range(n_other):
        obj = rand_elem(rng, others)
        spots = holders_of(obj)
        if spots:
            placed.append((b.entity_id(obj.name), obj, rand_elem(rng, spots)))
    lamp_id = ""
    if lamp:
        hosts = [rec for rec in recs if rec[1].name in _LAMP_HOSTS]
        host = rand_elem(rng, hosts)
        lamp_id = b.entity_id(lamp)

    # --- facts, in the layout of ALFWorld's files
    agent = "agent1"
    objects: list[tuple[str, str]] = [(agent, "agent")]
    kinds_used = sorted({k.name for _, k, _ in recs})
    obj_kinds = sorted({o.name for _, o, _ in placed} | ({lamp} if lamp else set()))
    objects += [(f"{n}Type", "otype") for n in obj_kinds]
    objects += [(_rtype(_kind(n)), "rtype") for n in kinds_used]
    objects += [(oid, "object") for oid, _, _ in placed] + ([(lamp_id, "object")] if lamp_id else [])
    objects += [(rid, "receptacle") for rid, _, _ in recs]
    locs = sorted({start} | {loc for _, _, loc in recs})
    objects += [(loc, "location") for loc in locs]

    init: list[tuple[str, ...]] = []
    init += [("receptacleType", rid, _rtype(k)) for rid, k, _ in recs]
    init += [("objectType", oid, f"{o.name}Type") for oid, o, _ in placed]
    if lamp_id:
        init.append(("objectType", lamp_id, f"{lamp}Type"))
    types_present = sorted({o.name: o for _, o, _ in placed}.items())
    for kind in sorted({k.name: k for _, k, _ in recs}.values(), key=lambda k: k.name):
        init += [("canContain", _rtype(kind), f"{name}Type") for name, o in types_present if _accepts(kind, o)]
    for oid, o, _ in placed:
        init.append(("pickupable", oid))
        if "container" in o.affords:
            init.append(("isReceptacleObject", oid))
    init += [("openable", rid) for rid, k, _ in recs if k.openable]
    init.append(("atLocation", agent, start))
    for flag, pred in (("clean", "cleanable"), ("heat", "heatable"), ("cool", "coolable"), ("slice", "sliceable")):
        init += [(pred, oid) for oid, o, _ in placed if flag in o.affords]
    if lamp_id:
        init.append(("toggleable", lamp_id))
    init += [("inReceptacle", oid, spot[0]) for oid, _, spot in placed]
    if lamp_id:
        init.append(("inReceptacle", lamp_id, host[0]))
    init += [("receptacleAtLocation", rid, loc) for rid, _, loc in recs]
    init += [("objectAtLocation", oid, spot[2]) for oid, _, spot in placed]
    if lamp_id:
        init.append(("objectAtLocation", lamp_id, host[2]))

    goal_text = _goal(task_type, target.name, _rtype(goal_kind) if goal_kind else "", lamp)
    template = rand_elem(rng, _TEMPLATES[task_type])  # two templates per task type
    recep_word = (goal_kind.basin or goal_kind.name).lower() if goal_kind else ""
    task = template.format(obj=target.name.lower(), recep=recep_word, toggle=lamp.lower())
    lower_objects = tuple((n.lower(), t) for n, t in objects)
    lower_init = tuple(tuple(x.lower() for x in fact) for fact in init)
    spec = GameSpec(
        name=f"household_{task_type}_{seed}",
        objects=lower_objects,
        init=lower_init,
        goal=parse_formula(parse_sexp(goal_text)[0]),
        task=task,
        task_type=task_type,
        meta={
            "room": room,
            "object_target": target.name,
            "parent_target": (goal_kind.basin or goal_kind.name) if goal_kind else "",
            "toggle_target": lamp,
            "seed": seed,
        },
    )
    world = World.compile(spec)
    if world.won(world.initial):
        return None
    return world


def _rtype(kind: ReceptacleKind) -> str:
    return f"{kind.basin}Type" if kind.basin else f"{kind.name}Type"


def _kind(name: str) -> ReceptacleKind:
    return next(k for k in RECEPTACLES if k.name == name)


def _goal(task_type: str, obj: str, rtype: str, lamp: str) -> str:
    """The goal in the shape ALFWorld's game files use for each task type."""
    ot = f"{obj}Type"
    if task_type == "pick_and_place_simple":
        body = f"(and (inReceptacle ?o ?r) (objectType ?o {ot}) (receptacleType ?r {rtype}))"
        return f"(and (exists (?r - receptacle) (exists (?o - object) {body})))"
    if task_type == "pick_two_obj_and_place":
        second = (
            f"(exists (?o2 - object) (and (not (= ?o1 ?o2)) (objectType ?o2 {ot}) (receptacleType ?r {rtype}) "
            "(inReceptacle ?o2 ?r)))"
        )
        body = f"(and (objectType ?o1 {ot}) (receptacleType ?r {rtype}) (inReceptacle ?o1 ?r) {second})"
        return f"(and (exists (?r - receptacle) (exists (?o1 - object) {body})))"
    if task_type == "look_at_obj_in_light":
        light = (
            f"(exists (?ot - object ?r - receptacle ?a - agent ?l - location) (and (objectType ?ot {lamp}Type) "
            "(toggleable ?ot) (isToggled ?ot) (receptacleAtLocation ?r ?l) (atLocation ?a ?l) (inReceptacle ?ot ?r)))"
        )
        return f"(and {light} (exists (?o - object ?a - agent) (and (objectType ?o {ot}) (holds ?a ?o))))"
    able, state = _STATE_PRED[_NEEDS[task_type][0]]
    body = f"(and ({able} ?o) (objectType ?o {ot}) (receptacleType ?r {rtype}) ({state} ?o) (inReceptacle ?o ?r))"
    return f"(and (exists (?r - receptacle) (exists (?o - object) {body})))"
