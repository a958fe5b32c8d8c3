"""Answer scoring: exact match after normalisation.

:func:`normalize_answer` lower-cases the text, drops punctuation, a leading "the answer is", articles and
trailing words such as "shape"/"object" after a vocabulary word, writes numbers as digits ("three" -> "3",
"3.0" -> "3"), and maps synonyms to the vocabulary word:

============================  ==============
written                       scored as
============================  ==============
grey                          gray
circles, rectangles, ...      circle, rectangle, ...
big                           large
tiny, little                  small
yeah, yep, true               yes
nope, false                   no
zero ... twenty               0 ... 20
============================  ==============

Example:
    >>> normalize_answer("The answer is: Grey.")
    'gray'
    >>> score_answer("Three", "3"), score_answer("red circle", "red")
    (1.0, 0.0)
"""

from __future__ import annotations

import re

from toolgym.envs.vqa.vocab import SYNONYMS

__all__ = ["NUMBER_WORDS", "normalize_answer", "score_answer"]

#: Number words read as digits.
NUMBER_WORDS: dict[str, str] = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_YES_NO = {"yeah": "yes", "yep": "yes", "true": "yes", "nope": "no", "false": "no"}
_ARTICLES = frozenset({"a", "an", "the"})
_TRAILING_NOUNS = frozenset({"shape", "object", "color", "colour", "one", "size"})


def normalize_answer(text: str) -> str:
    """Normalise an answer for exact-match scoring (see the module docstring)."""
    t = str(text).strip().lower()
    t = re.sub(r"^(?:the\s+)?(?:final\s+)?answer\s*(?:is)?\s*[:=]?\s*", "", t)
    t = re.sub(r"(?<=\d)\.0+\b", "", t)
    t = re.sub(r"[^\w\s-]", " ", t)
    words = [w for w in t.replace("-", " ").split() if w not in _ARTICLES]
    while len(words) > 1 and words[-1] in _TRAILING_NOUNS:
        words.pop()
    return " ".join(NUMBER_WORDS.get(w, _YES_NO.get(w, SYNONYMS.get(w, w))) for w in words)


def score_answer(predicted: str, gold: str) -> float:
    """1.0 when the normalised answers are equal, else 0.0."""
    return 1.0 if normalize_answer(predicted) == normalize_answer(gold) else 0.0
