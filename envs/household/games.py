"""The real ALFWorld games and the official expert trajectories, read from ``TOOLGYM_DATA_DIR/alfworld/``.

The game archives are read in place (never extracted into the project): the first use of a split reads its
``.tar.gz`` once and keeps, per game, the PDDL problem and the task sentence in memory (about 3 MB per split);
games are parsed and compiled on first use. The data folder may be read-only.

Splits: ``valid_unseen`` (134 games, ALFWorld's out-of-distribution evaluation set, the one ReAct and
Reflexion report), ``valid_seen`` (140, in-distribution evaluation) and ``train`` (200 games of ALFWorld's
training split).
"""

from __future__ import annotations

import functools
import json
import os
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolgym.data import DATA_DIR_ENV, DataFile, data_dir, fetch, is_available
from toolgym.envs.household.pddl import GameSpec, read_game
from toolgym.envs.household.world import TASK_TYPES, World
from toolgym.error import ConfigError, did_you_mean
from toolgym.records import iter_jsonl

__all__ = [
    "SPLITS",
    "data_folder",
    "describe_missing",
    "TASK_TYPES",
    "GameRecord",
    "game_file",
    "game_files",
    "load_split",
    "load_world",
    "split_file",
    "trajectories_file",
    "read_trajectories",
]

_INSTRUCTIONS = (
    "ALFWorld's game files come from the `alfworld-download` archive (json_2.1.1, MIT). toolgym expects "
    "three tarballs in TOOLGYM_DATA_DIR/alfworld/ (valid_unseen.tar.gz, valid_seen.tar.gz, valid_train.tar.gz), "
    "each extracting to json_2.1.1/<split>/<task>/<trial>/game.tw-pddl; see docs/household.md."
)

#: Split name -> archive.
SPLITS: Mapping[str, str] = {
    "valid_unseen": "valid_unseen.tar.gz",
    "valid_seen": "valid_seen.tar.gz",
    "train": "valid_train.tar.gz",
}


def split_file(split: str) -> DataFile:
    """The archive of a split, as a :class:`~toolgym.data.DataFile`.

    Raises:
        ConfigError: ``split`` is not a known split.
    """
    if split not in SPLITS:
        raise ConfigError(
            f"ALFWorld split: expected one of {sorted(SPLITS)}, got {split!r}.{did_you_mean(split, SPLITS)}"
        )
    return DataFile(
        f"alfworld/{SPLITS[split]}",
        f"ALFWorld {split} game files",
        instructions=_INSTRUCTIONS,
    )


def trajectories_file(split: str) -> DataFile:
    """The official expert's recorded trajectories for a split (``valid_unseen`` or ``valid_seen``)."""
    return DataFile(
        f"alfworld/expert_trajectories_{split}.jsonl.gz",
        f"official ALFWorld expert trajectories ({split})",
        instructions="They are recorded with the official engine by benchmarks/perf/household_fidelity.py --record.",
    )


@dataclass(frozen=True, eq=False)
class GameRecord:
    """One game of a split, as stored in its archive.

    Attributes:
        task_id: ``<split>/<task folder>/<trial>`` (e.g. ``valid_unseen/look_at_obj_in_light-AlarmClock-None-
            DeskLamp-308/trial_T20190908_222917_366542``).
        path: The folder inside the archive (``json_2.1.1/valid_unseen/...``), as the official tools name it.
        task_type: ALFWorld's task type.
        data: The game file's content (``pddl_problem``, ``grammar``'s task rule, ``solvable``).
    """

    task_id: str
    path: str
    task_type: str
    data: Mapping[str, Any]

    def spec(self) -> GameSpec:
        """Parse the game."""
        return read_game(self.data, task_type=self.task_type, meta={"task_id": self.task_id, "path": self.path})


def _task_type(folder: str) -> str:
    return folder.split("-", 1)[0]


