"""Sentence splitting, title normalisation, HotpotQA EM/F1, and the ReAct shuffle."""

from __future__ import annotations

import random  # noqa: TID251  (the reference for python_shuffle, which must match it exactly)

import pytest

from toolgym.envs.search.scoring import exact_match, f1_score, normalize_answer, score_answer
from toolgym.envs.search.tasks import python_shuffle, react500_indices
from toolgym.envs.search.text import (
    clean_argument,
    lookup_sentences,
    normalize_title,
    page_observation,
    react_sentences,
)


def _react_reference(page: str) -> list[str]:
    """ReAct's WikiEnv splitting, written out step by step (paragraphs at newlines, sentences at '. ')."""
    paragraphs = [p.strip() for p in page.split("\n") if p.strip()]
    sentences = []
    for p in paragraphs:
        sentences += p.split(". ")
    return [s.strip() + "." for s in sentences if s.strip()]


@pytest.mark.parametrize(
    "page",
    [
        "Ed Wood is a 1994 film. It stars Johnny Depp.\nIt won two Oscars.",
        "Milhouse Van Houten is a character. He was named after U.S. president Richard Nixon. ",
        "  \n\nOne. Two.  Three!\n\n",
        "No final period",
        'He said "Doctor Strange." It grossed a lot.',
    ],
)
def test_quirks_mode_is_react_byte_for_byte(page):
    assert react_sentences(page, quirks=True) == _react_reference(page)


def test_default_mode_avoids_doubled_periods_only():
    page = 'Ed Wood is a film. It stars Depp.\nWhy? Because "Doctor Strange." Yes\nIt opened in "Paris."'
    assert react_sentences(page) == [
        "Ed Wood is a film.",
        "It stars Depp.",
        'Why? Because "Doctor Strange." Yes.',  # ReAct splits at ". " only
        'It opened in "Paris."',  # ends with a period inside the quotes: none added
    ]
    assert react_sentences(page, quirks=True)[1] == "It stars Depp.."
    # the same pieces as ReAct, only the final punctuation differs
    assert [s.rstrip(".") for s in react_sentences(page)] == [s.rstrip(".") for s in _react_reference(page)]


def test_page_observation_and_lookup():
    sents = react_sentences("A is born. B. C was born. D. E. F born late.")
    assert page_observation(sents) == "A is born. B. C was born. D. E."
    assert lookup_sentences(sents, "BORN") == ["A is born.", "C was born.", "F born late."]
    assert lookup_sentences(sents, "zzz") == []


def test_title_normalisation_and_argument_cleaning():
    assert normalize_title("Scott_Derrickson") == normalize_title("  scott   DERRICKSON ")
    assert normalize_title("Ｅｄ Ｗｏｏｄ") == "ed wood"  # full-width letters (NFKC)
    assert clean_argument("Ed\u200b Wood\x07\n\t") == "Ed Wood"
    assert clean_argument("\x00\x01") == ""


# Expected values worked out by hand from hotpot_evaluate_v1.py's normalize_answer / f1_score.
EM_F1_TABLE = [
    ("The Beatles", "Beatles", True, 1.0),  # article dropped
    ("a", "an", True, 0.0),  # both normalise to "": equal, but no tokens in common
    ("The the THE", "the", True, 0.0),
    ("yes", "Yes.", True, 1.0),
    ("No.", "no", True, 1.0),
    ("no", "yes", False, 0.0),  # yes/no rule
    ("yes it is", "yes", False, 0.0),  # the gold is "yes" and the prediction differs
    ("noanswer", "no answer", False, 0.0),  # "noanswer" is special, "no answer" is not
    ("U.S.", "US", True, 1.0),  # punctuation removed inside words
    ("Arthur's Magazine", "arthurs magazine", True, 1.0),
    ("  Ed   Wood ", "ed wood", True, 1.0),
    ("Café", "cafe", False, 0.0),  # accents are kept
    ("ÉCOLE", "école", True, 1.0),  # unicode lower-casing
    ("1994–95", "1994-95", False, 0.0),  # an en dash is not ASCII punctuation: "1994–95" vs "199495"
    ("theatre", "the atre", False, 0.0),  # "the" is removed only as a whole word
    ("1,800 to 7,000 ft", "1,800 to 7,000 feet", False, 0.75),
    ("Richard Nixon", "Richard Milhous Nixon", False, 0.8),
    ("New York New York", "New York", False, 2 / 3),  # multiset intersection
    ("", "Paris", False, 0.0),
]


@pytest.mark.parametrize("pred, gold, em, f1", EM_F1_TABLE)
def test_em_f1_agree_with_the_official_formulas(pred, gold, em, f1):
    assert exact_match(pred, gold) is em
    assert f1_score(pred, gold).f1 == pytest.approx(f1)
    assert score_answer(pred, gold) == (em, pytest.approx(f1))


def test_precision_recall_and_normalisation():
    s = f1_score("Richard Nixon", "Richard Milhous Nixon")
    assert (s.precision, s.recall) == (1.0, pytest.approx(2 / 3))
    assert normalize_answer("An Apple, a day!") == "apple day"


def test_python_shuffle_matches_random_exactly():
    for n, seed in [(7405, 233), (10, 0), (1000, 2**40 + 7), (1, 5), (0, 3)]:
        ref = list(range(n))
        random.Random(seed).shuffle(ref)
        assert python_shuffle(n, seed) == ref


def test_react500_indices():
    idx = react500_indices()
    assert len(idx) == 500 == len(set(idx))
    assert list(idx[:5]) == [3687, 6238, 5388, 3522, 3824]  # as recorded from ReAct's notebook
