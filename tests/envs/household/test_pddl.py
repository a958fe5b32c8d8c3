"""Reading game files: S-expressions, goal formulas, problems, errors."""

from __future__ import annotations

import pytest

from toolgym.envs.household.generator import generate
from toolgym.envs.household.pddl import (
    formula_to_pddl,
    parse_formula,
    parse_problem,
    parse_sexp,
    read_game,
    task_from_grammar,
    write_problem,
)
from toolgym.envs.household.world import World
from toolgym.error import ConfigError


def test_sexp_lowercases_and_drops_comments():
    assert parse_sexp("(A (b ?X) ; comment (c)\n d)") == [["a", ["b", "?x"], "d"]]


@pytest.mark.parametrize("text", ["(a (b)", "a)", "(and (x) ))"])
def test_unbalanced_parentheses_raise_config_error(text):
    with pytest.raises(ConfigError, match="balanced"):
        parse_sexp(text)


def test_formula_round_trip():
    text = "(and (exists (?o - object ?r - receptacle) (and (inReceptacle ?o ?r) (not (= ?o ?r)))) (or (a) (b)))"
    f = parse_formula(parse_sexp(text)[0])
    assert parse_formula(parse_sexp(formula_to_pddl(f))[0]) == f
    assert f[1][1] == (("?o", "object"), ("?r", "receptacle"))


def test_problem_parts(kitchen_file):
    name, objects, init, goal = parse_problem(kitchen_file()["pddl_problem"])
    assert name == "tiny_kitchen"
    assert ("agent1", "agent") in objects and len([o for o in objects if o[1] == "receptacle"]) == 7
    assert ("atlocation", "agent1", "loc_bar_0_bar_0_bar_0_bar_0") in init
    assert goal[0] == "and"


def test_read_game_takes_the_task_from_the_grammar(kitchen_file):
    spec = read_game(kitchen_file())
    assert spec.task == "put a hot mug in cabinet." and spec.solvable


@pytest.mark.parametrize(
    "data, match",
    [
        ("not json", "invalid JSON"),
        ({"grammar": ""}, "pddl_problem"),
        ({"pddl_problem": "(define (problem x))", "grammar": '"task": [{"rhs": "Your task is to: x."}]'}, ":goal"),
        ({"pddl_problem": "(foo)", "grammar": ""}, "define"),
    ],
)
def test_bad_game_files_raise_config_error(data, match):
    with pytest.raises(ConfigError, match=match):
        read_game(data)


def test_missing_task_rule_raises():
    with pytest.raises(ConfigError, match="task"):
        task_from_grammar("{}")


def test_write_problem_round_trips_a_generated_game():
    spec = generate("pick_two_obj_and_place", 3)
    name, objects, init, goal = parse_problem(write_problem(spec))
    assert (name, objects, init, goal) == (spec.name, spec.objects, spec.init, spec.goal)
    w1, w2 = World.compile(spec), World.compile(spec)
    assert w1.obj_names == w2.obj_names and w1.initial == w2.initial
