"""The household environments on the native engine: real ALFWorld games and procedural households."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from toolgym.core import DataStatus, TextEnv, Transition
from toolgym.envs.household import engine as E
from toolgym.envs.household.commands import HouseholdCommands
from toolgym.envs.household.expert import command, plan
from toolgym.envs.household.games import TASK_TYPES, GameRecord, describe_missing, game_files, load_split, load_world
from toolgym.envs.household.generator import DIFFICULTIES, GeneratorConfig, generate_world
from toolgym.envs.household.world import HouseState, World
from toolgym.error import ConfigError, UnknownTaskError, did_you_mean
from toolgym.parsing import ParsedAction
from toolgym.rng import rand_elem

__all__ = ["ALFWorldEnv", "HouseholdEnv", "NativeHouseholdEnv", "resolve_task_types"]

_TASK_TYPE_HELP = "ALFWorld task types (names, or numbers 1-6 as ALFWorld's env.task_types)"


def resolve_task_types(task_types: Sequence[str | int] | str | int | None) -> tuple[str, ...]:
    """Task types given as names or ALFWorld's numbers (1-6) -> names, in ALFWorld's order.

    Raises:
        ConfigError: An unknown task type.

    Example:
        >>> resolve_task_types([2, "pick_and_place_simple"])
        ('pick_and_place_simple', 'look_at_obj_in_light')
    """
    if task_types is None:
        return TASK_TYPES
    items = [task_types] if isinstance(task_types, (str, int)) else list(task_types)
    out = set()
    for t in items:
        if isinstance(t, (int, np.integer)) and not isinstance(t, bool) and 1 <= int(t) <= len(TASK_TYPES):
            out.add(TASK_TYPES[int(t) - 1])
        elif isinstance(t, str) and t in TASK_TYPES:
            out.add(t)
        else:
            raise ConfigError(
                f"task_types: expected {_TASK_TYPE_HELP} among {list(TASK_TYPES)}, got {t!r}."
                + did_you_mean(str(t), TASK_TYPES)
            )
    if not out:
        raise ConfigError(f"task_types: expected at least one of {list(TASK_TYPES)}, got none.")
    return tuple(t for t in TASK_TYPES if t in out)


def _not_admissible(command: str, admissible: Sequence[str]) -> str:
    """Feedback for a command that is not admissible, with up to three admissible ones of the same verb."""
    verb = command.split(" ", 1)[0]
    same = [a for a in admissible if a.split(" ", 1)[0] == verb][:3] if verb else []
    hint = f" Admissible {verb} commands here include: {', '.join(same)}." if same else ""
    return f"{command!r} is not an admissible command here, so nothing happened.{hint}"


class NativeHouseholdEnv(TextEnv[str]):
    """Shared machinery of the household environments that run on toolgym's native engine.

    Subclasses choose the game in :meth:`_load` (a :class:`~toolgym.envs.household.world.World`); this class
    plays it: it normalises commands (:class:`~toolgym.envs.household.commands.HouseholdCommands`), answers
    ``think: ...`` with ``OK.``, runs admissible commands through the engine and everything else into
    "Nothing happens.", checks the goal, lists ``info["admissible_actions"]`` and plans expert actions.
    """

    family = "household"
    default_max_steps = 50
    max_action_length = 2048
    max_observation_length = 16_384

    _world: World | None
    _hs: HouseState | None

    def __init__(self, **kwargs: Any) -> None:
        """Create the env (the shared :class:`~toolgym.core.TextEnv` arguments)."""
        super().__init__(**kwargs)
        self.grammar = HouseholdCommands()
        self._world = None
        self._hs = None
        self._won = False
        self._opts_for: HouseState | None = None
        self._opts: dict[str, E.Act] = {}
        self._adm: list[str] = []
        self._plan: dict[HouseState, E.Act] = {}

    # ------------------------------------------------------------------ subclass hook
    def _load(self, task_id: str | None) -> tuple[World, str]:
        """Return the world of the task (or of a task drawn with ``self.np_random``) and its id."""
        raise NotImplementedError

    # ------------------------------------------------------------------ TextEnv hooks
    def instructions(self) -> str:
        """How to act, for prompts and the ``play`` command."""
        return (
            "You are in a household. Solve the task with text commands: go to <receptacle>, open <receptacle>, "
            "close <receptacle>, take <object> from <receptacle>, put <object> in/on <receptacle>, "
            "use <object> (switch a lamp), heat/cool/clean <object> with <receptacle> (microwave, fridge, "
            "sinkbasin), slice <object> with <knife>, examine <something>, look, inventory, "
            "think: <your thought>. Objects and receptacles are named with a number, e.g. 'mug 1'."
        )

    def _reset_task(self, task_id: str | None, options: Mapping[str, Any]) -> tuple[str, str]:
        world, tid = self._load(task_id)
        self._world = world
        self._hs = world.initial
        self._won = world.won(world.initial)
        self._plan = {}
        return E.intro(world, world.initial), tid

    def _options(self) -> dict[str, E.Act]:
        hs = self._hs
        if self._opts_for is not hs:
            assert self._world is not None and hs is not None
            self._opts = E.options(self._world, hs)
            self._adm = sorted(self._opts)
            self._opts_for = hs
        return self._opts

    def _act(self, action: ParsedAction) -> Transition:
        if action.name == "think":
            return Transition(observation="OK.")
        world = self._world
        assert world is not None and self._hs is not None
        act = self._options().get(action.argument)
        if act is None:
            return Transition(
                observation=E.NOTHING_HAPPENS,
                invalid=True,
                feedback=_not_admissible(action.argument, self._adm),
            )
        self._hs, text = E.apply(world, self._hs, act)
        if act[0] in E.goal_relevant_kinds(world):
            self._won = world.won(self._hs)
        if self._won:
            return Transition(
                observation=text,
                reward=1.0,
                terminated=True,
                success=True,
                score=1.0,
                feedback=f"The task is done: {world.task}",
            )
        return Transition(observation=text)

    def _on_truncate(self) -> Transition:
        task = self._world.task if self._world is not None else ""
        return Transition(
            observation="",
            feedback=f"The step limit of {self.max_steps} was reached before the task was done ({task}).",
        )

    def admissible_actions(self) -> list[str] | None:
        """The admissible commands in the official order (sorted, as ALFWorld lists them)."""
        if self._hs is None:
            return None
        self._options()
        return self._adm

    def _extra_info(self) -> dict[str, Any]:
        world = self._world
        return {
            "won": self._won,
            "task_type": world.spec.task_type if world is not None else "",
        }

    def _get_state(self) -> tuple[World | None, HouseState | None, bool]:
        return (self._world, self._hs, self._won)

    def _set_state(self, state: tuple[World | None, HouseState | None, bool]) -> None:
        world, self._hs, self._won = state
        if world is not self._world:
            self._world = world
            self._plan = {}

    def _state_key_data(self) -> Any:
        return self._hs.canonical() if self._hs is not None else None

    def expert_action(self) -> str:
        """The planner's next command (see :mod:`toolgym.envs.household.expert`); ``look`` when none helps."""
        world, hs = self._world, self._hs
        if world is None or hs is None:
            return "look"
        act = self._plan.get(hs)
        if act is None:
            found = plan(world, hs) or []
            self._plan = {}
            cur = hs
            for a in found:
                self._plan[cur] = a
                cur, _ = E.apply(world, cur, a)
            act = self._plan.get(hs)
        return command(world, act) if act is not None else "look"

    # ------------------------------------------------------------------ extras
    @property
    def world(self) -> World | None:
        """The current game's compiled world (privileged: for planners, analysis and tests)."""
        return self._world

    @property
    def house_state(self) -> HouseState | None:
        """The current dynamic state (privileged)."""
        return self._hs

    def render(self) -> str | None:
        """``"ansi"``: the last command and observation, and the task."""
        text = super().render()
        if text is not None and self._world is not None:
            text += f"(task: {self._world.task})\n"
        return text


