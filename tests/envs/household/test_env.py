"""The household environments' API: reset/step contract, command normalisation, options, snapshots, errors."""

from __future__ import annotations

import pickle
import statistics
import time

import gymnasium as gym
import pytest

from toolgym.envs.household.env import ALFWorldEnv, HouseholdEnv, resolve_task_types
from toolgym.envs.household.games import game_files
from toolgym.error import ConfigError, UnknownTaskError
from toolgym.testing import check_text_env

needs_unseen = pytest.mark.skipif(not game_files("valid_unseen"), reason="ALFWorld games missing (TOOLGYM_DATA_DIR)")


def test_household_passes_the_toolgym_checks():
    check_text_env(gym.make("toolgym/Household-v0"), make=lambda: gym.make("toolgym/Household-v0"))


def test_reset_observation_and_info():
    env = gym.make("toolgym/Household-v0")
    obs, info = env.reset(seed=3)
    assert obs.startswith("-= Welcome to TextWorld, ALFRED! =-") and "Your task is to: " in obs
    assert info["admissible_actions"] == sorted(info["admissible_actions"]) and "look" in info["admissible_actions"]
    assert info["success"] is False and info["won"] is False and info["task_type"] in info["task_id"]
    assert env.reset(seed=3)[0] == obs and env.reset(seed=4)[0] != obs


def test_expert_episode_rewards_and_terminates():
    env = gym.make("toolgym/Household-v0")
    base = env.unwrapped
    env.reset(seed=0)
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(base.expert_action())
        total, steps = total + reward, steps + 1
        if terminated or truncated:
            break
    assert terminated and not truncated and info["success"] and info["won"] and total == 1.0 and steps <= 12
    assert info["feedback"].startswith("The task is done")


def test_commands_are_normalised_and_think_is_free_text():
    env = gym.make("toolgym/Household-v0")
    _, info = env.reset(seed=1)
    target = next(a for a in info["admissible_actions"] if a.startswith("go to"))
    obs1, *_ = env.step(target)
    env.reset(seed=1)
    for variant in (
        target.upper() + ".",
        f"> {target}",
        f"Thought: I should look there.\nAction: {target}",
        f"  {target}  ",
    ):
        env.reset(seed=1)
        obs, _, _, _, info = env.step(variant)
        assert obs == obs1 and not info["invalid_action"], variant
    env.reset(seed=1)
    obs, reward, _, _, info = env.step("think: first I need to find the object.")
    assert obs == "OK." and reward == 0.0 and not info["invalid_action"]
    env.reset(seed=1)
    name = target.removeprefix("go to ")
    obs, *_ = env.step(f'{{"tool": "go to", "args": "{name}"}}')
    assert obs == obs1


@pytest.mark.parametrize("bad", ["fly to the moon", "go to nowhere 1", "take 1 from", "put it down", "", "Nothing"])
def test_inadmissible_commands_get_the_official_answer(bad):
    env = gym.make("toolgym/Household-v0", invalid_action_penalty=0.1)
    env.reset(seed=2)
    obs, reward, terminated, truncated, info = env.step(bad)
    assert obs == "Nothing happens." and info["invalid_action"] and reward == pytest.approx(-0.1)
    assert not terminated and "not an admissible command" in info["feedback"]


def test_toggle_is_use():
    env = gym.make("toolgym/Household-v0", task_types=["look_at_obj_in_light"])
    base = env.unwrapped
    env.reset(seed=0)
    lamp_host = next(
        r for r, c in enumerate(base.house_state.contents) if any(base.world.toggleable >> o & 1 for o in c)
    )
    lamp = next(o for o in base.house_state.contents[lamp_host] if base.world.toggleable >> o & 1)
    env.step(f"go to {base.world.rec_names[lamp_host]}")
    obs, *_ = env.step(f"toggle {base.world.obj_names[lamp]}")
    assert obs == f"You turn on the {base.world.obj_names[lamp]}."


def test_step_limit_is_50_by_default():
    env = gym.make("toolgym/Household-v0")
    env.reset(seed=0)
    for i in range(50):
        _, _, terminated, truncated, info = env.step("look")
        assert not terminated and truncated == (i == 49)
    assert "step limit of 50" in info["feedback"]


