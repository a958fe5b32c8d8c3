"""Backward-compatible names: the prompting methods now live in their own modules.

:mod:`~toolgym.agents.prompting.policy` (:class:`LLMPolicy`, the headers), :mod:`~toolgym.agents.prompting.react`,
:mod:`~toolgym.agents.prompting.answer` (IO, CoT, CoT-SC) and :mod:`~toolgym.agents.prompting.fallback`. The
policy registry (:mod:`toolgym.agents.factory`) names its classes by this module's path.
"""

from toolgym.agents.prompting.answer import AnswerPolicy, SelfConsistencyPolicy
from toolgym.agents.prompting.fallback import FallbackPolicy
from toolgym.agents.prompting.policy import ALPACA_HEADER, REFLECTION_HEADER, LLMPolicy
from toolgym.agents.prompting.react import ReActPolicy

__all__ = [
    "ALPACA_HEADER",
    "REFLECTION_HEADER",
    "AnswerPolicy",
    "FallbackPolicy",
    "LLMPolicy",
    "ReActPolicy",
    "SelfConsistencyPolicy",
]