class ALFWorldEnv(NativeHouseholdEnv):
    """ALFWorld's real games on toolgym's native engine (the official engine's observations, thousands of times faster).

    ## Description

    The household benchmark of ReAct, Reflexion and Re-ReST: text games generated from ALFRED scenes, where
    an agent must, for example, "put a clean mug in coffeemachine". The games are ALFWorld's own files; the
    engine is toolgym's re-implementation of what ALFWorld's official TextWorld/PDDL engine does, verified
    step by step against it (docs/household.md): replaying the official expert's 11,579 valid_unseen steps
    gives identical observations on every step and the same ``won`` flag on every game. About 60,000 steps
    per second against the official engine's 10-50.

    ## Action Space

    Text (:class:`~toolgym.spaces.Utf8Text`): ALFWorld's commands ``go to X``, ``open X``, ``close X``,
    ``take X from Y``, ``put X in/on Y``, ``use X`` (also ``toggle X``), ``heat X with Y``, ``cool X with Y``,
    ``clean X with Y``, ``slice X with Y``, ``examine X``, ``look``, ``inventory``, plus ``think: ...``
    (observation ``OK.``). Text is normalised first (case, spaces, an ``Action:`` prefix, a ReAct thought;
    see :mod:`toolgym.envs.household.commands`). A command that is not admissible - unknown object, wrong
    preposition, a closed receptacle, a typo - gets the official "Nothing happens." with
    ``info["invalid_action"] = True`` (and the ``invalid_action_penalty``).

    ## Observation Space

    Text: the official engine's feedback, e.g. ``You arrive at loc 12. On the shelf 2, you see a mug 1.``
    After reset: the welcome line, the room and ``Your task is to: ...``. ``info["admissible_actions"]``
    lists the admissible commands in the official order; ``info["won"]`` and ``info["task_type"]`` are set.

    ## Rewards

    1 on the step that completes the task, else 0. Household commands are not priced tools (there are no
    tool costs; ``cost_weight`` has no effect here) and the default ``invalid_action_penalty`` is 0.

    ## Episode End

    Terminated when the goal holds (``info["success"]`` is ALFWorld's ``won``); truncated after
    ``max_steps`` (default 50, as in ReAct) steps.

    ## Arguments

    * ``split`` - ``"valid_unseen"`` (default; 134 games, the standard out-of-distribution evaluation),
      ``"valid_seen"`` (140) or ``"train"`` (200).
    * ``task_types`` - restrict to some task types (names or ALFWorld's numbers 1-6); default all six.
    * plus the shared :class:`~toolgym.core.TextEnv` arguments.

    Task ids are ``<split>/<task folder>/<trial>`` (the game's folder; ALFWorld's ``json_2.1.1/...`` path is
    accepted too). Data: ``TOOLGYM_DATA_DIR/alfworld/<split archive>.tar.gz`` (see docs/household.md).

    ## Version History

    * v0: initial version.
    """

    def __init__(
        self,
        split: str = "valid_unseen",
        task_types: Sequence[str | int] | str | int | None = None,
        **kwargs: Any,
    ) -> None:
        """Create the env (see the class docstring for the arguments)."""
        super().__init__(**kwargs)
        self.split = split
        self.task_types = resolve_task_types(task_types)
        records = load_split(split)
        self._records: tuple[GameRecord, ...] = tuple(r for r in records if r.task_type in self.task_types)
        if not self._records:
            raise ConfigError(f"ALFWorld {split}: expected games of types {list(self.task_types)}, found none.")
        self._by_id = {r.task_id: r for r in self._records}
        self._by_id.update({r.path: r for r in self._records})

    @classmethod
    def data_status(cls, split: str = "valid_unseen", **kwargs: Any) -> DataStatus:
        """Whether the split's archive is in ``TOOLGYM_DATA_DIR/alfworld/``."""
        try:
            ok = game_files(split)
        except ConfigError as exc:
            return DataStatus(f"ALFWorld {split}", False, str(exc))
        return DataStatus(f"TOOLGYM_DATA_DIR/alfworld ({split})", ok, "" if ok else describe_missing(split))

    def __getstate__(self) -> dict[str, Any]:
        # The split's games are shared per process (read once from the archive): pickle the split's name only.
        state = dict(self.__dict__)
        state.pop("_records")
        state.pop("_by_id")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._records = tuple(r for r in load_split(self.split) if r.task_type in self.task_types)
        self._by_id = {r.task_id: r for r in self._records}
        self._by_id.update({r.path: r for r in self._records})

    def task_ids(self) -> list[str]:
        """The games of the split (filtered by task type), sorted."""
        return [r.task_id for r in self._records]

    def record(self, task_id: str) -> GameRecord:
        """The stored game of a task id."""
        rec = self._by_id.get(task_id.rstrip("/").removesuffix("/game.tw-pddl"))
        if rec is None:
            raise UnknownTaskError(task_id, type(self).__name__, self.task_ids())
        return rec

    def _load(self, task_id: str | None) -> tuple[World, str]:
        if task_id is None:
            rec = rand_elem(self.np_random, self._records)
        else:
            rec = self.record(task_id)
        return load_world(rec), rec.task_id


