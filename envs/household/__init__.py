"""Household decision-making: ALFWorld's games on a native engine, procedural households, the official engine.

Environments (registered in :mod:`toolgym.envs`):

* ``toolgym/Household-v0`` - :class:`~toolgym.envs.household.env.HouseholdEnv`, procedural households (no data);
* ``toolgym/ALFWorld-v0`` - :class:`~toolgym.envs.household.env.ALFWorldEnv`, ALFWorld's games, native engine;
* ``toolgym/ALFWorld-Official-v0`` - :class:`~toolgym.envs.household.official.ALFWorldOfficialEnv`, ALFWorld's
  own engine in a worker process.

Modules: :mod:`~toolgym.envs.household.pddl` (game files), :mod:`~toolgym.envs.household.world` (the compiled
world and its immutable state), :mod:`~toolgym.envs.household.engine` (commands, effects, wording),
:mod:`~toolgym.envs.household.goal` (goal checking), :mod:`~toolgym.envs.household.generator` (procedural
households), :mod:`~toolgym.envs.household.expert` (the planner), :mod:`~toolgym.envs.household.games` (the
data), :mod:`~toolgym.envs.household.commands` (the action grammar) and :mod:`~toolgym.envs.household.official`.
See docs/household.md.
"""

from toolgym.envs.household.env import ALFWorldEnv, HouseholdEnv, NativeHouseholdEnv
from toolgym.envs.household.expert import plan
from toolgym.envs.household.generator import DIFFICULTIES, GeneratorConfig, generate, generate_world
from toolgym.envs.household.pddl import GameSpec, read_game, write_problem
from toolgym.envs.household.world import HouseState, World

__all__ = [
    "DIFFICULTIES",
    "ALFWorldEnv",
    "GameSpec",
    "GeneratorConfig",
    "HouseState",
    "HouseholdEnv",
    "NativeHouseholdEnv",
    "World",
    "generate",
    "generate_world",
    "plan",
    "read_game",
    "write_problem",
]
