"""Running one unit of work (a :class:`Chunk`: some episodes of one cell) wherever a backend puts it.

:func:`run_chunk` builds (or reuses) the cell's policy, hands the episodes to
:func:`toolgym.agents.rollout`, and turns each finished episode into a result record and a trajectory row.
It never raises for a failing env or policy: every episode of the chunk yields exactly one payload, with the
failure in the record's ``error``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from toolgym.benchmarks.plan import Cell, EpisodeRef
from toolgym.benchmarks.records import build_record, error_record, trajectory_row

__all__ = ["Chunk", "Payload", "init_worker", "limit_threads", "run_chunk"]

logger = logging.getLogger(__name__)

#: ``(chunk id, record, trajectory row)``.
Payload = tuple[int, dict[str, Any], dict[str, Any]]


@dataclass(frozen=True)
class Chunk:
    """Some episodes of one cell, sent to a worker as one unit.

    Attributes:
        id: The chunk's number within the run.
        cell: The cell.
        refs: The episodes to run.
        suite: The suite's name.
        suite_hash: Its hash.
        provenance: Git commit and package versions, copied into each record.
    """

    id: int
    cell: Cell
    refs: tuple[EpisodeRef, ...]
    suite: str
    suite_hash: str
    provenance: Mapping[str, Any]


_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_threads(n: int = 1) -> Callable[[], None]:
    """Cap the math libraries' threads of this process (workers share the CPU cores).

    Environment variables already set are kept (the user's choice wins); torch, when imported, is set to ``n``.

    Returns:
        A function that undoes the change (for callers that run in the user's own process).
    """
    added = [v for v in (*_THREAD_VARS, "TOKENIZERS_PARALLELISM") if v not in os.environ]
    for var in _THREAD_VARS:
        os.environ.setdefault(var, str(n))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)

    def restore() -> None:
        for var in added:
            os.environ.pop(var, None)
        if torch is not None and before is not None:
            torch.set_num_threads(before)

    return restore


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:  # the runner died (e.g. kill -9): stop instead of working for nobody
            os._exit(3)


def init_worker(threads: int, parent: int | None) -> None:
    """Initialise a worker process: thread caps, ignore Ctrl-C (the runner handles it), exit with the runner."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_threads(threads)
    if parent is not None:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="toolgym-parent-watch").start()


@functools.lru_cache(maxsize=2)
def _llm(spec_json: str) -> Any:
    """One language model per spec per process, shared by the policies that name it (replicate seeds...)."""
    from toolgym.agents.llm import make_llm

    return make_llm(json.loads(spec_json))


@functools.lru_cache(maxsize=16)
def _policy(name: str, config_json: str) -> Any:
    """A worker builds each policy once (a model policy shares its model with the other seeds' policies)."""
    from toolgym.agents import make_policy

    config = json.loads(config_json)
    if isinstance(config.get("llm"), (str, dict)):
        config["llm"] = _llm(json.dumps(config["llm"], sort_keys=True))
    return make_policy(name, **config)


class _SinkFailure(Exception):
    """Carries an exception of ``emit`` through the rollout engine (it must end the run, not the episode)."""


def _describe(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {msg[:500]}" if msg else type(exc).__name__


def run_chunk(chunk: Chunk, emit: Callable[[Payload], None]) -> int:
    """Run a chunk's episodes, calling ``emit`` with each episode's payload as it finishes.

    Returns:
        The number of payloads emitted (always ``len(chunk.refs)``).
    """
    import toolgym  # noqa: F401  (registers the environments in a fresh worker)
    from toolgym.agents import EpisodeSpec, rollout

    cell = chunk.cell
    by_seed = {ref.reset_seed: ref for ref in chunk.refs}
    sent: set[int] = set()
    common: dict[str, Any] = {"suite": chunk.suite, "suite_hash": chunk.suite_hash, "provenance": chunk.provenance}

    def on_episode(episode: Any) -> None:
        ref = by_seed.get(episode.result.seed)
        if ref is None or ref.index in sent:
            logger.warning("unexpected episode with reset seed %s in chunk %d", episode.result.seed, chunk.id)
            return
        sent.add(ref.index)
        try:
            emit((chunk.id, build_record(cell, ref, episode, **common), trajectory_row(episode)))
        except BaseException as exc:  # the sink failed (disk full...): stop the chunk, not just this episode
            raise _SinkFailure() from exc

    start = time.perf_counter()
    try:
        policy = _policy(cell.policy_name, json.dumps(dict(cell.policy_config), sort_keys=True))
        specs = [EpisodeSpec(ref.reset_seed, ref.task_id) for ref in chunk.refs]
        rollout(
            policy,
            cell.env_id,
            episodes=specs,
            num_envs=max(1, min(cell.num_envs, len(specs))),
            max_steps=cell.max_steps,
            episode_time_limit_s=cell.episode_time_limit_s,
            env_kwargs=dict(cell.env_kwargs),
            on_episode=on_episode,
        )
        failure = None
    except _SinkFailure as exc:
        raise exc.__cause__ from None  # type: ignore[misc]
    except Exception as exc:  # the env or policy could not be built: record it on the remaining episodes
        logger.warning("chunk %d (%s x %s) failed: %s", chunk.id, cell.env, cell.policy, _describe(exc))
        failure = _describe(exc)
    wall = time.perf_counter() - start
    for ref in chunk.refs:
        if ref.index not in sent:
            sent.add(ref.index)
            error = failure or "RuntimeError: the rollout engine returned no episode for this reset seed"
            emit((chunk.id, error_record(cell, ref, error, wall_s=wall, **common), trajectory_row(None)))
    return len(sent)
