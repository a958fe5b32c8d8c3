"""The native household engine: ALFWorld's commands, their effects and the official engine's wording.

Everything here is a pure function of a :class:`~toolgym.envs.household.world.World` and a
:class:`~toolgym.envs.household.world.HouseState`. The rules follow the ALFRED PDDL domain that ALFWorld's
games embed, *as the official engine (TextWorld's PDDL engine on Fast Downward) actually runs it*, and the
sentences follow the game's TextWorld grammar:

* ``go to R`` is admissible for every receptacle *not* at the agent's location; ``examine O`` only for a held
  object (the domain's other ``examineObject`` branch never grounds); ``use O`` for a toggleable object in any
  receptacle here, open or not; ``slice O with K`` for a sliceable object located here while holding a knife.
* Taking an object removes only that ``inReceptacle`` fact (an object listed in two receptacles stays in the
  other) and leaves a ``not_inReceptacle`` fact, which ``look`` reports as an object lying "next to" a
  receptacle once the object is back at that location.
* ``use`` always answers "You turn on the ..." (``isToggled`` is never cleared); examining a receptacle-object
  (mug, bowl, pan...) always says "This is a normal ...", whatever its temperature.
* Admissible commands are sorted as Python sorts strings, duplicates removed; anything else is
  "Nothing happens.".

See docs/household.md for the full list of behaviours and how they were checked against the official engine.
"""

from __future__ import annotations

from collections.abc import Sequence

from toolgym.envs.household.world import HouseState, World

__all__ = [
    "CHANGES",
    "NOTHING_HAPPENS",
    "Act",
    "admissible",
    "apply",
    "examine_object",
    "examine_receptacle",
    "goal_relevant_kinds",
    "intro",
    "inventory",
    "look",
    "options",
]

NOTHING_HAPPENS = "Nothing happens."
WELCOME = "-= Welcome to TextWorld, ALFRED! =-"

# Action kinds (the first element of an :data:`Act`).
GOTO, OPEN, CLOSE, TAKE, PUT, USE, HEAT, COOL, CLEAN, SLICE, EXAMINE_R, EXAMINE_O, LOOK, INVENTORY = range(14)

#: An action: ``(kind, *indices)``, e.g. ``(TAKE, obj, rec)``.
Act = tuple[int, ...]

#: Which predicates each action kind can change (the goal is re-checked only when one of them is in it).
CHANGES: dict[int, frozenset[str]] = {
    GOTO: frozenset({"atlocation"}),
    OPEN: frozenset({"opened"}),
    CLOSE: frozenset({"opened"}),
    TAKE: frozenset({"inreceptacle", "holds", "holdsany", "objectatlocation"}),
    PUT: frozenset({"inreceptacle", "holds", "holdsany", "objectatlocation"}),
    USE: frozenset({"istoggled"}),
    HEAT: frozenset({"ishot", "iscool"}),
    COOL: frozenset({"ishot", "iscool"}),
    CLEAN: frozenset({"isclean"}),
    SLICE: frozenset({"issliced"}),
    EXAMINE_R: frozenset(),
    EXAMINE_O: frozenset(),
    LOOK: frozenset(),
    INVENTORY: frozenset(),
}


def goal_relevant_kinds(world: World) -> frozenset[int]:
    """The action kinds that can change whether ``world``'s goal holds (the others need no goal check)."""
    got = world.memo.get("goal_kinds")
    if got is None:
        got = world.memo["goal_kinds"] = frozenset(k for k, preds in CHANGES.items() if preds & world.goal.dynamic)
    return got


def _listing(items: Sequence[str]) -> str:
    """TextWorld's list rendering: ``nothing`` / ``a`` / ``a, b, and c``."""
    if not items:
        return "nothing"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + ", and " + items[-1]


def examine_receptacle(world: World, state: HouseState, r: int) -> str:
    """What ``examine R`` (and arriving at or opening R) says."""
    name = world.rec_names[r]
    if world.openable >> r & 1:
        if not state.opened >> r & 1:
            return f"The {name} is closed."
        names = world.obj_names
        return f"The {name} is open. In it, you see {_listing(['a ' + names[o] for o in state.contents[r]])}."
    names = world.obj_names
    return f"On the {name}, you see {_listing(['a ' + names[o] for o in state.contents[r]])}."


