"""Fidelity to the official engine: replay the official expert's recorded steps in the native env.

``TOOLGYM_DATA_DIR/alfworld/expert_trajectories_<split>.jsonl.gz`` holds every step the official handcoded
expert took with the official engine (alfworld 0.4.2): its command and the engine's observation. Replaying the
commands through ``toolgym/ALFWorld-v0`` must give the same observation at every step (after whitespace
normalisation; the issue asks for >= 99%; the engine reaches 100%, byte for byte) and the same ``won`` flag on
every game.
"""

from __future__ import annotations

import itertools

import pytest

from toolgym.benchmarks.fidelity import replay_trajectories
from toolgym.data import is_available
from toolgym.envs.household.games import game_files, read_trajectories, trajectories_file


@pytest.mark.parametrize("split, n_games, n_steps", [("valid_unseen", 134, 11579), ("valid_seen", 140, 13959)])
def test_replay_of_the_official_expert(split, n_games, n_steps):
    if not (game_files(split) and is_available(trajectories_file(split))):
        pytest.skip(f"ALFWorld {split} games or expert trajectories missing (TOOLGYM_DATA_DIR)")
    report = replay_trajectories(split, read_trajectories(split))
    assert (report.games, report.steps) == (n_games, n_steps)
    assert report.admissible_agree == report.games, "the reset's admissible commands differ on some game"
    assert not report.ended_early, "the native engine ended a game earlier than the official one"
    assert report.won_agree == report.games, "the won flag differs on some game"
    assert report.identical_after_whitespace / report.observations >= 0.99
    assert not report.mismatches, report.mismatches[:3]  # docs/household.md: no mismatch class remains
    assert report.identical == report.observations  # not even whitespace differs


def test_the_replay_report_sees_a_difference():
    if not (game_files("valid_unseen") and is_available(trajectories_file("valid_unseen"))):
        pytest.skip("ALFWorld valid_unseen games or expert trajectories missing (TOOLGYM_DATA_DIR)")
    games = list(itertools.islice(read_trajectories("valid_unseen"), 2))
    games[0]["steps"][1]["observation"] += " (edited)"
    assert games[1]["won"]  # the recording ends with the win: the native episode ends before an extra step
    games[1]["won"] = False
    games[1]["steps"].append({"action": "look", "observation": "never reached"})
    report = replay_trajectories("valid_unseen", games)
    assert report.identical == report.identical_after_whitespace == report.observations - 1
    assert [(path, i, action) for path, i, action, _, _ in report.mismatches] == [
        (games[0]["path"], 1, games[0]["steps"][1]["action"])
    ]
    assert report.mismatch_by_verb() == {games[0]["steps"][1]["action"].split(" ")[0]: 1}
    assert report.won_agree == 1 and report.ended_early == [games[1]["path"]]
