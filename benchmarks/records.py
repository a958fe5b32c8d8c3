"""The result record of one episode: what the results store writes and the reports read.

A record is a flat JSON object:

=====================  ======================================================================================
``key``                ``env|policy|seed|index``, unique in a run
``suite``, ``suite_hash``  the suite
``env``, ``env_id``, ``env_kwargs``, ``family``  the environment (label, registered id, make kwargs, family)
``task_id``            the task played
``policy``, ``policy_name``, ``policy_config``, ``config_hash``  the policy (label, registered name, options) and
                       the hash of the env x policy configuration
``seed``, ``episode``, ``reset_seed``  replicate seed, index within the cell, the seed given to ``env.reset``
``success``, ``score``, ``reward``  the env's success flag, task metric, undiscounted return
``cost_total``, ``cost_breakdown``  unweighted tool cost and its split per tool
``steps``, ``invalid_actions``, ``trials``, ``stopped_by``  episode shape
``tokens``, ``tokens_total``  language-model tokens (``prompt``, ``completion``)
``wall_s``, ``llm_s``  wall-clock seconds of the episode and of its model calls
``error``              why the episode failed to run, or ``null``
``git_commit``, ``git_dirty``, ``versions``  provenance
``finished``           UTC time the record was made
=====================  ======================================================================================
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from toolgym.benchmarks.plan import Cell, EpisodeRef
from toolgym.records import to_jsonable

__all__ = ["TIMING_FIELDS", "build_record", "error_record", "trajectory_row"]

#: Fields that depend on timing (left out when comparing two runs record by record).
TIMING_FIELDS = ("wall_s", "llm_s", "finished")


def _base(cell: Cell, ref: EpisodeRef, suite: str, suite_hash: str) -> dict[str, Any]:
    return {
        "key": cell.key(ref),
        "suite": suite,
        "suite_hash": suite_hash,
        "env": cell.env,
        "env_id": cell.env_id,
        "env_kwargs": to_jsonable(cell.env_kwargs),
        "family": cell.family,
        "policy": cell.policy,
        "policy_name": cell.policy_name,
        "policy_config": to_jsonable(cell.policy_config),
        "config_hash": cell.config_hash,
        "seed": cell.seed,
        "episode": ref.index,
        "reset_seed": ref.reset_seed,
    }


def build_record(
    cell: Cell, ref: EpisodeRef, episode: Any, *, suite: str, suite_hash: str, provenance: Mapping[str, Any]
) -> dict[str, Any]:
    """The record of a finished :class:`toolgym.agents.Episode`."""
    r = episode.result
    meta = dict(r.metadata)
    tokens = {k: int(v) for k, v in dict(r.tokens).items()}
    return {
        **_base(cell, ref, suite, suite_hash),
        "task_id": r.task_id,
        "success": bool(r.success),
        "score": float(r.score),
        "reward": float(r.reward),
        "cost_total": float(r.cost_total),
        "cost_breakdown": {str(k): float(v) for k, v in dict(r.cost_breakdown).items()},
        "steps": int(r.steps),
        "invalid_actions": int(meta.get("invalid_actions", 0)),
        "trials": int(meta.get("trials", 1)),
        "stopped_by": meta.get("stopped_by"),
        "tokens": tokens,
        "tokens_total": sum(tokens.values()),
        "wall_s": round(float(r.wall_s), 6),
        "llm_s": round(float(meta.get("llm_s", 0.0)), 6),
        "error": r.error,
        **dict(provenance),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def error_record(
    cell: Cell,
    ref: EpisodeRef,
    error: str,
    *,
    suite: str,
    suite_hash: str,
    provenance: Mapping[str, Any],
    wall_s: float = 0.0,
) -> dict[str, Any]:
    """The record of an episode that could not run at all (its env or policy could not be built)."""
    return {
        **_base(cell, ref, suite, suite_hash),
        "task_id": ref.task_id or "",
        "success": False,
        "score": 0.0,
        "reward": 0.0,
        "cost_total": 0.0,
        "cost_breakdown": {},
        "steps": 0,
        "invalid_actions": 0,
        "trials": 0,
        "stopped_by": None,
        "tokens": {},
        "tokens_total": 0,
        "wall_s": round(wall_s, 6),
        "llm_s": 0.0,
        "error": error,
        **dict(provenance),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def trajectory_row(episode: Any | None) -> dict[str, Any]:
    """The trajectories-file row of an episode (without its key): the trajectory, and every trial when several."""
    if episode is None:
        return {"trajectory": None}
    row: dict[str, Any] = {"trajectory": episode.trajectory.to_dict()}
    if len(episode.trials) > 1:
        row["trials"] = [t.to_dict() for t in episode.trials]
    return row