def test_task_ids_options_and_filters():
    env = gym.make("toolgym/Household-v0", task_types=[3, "pick_two_obj_and_place"], difficulty=1).unwrapped
    assert env.task_types == ("pick_clean_then_place_in_recep", "pick_two_obj_and_place")
    ids = env.task_ids()
    assert len(ids) == 200 and ids[0] == "pick_clean_then_place_in_recep-0"
    obs, info = env.reset(options={"task_id": "pick_two_obj_and_place-12345"})
    assert info["task_id"] == "pick_two_obj_and_place-12345" and ("two" in obs)
    with pytest.raises(UnknownTaskError):
        env.reset(options={"task_id": "pick_and_place_simple-1"})
    with pytest.raises(UnknownTaskError):
        env.reset(options={"task_id": "nonsense"})
    for seed in range(10):
        _, info = env.reset(seed=seed)
        assert info["task_type"] in env.task_types


def test_num_tasks_makes_a_finite_pool():
    env = gym.make("toolgym/Household-v0", num_tasks=2, task_types=[1]).unwrapped
    assert {env.reset(seed=s)[1]["task_id"] for s in range(20)} == {
        "pick_and_place_simple-0",
        "pick_and_place_simple-1",
    }


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"difficulty": 7}, "difficulty"),
        ({"task_types": ["cook"]}, "task_types"),
        ({"task_types": [9]}, "task_types"),
        ({"task_types": []}, "at least one"),
        ({"rooms": ["bedroom"], "task_types": ["pick_cool_then_place_in_recep"]}, "rooms"),
        ({"num_tasks": 0}, "num_tasks"),
        ({"objects": (4, 1)}, "objects"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        HouseholdEnv(**kwargs)


def test_resolve_task_types_keeps_alfworld_order():
    assert resolve_task_types(None)[0] == "pick_and_place_simple"
    assert resolve_task_types(6) == ("pick_two_obj_and_place",)


def test_snapshots_are_cheap_and_exact():
    env = gym.make("toolgym/Household-v0")
    base = env.unwrapped
    env.reset(seed=5)
    env.step(base.expert_action())
    snap, key = base.get_state(), base.state_key()
    first = [env.step(base.expert_action())[:4] for _ in range(2)]
    times = []
    for _ in range(2000):
        t0 = time.perf_counter()
        base.set_state(snap)
        times.append(time.perf_counter() - t0)
    assert base.state_key() == key
    assert [env.step(base.expert_action())[:4] for _ in range(2)] == first
    assert statistics.median(times) < 200e-6  # typically ~2 us; the benchmark reports the figure


def test_pickle_round_trip_mid_episode():
    env = HouseholdEnv()
    env.reset(seed=9)
    env.step(env.expert_action())
    clone = pickle.loads(pickle.dumps(env))
    a = env.expert_action()
    assert clone.expert_action() == a
    assert env.step(a)[:4] == clone.step(a)[:4]


@needs_unseen
def test_alfworld_env_ids_splits_and_filters():
    env = ALFWorldEnv(task_types=["look_at_obj_in_light"])
    ids = env.task_ids()
    assert len(ids) == 18 and all(i.startswith("valid_unseen/look_at_obj_in_light") for i in ids)
    _, info = env.reset(options={"task_id": "json_2.1.1/" + ids[0]})
    assert info["task_id"] == ids[0]
    assert len(ALFWorldEnv(split="valid_seen").task_ids()) == 140
    assert len(ALFWorldEnv(split="train").task_ids()) == 200
    with pytest.raises(UnknownTaskError):
        env.reset(options={"task_id": "valid_unseen/nothing/here"})
    with pytest.raises(ConfigError, match="split"):
        ALFWorldEnv(split="test")


@needs_unseen
def test_alfworld_env_pickles_without_its_game_list():
    env = ALFWorldEnv()
    env.reset(seed=0)
    blob = pickle.dumps(env)
    assert len(blob) < 200_000
    clone = pickle.loads(blob)
    a = env.expert_action()
    assert env.step(a)[:4] == clone.step(a)[:4]


def test_data_status_reports_missing_archives(monkeypatch, tmp_path):
    monkeypatch.setenv("TOOLGYM_DATA_DIR", str(tmp_path))
    status = ALFWorldEnv.data_status()
    assert not status.available and "valid_unseen.tar.gz" in status.detail
    assert HouseholdEnv.data_status().available
