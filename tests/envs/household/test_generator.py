"""Procedural households: determinism, the knobs, solvability, ALFWorld's naming and wording."""

from __future__ import annotations

import re

import pytest

from toolgym.envs.household import engine as E
from toolgym.envs.household.expert import plan
from toolgym.envs.household.generator import DIFFICULTIES, TASK_TYPES, GeneratorConfig, generate, generate_world
from toolgym.error import ConfigError


def test_same_seed_same_game_different_seed_different_game():
    a, b = generate("pick_clean_then_place_in_recep", 5), generate("pick_clean_then_place_in_recep", 5)
    assert a == b
    assert generate("pick_clean_then_place_in_recep", 6).init != a.init


@pytest.mark.parametrize("difficulty", sorted(DIFFICULTIES))
@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_every_game_is_solvable_and_not_solved_at_the_start(task_type, difficulty):
    for seed in range(15):
        world = generate_world(task_type, seed, DIFFICULTIES[difficulty])
        assert not world.won(world.initial)
        steps = plan(world, world.initial)
        assert steps, f"no plan for {task_type}-{seed} at difficulty {difficulty}"
        state = world.initial
        for act in steps:
            state, _ = E.apply(world, state, act)
        assert world.won(state)


def test_difficulty_scales_the_household():
    def size(d):
        worlds = [generate_world(t, s, DIFFICULTIES[d]) for t in TASK_TYPES for s in range(4)]
        return sum(len(w.rec_ids) for w in worlds) / len(worlds), sum(len(w.obj_ids) for w in worlds) / len(worlds)

    (r1, o1), (r2, o2), (r3, o3) = size(1), size(2), size(3)
    assert r1 < r2 < r3 and o1 < o2 < o3


def test_games_look_like_alfworld():
    world = generate_world("pick_heat_then_place_in_recep", 11)
    intro = E.intro(world, world.initial)
    assert intro.startswith("-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room.")
    assert re.search(r"Your task is to: (put a hot \w+ in \w+|heat some \w+ and put it in \w+)\.$", intro)
    assert all(re.fullmatch(r"[a-z]+ \d+", n) for n in world.rec_names + world.obj_names)
    assert all(re.fullmatch(r"loc \d+", n) for n in world.loc_names)
    assert world.microwaves and world.spec.meta["room"] == "kitchen"


def test_task_types_need_their_rooms():
    with pytest.raises(ConfigError, match="needs one of the rooms"):
        generate("pick_heat_then_place_in_recep", 0, GeneratorConfig(rooms=("bedroom",)))
    with pytest.raises(ConfigError, match="task type"):
        generate("make_coffee", 0)


@pytest.mark.parametrize(
    "kwargs",
    [{"receptacles": (5, 2)}, {"objects": (-1, 3)}, {"closed": 1.5}, {"rooms": ("garage",)}, {"rooms": ()}],
)
def test_bad_knobs_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        GeneratorConfig(**kwargs).validate()


def test_knobs_are_respected():
    cfg = GeneratorConfig(receptacles=(0, 0), objects=(0, 0), decoys=(0, 0), rooms=("bathroom",))
    world = generate_world("pick_and_place_simple", 3, cfg)
    assert world.spec.meta["room"] == "bathroom"
    assert len(world.obj_ids) == 1  # just the task's object
    two = generate_world("pick_two_obj_and_place", 3, cfg)
    assert len(two.obj_ids) == 2