class HouseholdEnv(NativeHouseholdEnv):
    """Procedural households: unlimited ALFWorld-style games generated from the seed (no download).

    ## Description

    The embedded default of the household family. Each task is a household generated from its id: a room
    (kitchen, bathroom, bedroom, living room) with furniture and appliances at their own locations, objects
    in them (some behind doors), and a goal of one of ALFWorld's six task types - put an object somewhere,
    clean / heat / cool it first, put two of them, or look at one under a lamp. Games use ALFWorld's world
    model, commands and wording exactly (they are ALFWorld game files in all but origin, and the official
    engine plays them too), so agents and prompts move between this env and ``toolgym/ALFWorld-v0``
    unchanged. Every game is solvable and the expert planner solves it.

    ## Action Space

    As ``toolgym/ALFWorld-v0``: ALFWorld's text commands, ``think: ...``; anything not admissible is
    "Nothing happens." with ``info["invalid_action"] = True``.

    ## Observation Space

    Text, as ``toolgym/ALFWorld-v0``; ``info["admissible_actions"]``, ``info["won"]``, ``info["task_type"]``.

    ## Rewards

    1 on the step that completes the task, else 0 (no priced tools; default ``invalid_action_penalty`` 0).

    ## Episode End

    Terminated when the goal holds; truncated after ``max_steps`` (default 50) steps.

    ## Arguments

    * ``task_types`` - task types to draw from (names or 1-6; default all six).
    * ``difficulty`` - 1 (small rooms, few objects, few doors), 2 (default) or 3 (large rooms, many
      objects and decoys, most things behind doors); see :data:`~toolgym.envs.household.generator.DIFFICULTIES`.
    * ``rooms`` - rooms to draw from (default all four; a task type keeps the rooms where it can be posed).
    * ``num_tasks`` - draw from a finite pool of ``num_tasks`` households per task type (ids ``<type>-0`` to
      ``<type>-<num_tasks - 1>``), e.g. a training set for a learner; default unlimited.
    * ``receptacles``, ``objects``, ``decoys`` - (min, max) overrides of the difficulty's counts;
      ``closed``, ``shared_location`` - probability overrides (see
      :class:`~toolgym.envs.household.generator.GeneratorConfig`).
    * plus the shared :class:`~toolgym.core.TextEnv` arguments.

    Task ids are ``<task type>-<n>`` for any non-negative integer ``n`` (``pick_heat_then_place_in_recep-7``);
    the same id and settings give the same household.

    ## Version History

    * v0: initial version.
    """

    #: Task ids per task type listed by :meth:`task_ids`.
    tasks_per_type = 100
    #: Compiled households kept per env (regenerating one takes a few milliseconds).
    cache_size = 256

    def __init__(
        self,
        task_types: Sequence[str | int] | str | int | None = None,
        difficulty: int = 2,
        rooms: Sequence[str] | None = None,
        receptacles: tuple[int, int] | None = None,
        objects: tuple[int, int] | None = None,
        decoys: tuple[int, int] | None = None,
        closed: float | None = None,
        shared_location: float | None = None,
        num_tasks: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Create the env (see the class docstring for the arguments)."""
        super().__init__(**kwargs)
        if num_tasks is not None and (not isinstance(num_tasks, (int, np.integer)) or num_tasks < 1):
            raise ConfigError(f"num_tasks: expected None or a positive integer, got {num_tasks!r}.")
        self.num_tasks = None if num_tasks is None else int(num_tasks)
        if difficulty not in DIFFICULTIES:
            raise ConfigError(f"difficulty: expected one of {sorted(DIFFICULTIES)}, got {difficulty!r}.")
        self.task_types = resolve_task_types(task_types)
        self.difficulty = int(difficulty)
        base = DIFFICULTIES[self.difficulty]
        overrides: dict[str, Any] = {
            "rooms": tuple(rooms) if rooms is not None else None,
            "receptacles": tuple(receptacles) if receptacles is not None else None,
            "objects": tuple(objects) if objects is not None else None,
            "decoys": tuple(decoys) if decoys is not None else None,
            "closed": closed,
            "shared_location": shared_location,
        }
        self.config = GeneratorConfig(
            **{name: (value if value is not None else getattr(base, name)) for name, value in overrides.items()}
        ).validate()
        for tt in self.task_types:  # fail now, not at reset, when a task type cannot be posed in these rooms
            generate_world(tt, 0, self.config)
        self._cache: OrderedDict[str, World] = OrderedDict()

    def task_ids(self) -> list[str]:
        """A deterministic sample: ``tasks_per_type`` ids per task type (any ``<type>-<n>`` is valid)."""
        return [f"{tt}-{n}" for tt in self.task_types for n in range(self.tasks_per_type)]

    def iter_task_ids(self) -> Iterator[str]:
        """``<type>-0`` of each task type, then ``-1``, ... (up to ``num_tasks`` when set, else without end)."""
        count = range(self.num_tasks) if self.num_tasks else itertools.count()
        return (f"{tt}-{n}" for n in count for tt in self.task_types)

    def _parse_task_id(self, task_id: str) -> tuple[str, int]:
        head, _, tail = task_id.rpartition("-")
        if head not in self.task_types or not tail.isdigit():
            raise UnknownTaskError(task_id, type(self).__name__, self.task_ids()[:: self.tasks_per_type // 4])
        return head, int(tail)

    def _load(self, task_id: str | None) -> tuple[World, str]:
        if task_id is None:
            tt = rand_elem(self.np_random, self.task_types)
            n = int(self.np_random.integers(self.num_tasks or 2**31 - 1))
        else:
            tt, n = self._parse_task_id(task_id)
        tid = f"{tt}-{n}"
        world = self._cache.get(tid)
        if world is None:
            world = generate_world(tt, n, self.config)
            self._cache[tid] = world
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(tid)
        return world, tid
