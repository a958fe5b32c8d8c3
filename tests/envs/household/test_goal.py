"""Goals: the general query evaluator, the recognised shapes, and their agreement on random states."""

from __future__ import annotations

import numpy as np
import pytest

from toolgym.envs.household import engine as E
from toolgym.envs.household.games import game_files, load_split, load_world
from toolgym.envs.household.generator import DIFFICULTIES, TASK_TYPES, generate_world
from toolgym.envs.household.goal import analyze, compile_goal
from toolgym.envs.household.pddl import parse_formula, parse_sexp, read_game
from toolgym.envs.household.world import World


def goal(text):
    return compile_goal(parse_formula(parse_sexp(text)[0]))


def random_walk(world, seed, steps=60):
    rng = np.random.default_rng(seed)
    state = world.initial
    yield state
    for _ in range(steps):
        opts = list(E.options(world, state).values())
        state, _ = E.apply(world, state, opts[int(rng.integers(len(opts)))])
        yield state


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_generated_goals_are_recognised(task_type):
    world = generate_world(task_type, 0)
    shape = world.shape
    assert shape is not None
    assert shape.kind == ("look" if task_type == "look_at_obj_in_light" else "place")
    assert shape.count == (2 if task_type == "pick_two_obj_and_place" else 1)


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_fast_and_general_checks_agree_on_random_states(task_type):
    for seed in range(6):
        world = generate_world(task_type, seed, DIFFICULTIES[1 + seed % 3])
        for state in random_walk(world, seed):
            assert world.won(state) == world.generic_won(state)


def test_unusual_goals_use_the_general_evaluator(kitchen_file):
    spec = read_game(kitchen_file())
    odd = parse_formula(
        parse_sexp("(or (exists (?o - object) (and (isHot ?o) (isClean ?o))) (forall (?r - receptacle) (opened ?r)))")[
            0
        ]
    )
    world = World.compile(type(spec)(**{**spec.__dict__, "goal": odd}))
    assert world.shape is None
    assert not world.won(world.initial)
    # open every receptacle: the forall branch holds
    state = world.initial._replace(opened=(1 << len(world.rec_ids)) - 1)
    assert world.won(state)
    # a hot and clean object: the exists branch holds
    mug = world.obj_names.index("mug 1")
    assert world.won(world.initial._replace(hot=1 << mug, clean=1 << mug))
    assert not world.won(world.initial._replace(hot=1 << mug))


def test_shape_recognition_is_strict():
    base = (
        "(exists (?r - receptacle) (exists (?o - object) (and (inReceptacle ?o ?r) (objectType ?o MugType) "
        "(receptacleType ?r DeskType){})))"
    )
    assert analyze(goal(base.format(""))) is not None
    assert analyze(goal(base.format(" (opened ?r)"))) is None  # an extra condition: not a known shape
    two = (
        "(exists (?r - receptacle) (exists (?a - object) (exists (?b - object) (and (inReceptacle ?a ?r) "
        "(inReceptacle ?b ?r) (objectType ?a MugType) (objectType ?b MugType) (receptacleType ?r DeskType)))))"
    )
    assert analyze(goal(two)) is None  # two objects without (not (= ?a ?b)) could be the same object


@pytest.mark.skipif(not game_files("valid_unseen"), reason="ALFWorld valid_unseen games missing (TOOLGYM_DATA_DIR)")
def test_real_goals_are_all_recognised_and_agree():
    records = load_split("valid_unseen")
    for i, rec in enumerate(records):
        world = load_world(rec)
        assert world.shape is not None, rec.task_id
        if i % 9 == 0:
            for state in random_walk(world, i, steps=40):
                assert world.won(state) == world.generic_won(state), rec.task_id
