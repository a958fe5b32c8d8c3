"""Household fidelity: replay the official engine's recorded trajectories through ``toolgym/ALFWorld-v0``.

Each recorded game (:func:`toolgym.envs.household.games.read_trajectories`: the official handcoded expert's
commands and the official engine's observations) is one :func:`~toolgym.agents.run_episode` of a
:class:`~toolgym.agents.ScriptedPolicy` that replays its commands, at most as many steps as were recorded. The
report compares the native engine's reset observation, admissible commands, every step's observation and the
``won`` flag with the recording. ``tests/envs/household/test_fidelity.py`` asserts on it and
``benchmarks/perf/household_fidelity.py`` prints it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from toolgym.agents.engine import run_episode
from toolgym.agents.policies import ScriptedPolicy
from toolgym.error import ConfigError, ToolgymError

__all__ = ["ReplayReport", "normalize_whitespace", "replay_trajectories"]


def normalize_whitespace(text: str) -> str:
    """``text`` with every run of white space made one space, and none at the ends.

    Example:
        >>> normalize_whitespace(" You arrive at  desk 1.\\n")
        'You arrive at desk 1.'
    """
    return " ".join(text.split())


@dataclass
class ReplayReport:
    """How the native engine's replay of recorded games compares with the recording.

    Attributes:
        games: Games replayed.
        steps: Steps replayed (resets not included).
        identical: Observations identical byte for byte, the reset observations included.
        identical_after_whitespace: Observations identical after :func:`normalize_whitespace`, resets included.
        admissible_agree: Games whose reset lists the recorded admissible commands, in the same order.
        won_agree: Games whose ``won`` flag (any step's ``info["success"]``) is the recorded one.
        won: Games the native engine reported won.
        ended_early: Paths of the games the native engine ended before the recording's last step.
        mismatches: ``(path, step index or -1 for the reset, action, native, recorded)`` of each observation that
            differs after whitespace normalisation.
    """

    games: int = 0
    steps: int = 0
    identical: int = 0
    identical_after_whitespace: int = 0
    admissible_agree: int = 0
    won_agree: int = 0
    won: int = 0
    ended_early: list[str] = field(default_factory=list)
    mismatches: list[tuple[str, int, str, str, str]] = field(default_factory=list)

    @property
    def observations(self) -> int:
        """Observations compared: one per reset and one per step."""
        return self.games + self.steps

    def mismatch_by_verb(self) -> dict[str, int]:
        """How many mismatched observations followed each command verb (``reset`` for the reset)."""
        return dict(Counter(action.split(" ")[0] if i >= 0 else "reset" for _, i, action, _, _ in self.mismatches))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (without the mismatched texts)."""
        return {
            "games": self.games,
            "steps": self.steps,
            "observations": self.observations,
            "identical": self.identical,
            "identical_after_whitespace": self.identical_after_whitespace,
            "admissible_agree": self.admissible_agree,
            "won_agree": self.won_agree,
            "won": self.won,
            "ended_early": len(self.ended_early),
            "mismatch_by_verb": self.mismatch_by_verb(),
        }


def replay_trajectories(split: str, trajectories: Iterable[Mapping[str, Any]]) -> ReplayReport:
    """Replay recorded games of ALFWorld ``split`` in ``toolgym/ALFWorld-v0`` and compare (module docstring).

    Args:
        split: The ALFWorld split the games are from (``"valid_unseen"``, ``"valid_seen"``, ``"train"``).
        trajectories: One dict per game with ``path``, ``initial_observation``, ``initial_admissible_commands``,
            ``steps`` (``[{"action", "observation"}]``, at least one) and ``won``, as
            :func:`~toolgym.envs.household.games.read_trajectories` gives them.

    Raises:
        ConfigError: A recorded game has no steps.
        ToolgymError: A reset or step of the native env raised (the engine's error message).
    """
    env = gym.make("toolgym/ALFWorld-v0", split=split, max_steps=1000).unwrapped
    report = ReplayReport()
    try:
        for traj in trajectories:
            _replay_one(env, traj, report)
    finally:
        env.close()
    return report


def _replay_one(env: gym.Env, traj: Mapping[str, Any], report: ReplayReport) -> None:
    path, recorded = str(traj["path"]), list(traj["steps"])
    if not recorded:
        raise ConfigError(f"replay_trajectories: expected a recorded game with steps, got none for {path!r}.")
    policy = ScriptedPolicy([str(s["action"]) for s in recorded], name="recorded")
    episode = run_episode(policy, env, task_id=path, max_steps=len(recorded))
    if episode.result.error:
        raise ToolgymError(f"replay_trajectories: the replay of {path!r} failed: {episode.result.error}")
    first = policy.episode(0)
    pairs = [(-1, "", str(first.first_observation), str(traj["initial_observation"]))]
    steps = episode.trajectory.steps
    pairs += [(i, s.action, s.observation, str(r["observation"])) for i, (s, r) in enumerate(zip(steps, recorded))]
    report.games += 1
    report.steps += len(steps)
    for i, action, native, official in pairs:
        report.identical += native == official
        if normalize_whitespace(native) == normalize_whitespace(official):
            report.identical_after_whitespace += 1
        else:
            report.mismatches.append((path, i, action, native, official))
    report.admissible_agree += list(first.first_info.get("admissible_actions", ())) == list(
        traj["initial_admissible_commands"]
    )
    won = any(bool(s.info.get("success", False)) for s in steps)
    report.won += won
    report.won_agree += won == bool(traj["won"])
    if len(steps) < len(recorded):
        report.ended_early.append(path)
