"""The expert planner: every game solved, from the start and from states reached by random play."""

from __future__ import annotations

import numpy as np
import pytest

from toolgym.envs.household import engine as E
from toolgym.envs.household.expert import command, plan, search
from toolgym.envs.household.games import game_files, load_split, load_world
from toolgym.envs.household.generator import TASK_TYPES, generate_world


def run(world, state, limit=60):
    for _ in range(limit):
        if world.won(state):
            return True
        steps = plan(world, state)
        if not steps:
            return world.won(state)
        act = steps[0]
        assert E.options(world, state).get(command(world, act)) == act  # the command text is admissible
        state, _ = E.apply(world, state, act)
    return world.won(state)


def test_kitchen_plan(kitchen):
    steps = plan(kitchen, kitchen.initial)
    assert [command(kitchen, a) for a in steps] == [
        "go to countertop 1",
        "take mug 1 from countertop 1",
        "go to microwave 1",
        "heat mug 1 with microwave 1",
        "go to cabinet 2",
        "open cabinet 2",
        "put mug 1 in/on cabinet 2",
    ]
    assert len(search(kitchen, kitchen.initial)) == len(steps)  # the planner's plan is a shortest one here


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_expert_recovers_from_random_play(task_type):
    for seed in range(8):
        world = generate_world(task_type, 100 + seed)
        rng = np.random.default_rng(seed)
        state = world.initial
        for _ in range(int(rng.integers(3, 25))):
            opts = list(E.options(world, state).values())
            state, _ = E.apply(world, state, opts[int(rng.integers(len(opts)))])
        if world.won(state):
            continue
        # Random play can make a game unwinnable (e.g. an object no receptacle accepts is in hand); the expert
        # must win every game that breadth-first search shows winnable.
        if plan(world, state) is None:
            assert search(world, state, max_nodes=20_000) is None
        else:
            assert run(world, state)


@pytest.mark.skipif(not game_files("valid_unseen"), reason="ALFWorld valid_unseen games missing (TOOLGYM_DATA_DIR)")
def test_expert_solves_every_valid_unseen_game():
    solved, lengths = 0, []
    for rec in load_split("valid_unseen"):
        world = load_world(rec)
        steps = plan(world, world.initial)
        state = world.initial
        for act in steps or []:
            state, _ = E.apply(world, state, act)
        solved += world.won(state)
        lengths.append(len(steps or []))
    assert solved == 134  # the official handcoded expert wins 111 of 134
    assert max(lengths) <= 20


@pytest.mark.slow
@pytest.mark.parametrize("split", ["valid_seen", "train"])
def test_expert_solves_every_game_of_the_other_splits(split):
    if not game_files(split):
        pytest.skip(f"ALFWorld {split} games missing (TOOLGYM_DATA_DIR)")
    for rec in load_split(split):
        world = load_world(rec)
        assert run(world, world.initial), rec.task_id