def examine_object(world: World, state: HouseState, o: int) -> str:
    """What ``examine O`` says (the grammar's rules, first match wins)."""
    name = world.obj_names[o]
    bit = 1 << o
    if world.recobj & bit:
        inside = ["a " + world.obj_names[i] for i in world.inner[o]]
        return f"This is a normal {name}. In it, you see {_listing(inside)}."
    clean, hot, cool, sliced = state.clean & bit, state.hot & bit, state.cool & bit, state.sliced & bit
    if sliced:
        if clean and hot:
            return f"This is a hot and clean sliced {name}."
        if clean and cool:
            return f"This is a cool and clean sliced {name}."
        if clean:
            return f"This is a clean sliced {name}."
        if hot:
            return f"This is a hot sliced {name}."
        if cool:
            return f"This is a cool sliced {name}."
    if clean and hot:
        return f"This is a hot and clean {name}."
    if clean and cool:
        return f"This is a cool and clean {name}."
    if hot:
        return f"This is a hot {name}."
    if clean:
        return f"This is a clean {name}."
    if cool:
        return f"This is a cold {name}."
    if world.toggleable & bit and state.toggled & bit:
        return f"This {name} is on."
    # The grammar's "This ... is off." needs a not_isToggled fact, which no action of the domain produces.
    if world.sliceable & bit and sliced:
        return f"This is a sliced {name}."
    return f"There's nothing special about {name}."


def inventory(world: World, state: HouseState) -> str:
    """What ``inventory`` says."""
    if not state.held:
        return "You are not carrying anything."
    return f"You are carrying: {_listing(['a ' + world.obj_names[o] for o in state.held])}."


def look(world: World, state: HouseState) -> str:
    """What ``look`` says at the agent's location."""
    here = world.recs_at[state.loc]
    if not here:
        return "You are in the middle of a room. Looking quickly around you, you see nothing."
    facing = _listing([world.rec_names[r] for r in here])
    return f"You are facing the {facing}. Next to it, you see {_floor(world, state)}."


def _floor(world: World, state: HouseState) -> str:
    loc = state.loc
    here = world.recs_at[loc]
    not_in = state.not_in
    items = []
    if not_in:
        for o, locs in enumerate(state.obj_locs):
            if loc in locs:
                for r in here:
                    if (o, r) in not_in:
                        items.append("a " + world.obj_names[o])
    return _listing(items)


def intro(world: World, state: HouseState) -> str:
    """The first observation: welcome line, the room, and the task."""
    if world.recs_at[state.loc]:
        room = look(world, state)
    else:
        everything = _listing(["a " + name for name in world.rec_names])
        room = f"You are in the middle of a room. Looking quickly around you, you see {everything}."
    return f"{WELCOME}\n\n{room}\n\nYour task is to: {world.task}"


def _static_moves(world: World, loc: int) -> dict[str, Act]:
    """The location-dependent part of the options that never changes: go to / examine receptacle."""
    key = ("moves", loc)
    got = world.memo.get(key)
    if got is None:
        got = {f"go to {world.rec_names[r]}": (GOTO, r) for r in range(len(world.rec_ids)) if world.rec_loc[r] != loc}
        got.update({f"examine {world.rec_names[r]}": (EXAMINE_R, r) for r in world.recs_at[loc]})
        got["inventory"] = (INVENTORY,)
        got["look"] = (LOOK,)
        world.memo[key] = got
    return got


def options(world: World, state: HouseState) -> dict[str, Act]:
    """Every admissible command in ``state`` and the action it performs (first grounding wins on duplicates)."""
    out = dict(_static_moves(world, state.loc))
    here = world.recs_at[state.loc]
    onames, rnames = world.obj_names, world.rec_names
    openable, opened = world.openable, state.opened
    contents = state.contents
    held = state.held
    toggleable = world.toggleable
    for r in here:
        bit = 1 << r
        if openable & bit:
            if opened & bit:
                out[f"close {rnames[r]}"] = (CLOSE, r)
            else:
                out[f"open {rnames[r]}"] = (OPEN, r)
        for o in contents[r]:
            if toggleable >> o & 1:
                cmd = f"use {onames[o]}"
                if cmd not in out:
                    out[cmd] = (USE, o)
    if held:
        for o in held:
            oname = onames[o]
            out[f"examine {oname}"] = (EXAMINE_O, o)
            obit = 1 << o
            for r in here:
                rbit = 1 << r
                if (not openable & rbit or opened & rbit) and world.accepts[r] & obit:
                    out[f"put {oname} in/on {rnames[r]}"] = (PUT, o, r)
                if world.microwaves & rbit and world.heatable & obit:
                    out[f"heat {oname} with {rnames[r]}"] = (HEAT, o, r)
                if world.fridges & rbit and world.coolable & obit:
                    out[f"cool {oname} with {rnames[r]}"] = (COOL, o, r)
                if world.sinks & rbit and world.cleanable & obit:
                    out[f"clean {oname} with {rnames[r]}"] = (CLEAN, o, r)
            if world.knives & obit:
                loc = state.loc
                sliceable = world.sliceable
                for co, locs in enumerate(state.obj_locs):
                    if sliceable >> co & 1 and loc in locs:
                        out[f"slice {onames[co]} with {oname}"] = (SLICE, co, o)
    else:
        pickupable = world.pickupable
        for r in here:
            bit = 1 << r
            if openable & bit and not opened & bit:
                continue
            rname = rnames[r]
            for o in contents[r]:
                if pickupable >> o & 1:
                    out[f"take {onames[o]} from {rname}"] = (TAKE, o, r)
    return out


