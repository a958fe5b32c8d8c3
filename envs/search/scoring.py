"""HotpotQA answer scoring: the official normalisation, exact match and token F1.

These are the formulas of HotpotQA's ``hotpot_evaluate_v1.py`` (SQuAD-style), which ReAct, Reflexion, FireAct,
Re-ReST and LATS all use: lower-case, strip ASCII punctuation, replace the articles ``a``/``an``/``the`` with
a space, collapse whitespace. Exact match compares the normalised strings; F1 is the harmonic mean of token
precision and recall over a multiset intersection, and is 0 when either side normalises to ``yes``, ``no`` or
``noanswer`` and the two differ.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import NamedTuple

__all__ = ["Scores", "exact_match", "f1_score", "normalize_answer", "score_answer"]

_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPECIAL = ("yes", "no", "noanswer")


def normalize_answer(text: str) -> str:
    """Normalise an answer as HotpotQA's official evaluation does.

    Example:
        >>> normalize_answer("The  Saimaa Gesture!")
        'saimaa gesture'
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> bool:
    """Whether the normalised prediction equals the normalised gold answer.

    Example:
        >>> exact_match("the Richard Nixon.", "Richard Nixon")
        True
    """
    return normalize_answer(prediction) == normalize_answer(gold)


class Scores(NamedTuple):
    """Token-level scores of one answer."""

    f1: float
    precision: float
    recall: float


def f1_score(prediction: str, gold: str) -> Scores:
    """Token F1, precision and recall with HotpotQA's yes/no/noanswer rule.

    Example:
        >>> round(f1_score("director, screenwriter", "director, screenwriter, actor").f1, 3)
        0.8
        >>> f1_score("no", "yes").f1
        0.0
    """
    pred, ref = normalize_answer(prediction), normalize_answer(gold)
    zero = Scores(0.0, 0.0, 0.0)
    if pred in _SPECIAL and pred != ref:
        return zero
    if ref in _SPECIAL and pred != ref:
        return zero
    pred_tokens, ref_tokens = pred.split(), ref.split()
    common = Counter(pred_tokens) & Counter(ref_tokens)
    same = sum(common.values())
    if same == 0:
        return zero
    precision = same / len(pred_tokens)
    recall = same / len(ref_tokens)
    return Scores(2 * precision * recall / (precision + recall), precision, recall)


def score_answer(prediction: str, gold: str) -> tuple[bool, float]:
    """``(exact match, F1)`` of an answer.

    Example:
        >>> score_answer("Arthur's Magazine", "Arthur's Magazine")
        (True, 1.0)
    """
    return exact_match(prediction, gold), f1_score(prediction, gold).f1
