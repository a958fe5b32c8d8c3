"""toolgym's environments, registered under the ``toolgym/`` namespace.

This module holds every ``register`` call and nothing else. Entry points are strings, so an env's module
(and its heavy dependencies) loads only when ``gymnasium.make`` builds it. ``import toolgym`` runs these
registrations. Step limits are enforced by :class:`toolgym.core.TextEnv` itself (``max_steps``), so no
``max_episode_steps`` is given here.
"""

from gymnasium.envs.registration import register

register(
    id="toolgym/ToolChoice-Arithmetic-v0",
    entry_point="toolgym.envs.arithmetic:ArithmeticEnv",
)

register(
    id="toolgym/Household-v0",
    entry_point="toolgym.envs.household.env:HouseholdEnv",
)

register(
    id="toolgym/ALFWorld-v0",
    entry_point="toolgym.envs.household.env:ALFWorldEnv",
)

register(
    id="toolgym/ALFWorld-Official-v0",
    entry_point="toolgym.envs.household.official:ALFWorldOfficialEnv",
)
