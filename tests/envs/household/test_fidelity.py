"""Fidelity to the official engine: replay the official expert's recorded steps in the native env.

``TOOLGYM_DATA_DIR/alfworld/expert_trajectories_<split>.jsonl.gz`` holds every step the official handcoded
expert took with the official engine (alfworld 0.4.2): its command and the engine's observation. Replaying the
commands through ``toolgym/ALFWorld-v0`` must give the same observation at every step (after whitespace
normalisation; the issue asks for >= 99%; the engine reaches 100%, byte for byte) and the same ``won`` flag on
every game.
"""

from __future__ import annotations

import gymnasium as gym
import pytest

from toolgym.data import is_available
from toolgym.envs.household.games import game_files, read_trajectories, trajectories_file


def norm(text: str) -> str:
    return " ".join(text.split())


def replay(split: str):
    env = gym.make("toolgym/ALFWorld-v0", split=split, max_steps=1000).unwrapped
    games = steps = same = exact = won_same = 0
    mismatches = []
    for traj in read_trajectories(split):
        obs, info = env.reset(options={"task_id": traj["path"]})
        games += 1
        assert obs == traj["initial_observation"], traj["path"]
        assert info["admissible_actions"] == traj["initial_admissible_commands"], traj["path"]
        won = False
        for i, step in enumerate(traj["steps"]):
            obs, reward, terminated, truncated, info = env.step(step["action"])
            steps += 1
            exact += obs == step["observation"]
            if norm(obs) == norm(step["observation"]):
                same += 1
            else:
                mismatches.append((traj["path"], i, step["action"], obs, step["observation"]))
            won = won or info["won"]
            if terminated:
                assert i == len(traj["steps"]) - 1, "the native engine ended the game earlier than the official one"
        won_same += won == traj["won"]
    env.close()
    return games, steps, same, exact, won_same, mismatches


@pytest.mark.parametrize("split, n_games, n_steps", [("valid_unseen", 134, 11579), ("valid_seen", 140, 13959)])
def test_replay_of_the_official_expert(split, n_games, n_steps):
    if not (game_files(split) and is_available(trajectories_file(split))):
        pytest.skip(f"ALFWorld {split} games or expert trajectories missing (TOOLGYM_DATA_DIR)")
    games, steps, same, exact, won_same, mismatches = replay(split)
    assert (games, steps) == (n_games, n_steps)
    assert won_same == games, "the won flag differs on some game"
    assert same / steps >= 0.99
    assert not mismatches, mismatches[:3]  # docs/household.md: no mismatch class remains
    assert exact == steps  # not even whitespace differs
