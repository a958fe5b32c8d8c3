"""Disjoint task splits for every environment: ``train``, ``test`` and ``examples`` (few-shot).

A task belongs to a split by a stable hash of its *question text* (the normalised text of its first
observation, :meth:`~toolgym.core.TextEnv.split_key`): 70% of all possible questions are ``train``, 25% ``test``
and 5% ``examples``. So two tasks with the same question (``"What is 7 + 5?"`` under two ids) are always in the
same split, and the three splits are disjoint by id *and* by question text, for procedural and data-backed
envs alike, with no list to maintain. Random draws (``reset(seed=...)`` without a task id) never give an
``examples`` task, so few-shot examples cannot be the tasks an agent is evaluated on.

:func:`task_split` lists the first tasks of a split; :func:`overlap_report` checks any number of task sets
for shared ids and question texts (every experiment writes it into its results).

Example:
    >>> import gymnasium as gym
    >>> import toolgym
    >>> env = gym.make("toolgym/ToolChoice-Arithmetic-v0", difficulty=4)
    >>> train, test = task_split(env, "train", 5), task_split(env, "test", 5)
    >>> overlap_report({"train": train, "test": test}, env)["disjoint"]
    True
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from toolgym.error import ConfigError

__all__ = [
    "FRACTIONS",
    "SPLITS",
    "normalize_question",
    "overlap_report",
    "split_of",
    "task_questions",
    "task_split",
]

#: The splits and the share of questions in each (they add up to 1).
FRACTIONS: Mapping[str, float] = {"train": 0.70, "test": 0.25, "examples": 0.05}
SPLITS: tuple[str, ...] = tuple(FRACTIONS)

_SPACE = re.compile(r"\s+")


def normalize_question(text: str) -> str:
    """Lower case, Unicode NFKC, whitespace collapsed: two renderings of one question compare equal.

    Example:
        >>> normalize_question("  What is 7 +\\n5? ") == normalize_question("what is 7 + 5?")
        True
    """
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def split_of(key: str) -> str:
    """The split a question belongs to (its key already normalised, see :meth:`TextEnv.split_key`).

    Example:
        >>> split_of("what is 7 + 5?") in SPLITS
        True
    """
    h = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little") / 2.0**64
    edge = 0.0
    for name, share in FRACTIONS.items():
        edge += share
        if h < edge:
            return name
    return SPLITS[-1]


def _base(env: Any) -> Any:
    base = getattr(env, "unwrapped", env)
    if not hasattr(base, "split_key") or not hasattr(base, "iter_task_ids"):
        raise ConfigError(
            f"task splits: expected a toolgym TextEnv (or a wrapper of one), got {type(base).__name__}. "
            "Create it with gym.make('toolgym/...')."
        )
    return base


def _keys(base: Any, ids: Iterable[str]) -> Iterator[tuple[str, str]]:
    """``(task id as the env reports it, split key)`` for each id, by resetting the env to it (state restored)."""
    saved = base.get_state() if getattr(base, "_started", False) else None
    try:
        for tid in ids:
            base.reset(seed=0, options={"task_id": tid})
            yield base._task_id, base.split_key()
    finally:
        if saved is not None:
            base.set_state(saved)


def task_split(env: Any, split: str, n: int, *, skip: int = 0, max_scan: int | None = None) -> list[str]:
    """The first ``n`` task ids of ``split`` (after skipping ``skip`` of them), distinct by question text.

    Tasks are taken in the env's :meth:`~toolgym.core.TextEnv.iter_task_ids` order; each is reset once to read
    its question (the env's state is restored afterwards). Fewer than ``n`` come back when the env has no more
    distinct questions in that split (level-1 arithmetic has about 130 questions in all).

    Args:
        env: A toolgym env (wrapped or not).
        split: ``"train"``, ``"test"`` or ``"examples"``.
        n: How many task ids.
        skip: Leave out the first ``skip`` tasks of the split (for a second, disjoint draw from it).
        max_scan: Look at most this many candidate ids (default ``50 * (n + skip) + 1000``).

    Raises:
        ConfigError: An unknown split or a negative count.
    """
    if split not in SPLITS:
        raise ConfigError(f"task_split: expected a split among {list(SPLITS)}, got {split!r}.")
    if not isinstance(n, int) or n < 0 or not isinstance(skip, int) or skip < 0:
        raise ConfigError(f"task_split: expected counts >= 0, got n={n!r}, skip={skip!r}.")
    base = _base(env)
    limit = max_scan if max_scan is not None else 50 * (n + skip) + 1000
    out: list[str] = []
    seen: set[str] = set()
    candidates = (tid for _, tid in zip(range(limit), base.iter_task_ids()))
    for tid, key in _keys(base, candidates):
        if len(out) >= n:
            break
        if key in seen or split_of(key) != split:
            continue
        seen.add(key)
        if skip:
            skip -= 1
            continue
        out.append(tid)
    return out


def task_questions(env: Any, task_ids: Sequence[str]) -> dict[str, str]:
    """The split key (normalised question text) of each task id."""
    return dict(_keys(_base(env), list(task_ids)))


def overlap_report(
    sets: Mapping[str, Iterable[str]], env: Any = None, *, texts: Mapping[str, str] | None = None
) -> dict:
    """Check named task sets for shared ids and shared question texts.

    Args:
        sets: Name -> task ids (e.g. ``{"train": ..., "examples": ..., "test": ...}``).
        env: The env the ids belong to (to read their question texts); or give ``texts``.
        texts: Task id -> normalised question text, when known.

    Returns:
        A JSON-ready dict: ``disjoint`` (bool), per set its size and split counts, and per pair of sets the
        shared ids and shared question texts (first 10 of each, and their counts).
    """
    named = {k: list(dict.fromkeys(str(t) for t in v)) for k, v in sets.items()}
    known = dict(texts or {})
    missing = [t for ids in named.values() for t in ids if t not in known]
    if missing:
        if env is None:
            raise ConfigError("overlap_report: expected env= (to read question texts) or texts= for every task id.")
        known.update(task_questions(env, list(dict.fromkeys(missing))))
    report: dict[str, Any] = {"sets": {}, "pairs": {}, "disjoint": True}
    for name, ids in named.items():
        counts: dict[str, int] = {}
        for t in ids:
            s = split_of(known[t])
            counts[s] = counts.get(s, 0) + 1
        report["sets"][name] = {"tasks": len(ids), "distinct_questions": len({known[t] for t in ids}), "splits": counts}
    names = list(named)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            ids = sorted(set(named[a]) & set(named[b]))
            qs = sorted({known[t] for t in named[a]} & {known[t] for t in named[b]})
            report["pairs"][f"{a}|{b}"] = {
                "shared_ids": len(ids),
                "shared_questions": len(qs),
                "examples": {"ids": ids[:10], "questions": qs[:10]},
            }
            if ids or qs:
                report["disjoint"] = False
    return report
