"""Build policies by name: :func:`make_policy`, :func:`list_policies`, :func:`register_policy`.

Names map to classes given as ``"module:Class"`` strings, imported on first use (so that, for instance,
torch loads only when a language-model policy is built). Options are checked against the class's
constructor: an unknown name or option raises :class:`~toolgym.error.ConfigError` with the close matches and
the valid choices.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolgym.agents.base import Policy
from toolgym.error import ConfigError, did_you_mean

__all__ = ["PolicyEntry", "list_policies", "make_policy", "policy_options", "register_policy"]


@dataclass(frozen=True)
class PolicyEntry:
    """A registered policy.

    Attributes:
        name: The name given to :func:`make_policy`.
        target: ``"module:Class"`` (or a callable) building the policy.
        summary: One line for listings.
        defaults: Keyword arguments applied before the user's (e.g. the method of a prompting policy).
    """

    name: str
    target: Any
    summary: str
    defaults: Mapping[str, Any]


_REGISTRY: dict[str, PolicyEntry] = {}


def register_policy(name: str, target: Any, summary: str = "", **defaults: Any) -> None:
    """Register a policy under ``name`` (replacing any previous one).

    Args:
        name: The name for :func:`make_policy` (lower-case; ``-`` and ``_`` are interchangeable there).
        target: A class or factory, or ``"module:Name"`` to import it lazily.
        summary: One line for :func:`list_policies`.
        **defaults: Keyword arguments passed before the user's.
    """
    _REGISTRY[_key(name)] = PolicyEntry(name, target, summary, dict(defaults))


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _resolve(target: Any) -> Any:
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)
    return target


def list_policies() -> dict[str, str]:
    """The registered policy names and their one-line summaries.

    Example:
        >>> {"expert", "random", "react", "reflexion", "cot-sc"} <= set(list_policies())
        True
    """
    return {e.name: e.summary for e in sorted(_REGISTRY.values(), key=lambda e: e.name)}


def _entry(name: str) -> PolicyEntry:
    if not isinstance(name, str) or _key(name) not in _REGISTRY:
        names = sorted(e.name for e in _REGISTRY.values())
        hint = did_you_mean(_key(name), names) if isinstance(name, str) else ""
        raise ConfigError(
            f"make_policy: expected a policy name among {names}, got {name!r}.{hint} "
            "Register your own with toolgym.agents.register_policy."
        )
    return _REGISTRY[_key(name)]


def policy_options(name: str) -> dict[str, Any]:
    """The options ``make_policy(name, ...)`` accepts, with their defaults (``inspect.Parameter.empty`` if none).

    Example:
        >>> policy_options("random")
        {'seed': 0}
    """
    entry = _entry(name)
    params = _parameters(_resolve(entry.target))
    return {k: v.default for k, v in params.items() if k not in entry.defaults}


def _parameters(target: Any) -> dict[str, inspect.Parameter]:
    """Keyword options of a policy class or factory; a class may widen them with ``accepted_options()``."""
    fn = target.__init__ if inspect.isclass(target) else target
    params = dict(inspect.signature(fn).parameters)
    params.pop("self", None)
    extra = getattr(target, "accepted_options", None)
    if callable(extra):
        for name, p in extra().items():
            params.setdefault(name, p)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {k: v for k, v in params.items() if v.kind in kinds}


def make_policy(name: str, **config: Any) -> Policy:
    """Build a registered policy.

    Args:
        name: A name from :func:`list_policies`: ``"expert"``, ``"random"``, ``"scripted"``, and the prompting
            methods ``"io"``, ``"cot"``, ``"cot-sc"``, ``"act"``, ``"react"``, ``"react-cot-sc"``,
            ``"reflexion"``, ``"repair"``, ``"fireact"``.
        **config: The policy's options (see :func:`policy_options`). Language-model policies take
            ``llm=``: an :class:`~toolgym.agents.base.LLM`, a spec string such as ``"hf:Qwen/Qwen2.5-0.5B"``,
            ``"openai:gpt-4o-mini"`` or ``"tiny"``, or a dict such as ``{"backend": "openai", "model": ...,
            "base_url": ...}`` (see :func:`toolgym.agents.make_llm`).

    Returns:
        The policy.

    Raises:
        ConfigError: Unknown name or option, or a bad option value.

    Example:
        >>> make_policy("random", seed=3).name
        'random'
        >>> make_policy("random", sead=3)
        Traceback (most recent call last):
        ...
        toolgym.error.ConfigError: make_policy('random'): expected options among ['seed'], got ['sead']. Did you...
    """
    entry = _entry(name)
    target = _resolve(entry.target)
    params = _parameters(target)
    sig = inspect.signature(target.__init__ if inspect.isclass(target) else target)
    accepts_any = not callable(getattr(target, "accepted_options", None)) and any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()
    )

    valid = sorted(k for k in params if k not in entry.defaults)
    unknown = sorted(k for k in config if k not in params or k in entry.defaults)
    if unknown and not accepts_any:
        raise ConfigError(
            f"make_policy({entry.name!r}): expected options among {valid}, got {unknown}."
            + did_you_mean(unknown[0], valid)
        )
    required = [k for k, p in params.items() if p.default is inspect.Parameter.empty and k not in entry.defaults]
    missing = [k for k in required if k not in config]
    if missing:
        raise ConfigError(f"make_policy({entry.name!r}): expected the option(s) {missing}, got none.")
    return target(**{**entry.defaults, **config})


register_policy("expert", "toolgym.agents.policies:ExpertPolicy", "the environment's expert (oracle) policy")
register_policy("random", "toolgym.agents.policies:RandomPolicy", "uniform over admissible actions or tool calls")
register_policy("scripted", "toolgym.agents.policies:ScriptedPolicy", "replays fixed actions")
register_policy(
    "heuristic",
    "toolgym.agents.heuristic:HeuristicPolicy",
    "rule-based baseline: one tool call on the question's key phrase, then an answer from its output",
)
register_policy(
    "vqa-tools", "toolgym.agents.vqa:ToolUsingPolicy", "VQA: parses the question, answers through the visual tools"
)
register_policy("vqa-program", "toolgym.agents.vqa:ProgramPolicy", "VQA program mode: submits one written program")
register_policy("expert-teacher", "toolgym.agents.teachers:ExpertTeacher", "the env's expert with templated thoughts")
register_policy("calc-teacher", "toolgym.agents.teachers:CalculatorTeacher", "arithmetic: calc, then finish[result]")
register_policy("guess-teacher", "toolgym.agents.teachers:GuessTeacher", "arithmetic: finish[first number], no tool")
register_policy(
    "io", "toolgym.agents.prompting.answer:AnswerPolicy", "IO prompting: question in, answer out", cot=False
)
register_policy("cot", "toolgym.agents.prompting.answer:AnswerPolicy", "chain of thought, then the answer", cot=True)
register_policy(
    "cot-sc", "toolgym.agents.prompting.answer:SelfConsistencyPolicy", "CoT self-consistency: k samples, majority"
)
register_policy(
    "act", "toolgym.agents.prompting.react:ReActPolicy", "Act-only: actions without thoughts", thoughts=False
)
register_policy("react", "toolgym.agents.prompting.react:ReActPolicy", "ReAct: Thought / Action / Observation")
register_policy(
    "react-cot-sc",
    "toolgym.agents.prompting.fallback:FallbackPolicy",
    "ReAct, backing off to CoT-SC when it has not answered in time",
    order="react-cot-sc",
)
register_policy(
    "cot-sc-react",
    "toolgym.agents.prompting.fallback:FallbackPolicy",
    "CoT-SC, handing over to ReAct when its majority is weak",
    order="cot-sc-react",
)
register_policy("reflexion", "toolgym.agents.reflexion:ReflexionPolicy", "Reflexion: retry with self-reflections")
register_policy(
    "repair",
    "toolgym.agents.repair_policy:RepairPolicy",
    "Re-ReST at inference: the agent, then the closed-loop reflector re-solves each failed trial (vote=True: SC)",
)
register_policy(
    "closed-loop-reflector",
    "toolgym.agents.closed_loop:ClosedLoopReflector",
    "Re-ReST's reflector: re-solves a failed attempt in the env (assign() the attempts first)",
)
register_policy(
    "fireact",
    "toolgym.agents.prompting.react:ReActPolicy",
    "FireAct's zero-shot fine-tuned format (Alpaca, no examples)",
    style="alpaca",
    examples="none",
    numbered=False,
)
register_policy(
    "lats",
    "toolgym.algorithms.lats:LATSPolicy",
    "LATS: tree search over env snapshots with an LM value and reflections (oracle=True reads the task reward)",
)
