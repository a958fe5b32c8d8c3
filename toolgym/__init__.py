"""toolgym: Gymnasium environments for tool-using language agents, and the algorithms that train them.

Importing toolgym registers every environment under the ``toolgym/`` namespace::

    import gymnasium as gym
    import toolgym

    env = gym.make("toolgym/ToolChoice-Arithmetic-v0")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("calc[4837 * 219]")

The kernel API lives here: :class:`~toolgym.core.TextEnv` (the base class), :class:`~toolgym.spaces.Utf8Text`,
the action grammars (:mod:`toolgym.parsing`), the tool-cost model (:mod:`toolgym.costs`), the records
(:mod:`toolgym.records`), data files (:mod:`toolgym.data`), errors (:mod:`toolgym.error`) and the sandbox that
runs model-written code for the code and VQA envs (:mod:`toolgym.sandbox`).
"""

import toolgym.envs  # noqa: F401  (registers the environments)
from toolgym.core import INFO_KEYS, DataStatus, EnvState, TextEnv, Transition
from toolgym.costs import CostModel, ToolCall, ToolCost
from toolgym.parsing import (
    AnyOf,
    BracketGrammar,
    CommandGrammar,
    FencedCodeGrammar,
    JsonToolGrammar,
    ParsedAction,
    ParseError,
)
from toolgym.records import EpisodeResult, Step, Trajectory
from toolgym.spaces import Utf8Text

__version__ = "0.1.0"

__all__ = [
    "INFO_KEYS",
    "AnyOf",
    "BracketGrammar",
    "CommandGrammar",
    "CostModel",
    "DataStatus",
    "EnvState",
    "EpisodeResult",
    "FencedCodeGrammar",
    "JsonToolGrammar",
    "ParseError",
    "ParsedAction",
    "Step",
    "TextEnv",
    "ToolCall",
    "ToolCost",
    "Trajectory",
    "Transition",
    "Utf8Text",
    "__version__",
]
