"""toolgym.agents: policies, language-model backends, prompting methods, reflectors and the rollout engine.

Build a policy by name and roll it out over environments::

    from toolgym.agents import make_policy, rollout

    policy = make_policy("expert")
    episodes = rollout(policy, "toolgym/ToolChoice-Arithmetic-v0", episodes=8, num_envs=4)
    print(sum(e.result.success for e in episodes))

The protocols (:class:`Policy`, :class:`LLM`, :class:`Reflector`) are in :mod:`toolgym.agents.base`; the
policies without a model in :mod:`toolgym.agents.policies`, :mod:`toolgym.agents.heuristic` (the rule-based
baseline) and :mod:`toolgym.agents.vqa` (the VQA envs' scripted policies); the engine in
:mod:`toolgym.agents.engine`. Every policy is built by name with :func:`make_policy`.
Nothing heavy (torch, transformers, HTTP clients) is imported until a backend that needs it is built.
"""

from toolgym.agents.base import (
    LLM,
    AgentAction,
    BasePolicy,
    Completion,
    LLMError,
    LLMStats,
    Policy,
    Reflection,
    Reflector,
    SamplingParams,
    SlotState,
    observation_images,
    observation_text,
)
from toolgym.agents.engine import Episode, EpisodeSpec, rollout, run_episode
from toolgym.agents.factory import list_policies, make_policy, policy_options, register_policy
from toolgym.agents.llm import make_llm
from toolgym.agents.policies import ExpertPolicy, RandomPolicy, ScriptedPolicy

__all__ = [
    "LLM",
    "AgentAction",
    "BasePolicy",
    "Completion",
    "Episode",
    "EpisodeSpec",
    "ExpertPolicy",
    "LLMError",
    "LLMStats",
    "Policy",
    "RandomPolicy",
    "Reflection",
    "Reflector",
    "SamplingParams",
    "SlotState",
    "ScriptedPolicy",
    "list_policies",
    "make_llm",
    "make_policy",
    "observation_images",
    "observation_text",
    "policy_options",
    "register_policy",
    "rollout",
    "run_episode",
]
