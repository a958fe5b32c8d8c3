"""The rule-based `heuristic` baseline."""

from __future__ import annotations

import subprocess
import sys

from toolgym.agents import list_policies, make_policy, rollout
from toolgym.agents.heuristic import HeuristicPolicy, _answer_from, _first_example, _key_phrase, _question

ARITH = "toolgym/ToolChoice-Arithmetic-v0"


def test_registered_and_buildable():
    assert "heuristic" in list_policies()
    assert isinstance(make_policy("heuristic"), HeuristicPolicy)


def test_registered_whatever_was_imported_first():
    """The registry names the class; no other package has to be imported first (it was a benchmarks side effect)."""
    code = (
        "import sys; from toolgym.agents import make_policy; p = make_policy('heuristic'); "
        "assert 'toolgym.benchmarks' not in sys.modules; print(type(p).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "HeuristicPolicy"


def test_arithmetic_one_calculator_call_then_the_answer():
    episodes = rollout(make_policy("heuristic"), ARITH, episodes=10)
    assert all(e.result.success for e in episodes)
    for e in episodes:
        actions = [s.action for s in e.trajectory.steps]
        assert actions[0].startswith("calc[") and actions[1].startswith("finish[")
    again = rollout(make_policy("heuristic"), ARITH, episodes=10)
    assert [e.trajectory.to_dict() for e in again] == [e.trajectory.to_dict() for e in episodes]  # deterministic


def test_question_and_key_phrase():
    assert _question("Question: Who directed Alien?\nThe image is 128x128.") == "Who directed Alien?"
    assert _key_phrase("Were The Krelldour Ribbon and Tower of Kreskest made by one studio?") == "The Krelldour Ribbon"
    assert _key_phrase("How many large red triangles are in the image?") == "large red triangles"


def test_answers_follow_the_question_form():
    assert _answer_from("", "Is the red circle left or right of the square?") == "left"
    assert _answer_from("", "Are there more circles than squares?") == "yes"
    assert (
        _answer_from("Founded in 1939 by Braeys, it moved in 1946.", "In what year was Gyfox Studios founded?")
        == "1939"
    )
    assert _answer_from("Found 3 objects.", "How many blue squares are there?") == "3"
    out = "Thaejo Collective is a band formed in Tuskouv in 1944."
    assert _answer_from(out, "Where was the band Thaejo Collective formed?") == "Tuskouv"


def test_code_prompt_returns_the_first_example():
    prompt = 'def add(a, b):\n    """Add.\n    >>> add(2, 3)\n    5\n    """\n'
    assert _first_example(prompt, "add") == "5"
    assert _first_example("assert twice(4) == 8\nassert twice(1) == 2", "twice") == "8"


def test_admissible_actions_prefer_the_goal_and_new_actions():
    p = HeuristicPolicy()
    first = "You are in a room. Your task is to: put a clean apple in fridge."
    p.reset(first, {"task_id": "t"})
    acts = ["look", "inventory", "go to fridge 1", "go to shelf 1", "take apple 1 from table 1"]
    a1 = p.act(first, {"admissible_actions": acts, "step": 0})
    assert a1 in ("go to fridge 1", "take apple 1 from table 1")
    a2 = p.act("...", {"admissible_actions": acts, "step": 1})
    assert a2 != a1 and a2 in ("go to fridge 1", "take apple 1 from table 1")  # no repeats while new ones remain
    holding = ["go to table 1", "put apple 1 in/on table 1", "put apple 1 in/on fridge 1", "look"]
    assert p.act("...", {"admissible_actions": holding, "step": 2}) == "put apple 1 in/on fridge 1"
