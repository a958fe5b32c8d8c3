"""Prompting methods and few-shot examples.

=====================  ==========================================================================================
policy                 method
=====================  ==========================================================================================
:class:`ReActPolicy`   ReAct (``Thought i / Action i / Observation i``), Act-only (``thoughts=False``), and
                       FireAct's zero-shot fine-tuned format (``style="alpaca"`` or ``"chat"``, no examples)
:class:`AnswerPolicy`  IO (``cot=False``: question in, answer out) and CoT (``cot=True``: reasoning, then answer)
:class:`SelfConsistencyPolicy`  CoT-SC: ``k`` samples at temperature 0.7 per decision, majority vote
:class:`FallbackPolicy`  ReAct→CoT-SC (ReAct gets ``react_steps``; if it has not answered, CoT-SC answers) and
                       CoT-SC→ReAct (ReAct takes over when the majority has fewer than ``k/2`` votes)
=====================  ==========================================================================================


Modules: :mod:`~toolgym.agents.prompting.policy` (:class:`LLMPolicy`, what the methods share),
:mod:`~toolgym.agents.prompting.react`, :mod:`~toolgym.agents.prompting.answer` (IO, CoT, CoT-SC),
:mod:`~toolgym.agents.prompting.fallback`, :mod:`~toolgym.agents.prompting.family` (what each env family
needs) and :mod:`~toolgym.agents.prompting.fewshot` (examples). Reflexion is in :mod:`toolgym.agents.reflexion`.

Every method reads what it needs from the env (:class:`~toolgym.agents.prompting.family.EnvAdapter`): the
instructions, the grammar, the answer action, the family's prompt format (ALFWorld's ``> command``
transcript for household envs) and few-shot examples
(:func:`~toolgym.agents.prompting.fewshot.select_examples`). A batch of episodes costs one ``generate``
call per decision round (plus, for ReAct, one more for the episodes whose output had no ``Action``).
"""

from toolgym.agents.prompting.answer import AnswerPolicy, SelfConsistencyPolicy
from toolgym.agents.prompting.fallback import FallbackPolicy
from toolgym.agents.prompting.family import EnvAdapter, normalize_answer, strip_code_fence
from toolgym.agents.prompting.fewshot import Example, select_examples
from toolgym.agents.prompting.policy import LLMPolicy
from toolgym.agents.prompting.react import ReActPolicy

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