def admissible(world: World, state: HouseState) -> list[str]:
    """The admissible commands in the official order (sorted)."""
    return sorted(options(world, state))


def _without(items: tuple[int, ...], x: int) -> tuple[int, ...]:
    return tuple(i for i in items if i != x)


def _with(items: tuple[int, ...], x: int) -> tuple[int, ...]:
    return items if x in items else tuple(sorted((*items, x)))


def apply(world: World, state: HouseState, act: Act) -> tuple[HouseState, str]:
    """Carry out an admissible action; return the new state and the observation.

    The action must come from :func:`options` for this state (no checks are repeated here).
    """
    kind = act[0]
    if kind == GOTO:
        r = act[1]
        new = state._replace(loc=world.rec_loc[r])
        return new, f"You arrive at {world.loc_names[new.loc]}. {examine_receptacle(world, new, r)}"
    if kind == EXAMINE_R:
        return state, examine_receptacle(world, state, act[1])
    if kind == LOOK:
        return state, look(world, state)
    if kind == INVENTORY:
        return state, inventory(world, state)
    if kind == EXAMINE_O:
        return state, examine_object(world, state, act[1])
    if kind == OPEN:
        r = act[1]
        new = state._replace(opened=state.opened | 1 << r)
        return new, f"You open the {world.rec_names[r]}. {examine_receptacle(world, new, r)}"
    if kind == CLOSE:
        r = act[1]
        return state._replace(opened=state.opened & ~(1 << r)), f"You close the {world.rec_names[r]}."
    if kind == TAKE:
        o, r = act[1], act[2]
        contents = list(state.contents)
        contents[r] = _without(contents[r], o)
        obj_locs = list(state.obj_locs)
        obj_locs[o] = _without(obj_locs[o], state.loc)
        new = state._replace(
            held=_with(state.held, o),
            contents=tuple(contents),
            obj_locs=tuple(obj_locs),
            not_in=state.not_in | {(o, r)},
        )
        return new, f"You pick up the {world.obj_names[o]} from the {world.rec_names[r]}."
    if kind == PUT:
        o, r = act[1], act[2]
        contents = list(state.contents)
        contents[r] = _with(contents[r], o)
        obj_locs = list(state.obj_locs)
        obj_locs[o] = _with(obj_locs[o], state.loc)
        not_in = state.not_in - {(o, r)} if (o, r) in state.not_in else state.not_in
        new = state._replace(
            held=_without(state.held, o), contents=tuple(contents), obj_locs=tuple(obj_locs), not_in=not_in
        )
        return new, f"You put the {world.obj_names[o]} in/on the {world.rec_names[r]}."
    if kind == USE:
        o = act[1]
        return state._replace(toggled=state.toggled | 1 << o), f"You turn on the {world.obj_names[o]}."
    if kind == HEAT:
        o, r = act[1], act[2]
        new = state._replace(hot=state.hot | 1 << o, cool=state.cool & ~(1 << o))
        return new, f"You heat the {world.obj_names[o]} using the {world.rec_names[r]}."
    if kind == COOL:
        o, r = act[1], act[2]
        new = state._replace(cool=state.cool | 1 << o, hot=state.hot & ~(1 << o))
        return new, f"You cool the {world.obj_names[o]} using the {world.rec_names[r]}."
    if kind == CLEAN:
        o, r = act[1], act[2]
        return state._replace(
            clean=state.clean | 1 << o
        ), f"You clean the {world.obj_names[o]} using the {world.rec_names[r]}."
    if kind == SLICE:
        co, ko = act[1], act[2]
        new = state._replace(sliced=state.sliced | 1 << co)
        return new, f"You sliced the {world.obj_names[co]} with the {world.obj_names[ko]}."
    raise ValueError(f"unknown action kind {kind!r}")