@dataclass(frozen=True)
class _Archive:
    """The games of one archive, and the domain and grammar text they share."""

    records: tuple[GameRecord, ...]
    domain: str
    grammar: str  # the first game's grammar; others differ only in their "task" rule


def _task_rule(grammar: str) -> str:
    start = grammar.find('"task"')
    return grammar[start : grammar.find("]", start) + 1] if start >= 0 else ""


@functools.lru_cache(maxsize=8)
def _read_archive(path: str, size: int, mtime_ns: int) -> _Archive:
    records: list[GameRecord] = []
    domain = grammar = ""
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith("/game.tw-pddl"):
                continue
            folder = member.name[: -len("/game.tw-pddl")]
            parts = folder.split("/")
            if len(parts) < 4 or "movable" in folder or "Sliced" in folder:
                continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            data = json.loads(fh.read())
            if not data.get("solvable", False):
                continue
            if not grammar:
                domain, grammar = str(data["pddl_domain"]), str(data["grammar"])
            rule = _task_rule(str(data["grammar"]))
            kept: dict[str, Any] = {"pddl_problem": data["pddl_problem"], "grammar": rule, "solvable": True}
            # Keep the full texts only where they are not the shared ones (never, in ALFWorld's data).
            if data["pddl_domain"] != domain:
                kept["full_domain"] = data["pddl_domain"]
            if grammar.replace(_task_rule(grammar), rule) != data["grammar"]:
                kept["full_grammar"] = data["grammar"]
            split_dir = parts[-3]
            split = "train" if split_dir == "valid_train" else split_dir
            task_id = "/".join([split, parts[-2], parts[-1]])
            records.append(GameRecord(task_id, folder, _task_type(parts[-2]), kept))
    records.sort(key=lambda r: r.task_id)
    return _Archive(tuple(records), domain, grammar)


def _archive(split: str) -> _Archive:
    path = fetch(split_file(split), download=False)
    st = os.stat(path)
    return _read_archive(os.fspath(path), st.st_size, st.st_mtime_ns)


def game_file(record: GameRecord) -> dict[str, Any]:
    """The complete ``game.tw-pddl`` content of a game (as the official engine loads it)."""
    split = record.task_id.split("/", 1)[0]
    arc = _archive(split)
    data = record.data
    grammar = data.get("full_grammar") or arc.grammar.replace(_task_rule(arc.grammar), data["grammar"])
    return {
        "pddl_domain": data.get("full_domain") or arc.domain,
        "grammar": grammar,
        "pddl_problem": data["pddl_problem"],
        "solvable": True,
    }


def load_split(split: str) -> tuple[GameRecord, ...]:
    """Every game of a split, sorted by task id (read once per process).

    Raises:
        ConfigError: Unknown split.
        DataNotFoundError: The archive is missing; the message says where to put it.
    """
    return _archive(split).records


@functools.lru_cache(maxsize=2048)
def _compile(record: GameRecord) -> World:
    return World.compile(record.spec())


def load_world(record: GameRecord) -> World:
    """The compiled world of a game (compiled once per process)."""
    return _compile(record)


def game_files(split: str) -> bool:
    """Whether a split's archive is present under the data folder."""
    return is_available(split_file(split))


def read_trajectories(split: str) -> Iterator[dict[str, Any]]:
    """The official expert's trajectories of a split, one dict per game.

    Keys: ``path``, ``initial_observation``, ``initial_admissible_commands``, ``steps``
    (``[{"action", "observation"}]``), ``won`` and ``num_steps``.
    """
    for _, game in iter_jsonl(fetch(trajectories_file(split), download=False)):
        yield game


def data_folder() -> Path:
    """``TOOLGYM_DATA_DIR/alfworld``."""
    return data_dir() / "alfworld"


def describe_missing(split: str) -> str:
    """What to do when a split's archive is missing."""
    return f"put {SPLITS.get(split, '?')} in {DATA_DIR_ENV}/alfworld/ (now {data_folder()}). {_INSTRUCTIONS}"
