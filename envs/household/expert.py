"""The expert planner: a shortest-effort plan to the goal from any state, using privileged state.

:func:`plan` reads what the goal asks (which object type, how many, in which receptacle type, in which state,
or which lamp to look under) from the compiled goal, then builds candidate plans by *simulating* them with the
engine (so every step is an admissible command) and keeps the shortest that reaches the goal:

* place tasks: put away a held object that does not help, fetch an instance (open its receptacle if needed),
  clean/heat/cool it at the nearest sink/microwave/fridge if the goal asks, carry it to the target
  receptacle (open it if needed), repeat for the second object of a pick-two task;
* look tasks: fetch the object, go to a receptacle holding the right lamp, switch it on.

Goals of any other shape fall back to a breadth-first search over the engine's state graph. A state from which
the goal cannot be reached (e.g. holding an object no receptacle accepts) yields no plan.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from toolgym.envs.household import engine as E
from toolgym.envs.household.goal import GoalShape
from toolgym.envs.household.world import HouseState, World

__all__ = ["command", "plan", "search"]


def command(world: World, act: E.Act) -> str:
    """The command text of an action."""
    k = act[0]
    on, rn = world.obj_names, world.rec_names
    if k == E.GOTO:
        return f"go to {rn[act[1]]}"
    if k == E.OPEN:
        return f"open {rn[act[1]]}"
    if k == E.CLOSE:
        return f"close {rn[act[1]]}"
    if k == E.TAKE:
        return f"take {on[act[1]]} from {rn[act[2]]}"
    if k == E.PUT:
        return f"put {on[act[1]]} in/on {rn[act[2]]}"
    if k == E.USE:
        return f"use {on[act[1]]}"
    if k in (E.HEAT, E.COOL, E.CLEAN):
        verb = {E.HEAT: "heat", E.COOL: "cool", E.CLEAN: "clean"}[k]
        return f"{verb} {on[act[1]]} with {rn[act[2]]}"
    if k == E.SLICE:
        return f"slice {on[act[1]]} with {on[act[2]]}"
    if k == E.EXAMINE_R:
        return f"examine {rn[act[1]]}"
    if k == E.EXAMINE_O:
        return f"examine {on[act[1]]}"
    return "look" if k == E.LOOK else "inventory"


class _Sim:
    """A plan under construction: the actions and the state they lead to."""

    def __init__(self, world: World, state: HouseState) -> None:
        self.world = world
        self.state = state
        self.acts: list[E.Act] = []

    def copy(self) -> _Sim:
        s = _Sim(self.world, self.state)
        s.acts = list(self.acts)
        return s

    def do(self, act: E.Act) -> None:
        self.state, _ = E.apply(self.world, self.state, act)
        self.acts.append(act)

    def reach(self, r: int) -> None:
        """Go to receptacle ``r`` (if not at its location) and open it (if closed)."""
        w = self.world
        if w.rec_loc[r] != self.state.loc:
            self.do((E.GOTO, r))
        if w.openable >> r & 1 and not self.state.opened >> r & 1:
            self.do((E.OPEN, r))

    def goto(self, r: int) -> None:
        if self.world.rec_loc[r] != self.state.loc:
            self.do((E.GOTO, r))


def _holders(world: World, state: HouseState, o: int) -> list[int]:
    return [r for r, c in enumerate(state.contents) if o in c]


def _reach_cost(world: World, state: HouseState, r: int) -> int:
    return (world.rec_loc[r] != state.loc) + (world.openable >> r & 1 and not state.opened >> r & 1)


def _drop(sim: _Sim, o: int, avoid: int = -1) -> bool:
    """Put held object ``o`` into the cheapest receptacle that accepts it."""
    w, st = sim.world, sim.state
    options = [r for r in range(len(w.rec_ids)) if w.accepts[r] >> o & 1 and r != avoid]
    if not options:
        return False
    r = min(options, key=lambda r: (_reach_cost(w, st, r), r))
    sim.reach(r)
    sim.do((E.PUT, o, r))
    return True


def _fetch(sim: _Sim, o: int) -> bool:
    """Take object ``o`` from the cheapest receptacle that holds it."""
    w, st = sim.world, sim.state
    holders = _holders(w, st, o)
    if not holders or not w.pickupable >> o & 1:
        return False
    q = min(holders, key=lambda r: (_reach_cost(w, st, r), r))
    sim.reach(q)
    sim.do((E.TAKE, o, q))
    return True


_STATE_MASK: dict[str, Callable[[HouseState], int]] = {
    "isclean": lambda s: s.clean,
    "ishot": lambda s: s.hot,
    "iscool": lambda s: s.cool,
}
_APPLIANCE = {"isclean": ("sinks", E.CLEAN), "ishot": ("microwaves", E.HEAT), "iscool": ("fridges", E.COOL)}


def _process(sim: _Sim, o: int, need: str) -> bool:
    """Clean / heat / cool held object ``o`` at the nearest suitable appliance."""
    if not need or _STATE_MASK[need](sim.state) >> o & 1:
        return True
    if need not in _APPLIANCE:
        return False
    w = sim.world
    attr, kind = _APPLIANCE[need]
    able = {"isclean": w.cleanable, "ishot": w.heatable, "iscool": w.coolable}[need]
    if not able >> o & 1:
        return False
    mask = getattr(w, attr)
    options = [r for r in range(len(w.rec_ids)) if mask >> r & 1]
    if not options:
        return False
    r = min(options, key=lambda r: (w.rec_loc[r] != sim.state.loc, r))
    sim.goto(r)
    sim.do((kind, o, r))
    return True


_STATIC = {
    "pickupable": "pickupable",
    "cleanable": "cleanable",
    "heatable": "heatable",
    "coolable": "coolable",
    "toggleable": "toggleable",
    "sliceable": "sliceable",
    "isreceptacleobject": "recobj",
}


def _of_type(world: World, otype: str, requires: frozenset[str] = frozenset()) -> list[int]:
    masks = [getattr(world, _STATIC[p]) for p in requires]
    return [o for o, t in enumerate(world.obj_types) if t == otype and all(m >> o & 1 for m in masks)]


def _plan_place(world: World, state: HouseState, shape: GoalShape) -> list[E.Act] | None:
    best: list[E.Act] | None = None
    if len(shape.states) > 1:
        return None
    targets = [r for r, t in enumerate(world.rec_types) if t == shape.rtype]
    instances = _of_type(world, shape.otype, shape.requires)
    need = next(iter(shape.states), "")
    if need and need not in _STATE_MASK:
        return None
    ok_mask = (lambda s: _STATE_MASK[need](s)) if need else (lambda s: -1)
    for r in targets:
        if not world.accepts[r] or not any(world.accepts[r] >> o & 1 for o in instances):
            continue
        attempt = _place_into(world, state, shape, need, r, instances, ok_mask)
        if attempt is not None and (best is None or len(attempt) < len(best)):
            best = attempt
    return best


def _place_into(
    world: World,
    state: HouseState,
    shape: GoalShape,
    need: str,
    r: int,
    instances: Sequence[int],
    ok_mask: Callable[[HouseState], int],
) -> list[E.Act] | None:
    sim = _Sim(world, state)
    for o in list(sim.state.held):
        useful = o in instances and world.accepts[r] >> o & 1 and o not in sim.state.contents[r]
        if not useful and not _drop(sim, o):
            return None
    for _ in range(shape.count + 1):
        done = [o for o in sim.state.contents[r] if o in instances and ok_mask(sim.state) >> o & 1]
        if len(done) >= shape.count:
            break
        if sim.state.held:
            o = sim.state.held[0]
        else:
            choices = [
                o
                for o in instances
                if o not in done
                and world.pickupable >> o & 1
                and world.accepts[r] >> o & 1
                and _holders(world, sim.state, o)
            ]
            if not choices:
                return None
            trials = []
            for o in choices:
                trial = sim.copy()
                if _fetch(trial, o) and _process(trial, o, need):
                    trial.reach(r)
                    trials.append((len(trial.acts), o))
            if not trials:
                return None
            o = min(trials)[1]
            if not _fetch(sim, o):
                return None
        if not _process(sim, o, need):
            return None
        sim.reach(r)
        sim.do((E.PUT, o, r))
    return sim.acts if world.won(sim.state) else None


def _plan_look(world: World, state: HouseState, shape: GoalShape) -> list[E.Act] | None:
    if shape.states or shape.lamp_states - {"istoggled"}:
        return None
    instances = set(_of_type(world, shape.otype, shape.requires))
    lamps = [o for o in _of_type(world, shape.lamp, shape.lamp_requires) if world.toggleable >> o & 1]
    best: list[E.Act] | None = None
    for lamp in lamps:
        for host in _holders(world, state, lamp):
            sim = _Sim(world, state)
            ok = True
            for o in list(sim.state.held):
                if o not in instances and not _drop(sim, o):
                    ok = False
            if not ok:
                continue
            if not sim.state.held:
                choices = [o for o in instances if world.pickupable >> o & 1 and _holders(world, sim.state, o)]
                trials = []
                for o in choices:
                    trial = sim.copy()
                    if _fetch(trial, o):
                        trial.goto(host)
                        trials.append((len(trial.acts), o))
                if not trials:
                    continue
                _fetch(sim, min(trials)[1])
            sim.goto(host)
            if not world.won(sim.state) and lamp in sim.state.contents[host]:
                sim.do((E.USE, lamp))
            if world.won(sim.state) and (best is None or len(sim.acts) < len(best)):
                best = sim.acts
    return best


def search(world: World, state: HouseState, max_nodes: int = 50_000) -> list[E.Act] | None:
    """Breadth-first search for a shortest plan (the fallback for goals of other shapes)."""
    if world.won(state):
        return []
    parents: dict[HouseState, tuple[HouseState, E.Act] | None] = {state: None}
    queue = deque([state])
    while queue and len(parents) < max_nodes:
        s = queue.popleft()
        for act in E.options(world, s).values():
            if act[0] in (E.LOOK, E.INVENTORY, E.EXAMINE_O, E.EXAMINE_R):
                continue
            t, _ = E.apply(world, s, act)
            if t in parents:
                continue
            parents[t] = (s, act)
            if world.won(t):
                out = []
                cur: HouseState = t
                while parents[cur] is not None:
                    prev, a = parents[cur]  # type: ignore[misc]
                    out.append(a)
                    cur = prev
                return out[::-1]
            queue.append(t)
    return None


def plan(world: World, state: HouseState) -> list[E.Act] | None:
    """A plan (list of actions) from ``state`` to the goal; ``[]`` if it already holds, ``None`` if none found."""
    if world.won(state):
        return []
    shape = world.shape
    if shape is not None:
        found = _plan_place(world, state, shape) if shape.kind == "place" else _plan_look(world, state, shape)
        if found is not None:
            return found
    return search(world, state)
