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
    id="toolgym/Decompose-Arithmetic-v0",
    entry_point="toolgym.envs.decompose:DecomposeArithmeticEnv",
)

register(
    id="toolgym/HotpotQA-v0",
    entry_point="toolgym.envs.search.env:HotpotQAEnv",
)
register(
    id="toolgym/HotpotQA-Fullwiki-v0",
    entry_point="toolgym.envs.search.env:HotpotQAFullwikiEnv",
)
register(
    id="toolgym/MultiHop-v0",
    entry_point="toolgym.envs.search.env:MultiHopEnv",
)

register(
    id="toolgym/ShapesVQA-v0",
    entry_point="toolgym.envs.vqa.env:ShapesVQAEnv",
)

register(
    id="toolgym/ShapesVQA-Hard-v0",
    entry_point="toolgym.envs.vqa.env:ShapesVQAEnv",
    kwargs={"difficulty": "hard"},
)

register(
    id="toolgym/EasyVQA-v0",
    entry_point="toolgym.envs.vqa.env:EasyVQAEnv",
)

register(
    id="toolgym/ShapesVQA-Program-v0",
    entry_point="toolgym.envs.vqa.env:ShapesVQAEnv",
    kwargs={"mode": "program"},
)

register(
    id="toolgym/EasyVQA-Program-v0",
    entry_point="toolgym.envs.vqa.env:EasyVQAEnv",
    kwargs={"mode": "program"},
)

register(
    id="toolgym/HumanEval-v0",
    entry_point="toolgym.envs.code.env:HumanEvalEnv",
)
register(
    id="toolgym/MBPP-v0",
    entry_point="toolgym.envs.code.env:MBPPEnv",
)
register(
    id="toolgym/MBPP-Sanitized-v0",
    entry_point="toolgym.envs.code.env:MBPPEnv",
    kwargs={"variant": "sanitized"},
)
register(
    id="toolgym/PythonTasks-v0",
    entry_point="toolgym.envs.code.env:PythonTasksEnv",
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
