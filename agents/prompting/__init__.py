"""Prompting methods and few-shot examples.

IO, CoT, CoT-SC, Act, ReAct, the ReAct/CoT-SC fallbacks and FireAct's format; Reflexion is in
:mod:`toolgym.agents.reflexion`.
"""

from toolgym.agents.prompting.family import EnvAdapter, normalize_answer, strip_code_fence
from toolgym.agents.prompting.fewshot import Example, select_examples
from toolgym.agents.prompting.methods import (
    AnswerPolicy,
    FallbackPolicy,
    LLMPolicy,
    ReActPolicy,
    SelfConsistencyPolicy,
)

__all__ = [
    "AnswerPolicy",
    "EnvAdapter",
    "Example",
    "FallbackPolicy",
    "LLMPolicy",
    "ReActPolicy",
    "SelfConsistencyPolicy",
    "normalize_answer",
    "select_examples",
    "strip_code_fence",
]
