"""Resolving a suite into a plan: the exact list of episodes to run, checked against the registries.

:func:`resolve` expands env patterns against what is registered, skips optional entries whose id is missing
or whose data is not available (saying why), checks env kwargs, policy names and options (unknown ones raise
:class:`~toolgym.error.ConfigError` with the valid choices and the suite file's line), resolves task
selections, and splits the sweep into :class:`Cell` s: one env x policy x seed, each with its episodes.

Every episode has a stable key (``env|policy|seed|index``); the results store uses it to resume a run.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import inspect
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from toolgym.benchmarks.suite import EnvEntry, PolicyEntry, Suite, TaskSelection, dotted, suite_hash
from toolgym.core import DataStatus
from toolgym.error import ConfigError, DependencyNotInstalled, did_you_mean
from toolgym.registry import env_class, family_of, toolgym_ids

__all__ = ["Cell", "EpisodeRef", "Plan", "config_hash", "env_options", "reset_seed", "resolve"]

#: Reset seeds of replicate ``s`` are ``s * SEED_STRIDE + i`` (episode ``i``).
SEED_STRIDE = 100_000


def reset_seed(seed: int, index: int) -> int:
    """The reset seed of episode ``index`` of replicate ``seed``.

    Example:
        >>> reset_seed(2, 7)
        200007
    """
    return seed * SEED_STRIDE + index


def config_hash(config: Mapping[str, Any]) -> str:
    """A 12-hex-digit hash of a JSON-ready configuration (key order does not matter).

    Example:
        >>> config_hash({"a": 1, "b": [2]}) == config_hash({"b": [2], "a": 1})
        True
    """
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class EpisodeRef:
    """One episode of a cell.

    Attributes:
        index: The episode's index within its cell (part of its key).
        reset_seed: The seed passed to ``env.reset``.
        task_id: The task, when the suite names tasks.
    """

    index: int
    reset_seed: int
    task_id: str | None = None


@dataclass(frozen=True)
class Cell:
    """One env x policy x seed of a sweep, with its episodes.

    Attributes:
        env: The env label (results group by it).
        env_id: The registered id.
        env_kwargs: Keyword arguments for ``gymnasium.make``.
        family: The env family.
        policy: The policy label.
        policy_name: The registered policy name.
        policy_config: The options given to ``make_policy`` (with the replicate's seed when applicable).
        seed: The replicate seed.
        episodes: The episodes.
        max_steps: Step cap per episode (``None``: the env's own limit).
        episode_time_limit_s: Wall-clock cap per episode.
        num_envs: Episodes side by side.
        config_hash: Hash of everything that defines the cell's episodes except the seed.
    """

    env: str
    env_id: str
    env_kwargs: Mapping[str, Any]
    family: str
    policy: str
    policy_name: str
    policy_config: Mapping[str, Any]
    seed: int
    episodes: tuple[EpisodeRef, ...]
    max_steps: int | None = None
    episode_time_limit_s: float | None = None
    num_envs: int = 1
    config_hash: str = ""

    def key(self, ref: EpisodeRef) -> str:
        """The stable key of one of the cell's episodes."""
        return f"{self.env}|{self.policy}|{self.seed}|{ref.index}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (episodes as ``[index, reset_seed, task_id]`` triples)."""
        d = asdict(self)
        d["episodes"] = [[e.index, e.reset_seed, e.task_id] for e in self.episodes]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Cell:
        """Rebuild from :meth:`to_dict`."""
        d = dict(d)
        d["episodes"] = tuple(EpisodeRef(int(i), int(s), t) for i, s, t in d["episodes"])
        return cls(**d)


@dataclass(frozen=True)
class Plan:
    """A resolved suite.

    Attributes:
        suite: The suite's name.
        suite_hash: :func:`~toolgym.benchmarks.suite.suite_hash` of its definition.
        cells: The work, env by env, policy by policy, seed by seed.
        skipped: ``(entry, reason)`` for each optional entry left out.
        time_budget_s: The suite's time budget for the run.
        chunk_size: Episodes per unit of work.
    """

    suite: str
    suite_hash: str
    cells: tuple[Cell, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    time_budget_s: float | None = None
    chunk_size: int = 4

    @property
    def episodes(self) -> int:
        """Total episodes."""
        return sum(len(c.episodes) for c in self.cells)

    @property
    def envs(self) -> list[str]:
        """Env labels in plan order."""
        return list(dict.fromkeys(c.env for c in self.cells))

    @property
    def policies(self) -> list[str]:
        """Policy labels in plan order."""
        return list(dict.fromkeys(c.policy for c in self.cells))

    @property
    def families(self) -> list[str]:
        """Env families covered."""
        return sorted({c.family for c in self.cells})

    def keys(self) -> list[str]:
        """Every episode key, in plan order."""
        return [c.key(e) for c in self.cells for e in c.episodes]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "suite": self.suite,
            "suite_hash": self.suite_hash,
            "cells": [c.to_dict() for c in self.cells],
            "skipped": [list(s) for s in self.skipped],
            "time_budget_s": self.time_budget_s,
            "chunk_size": self.chunk_size,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        """Rebuild from :meth:`to_dict`."""
        return cls(
            suite=d["suite"],
            suite_hash=d["suite_hash"],
            cells=tuple(Cell.from_dict(c) for c in d["cells"]),
            skipped=tuple((str(s[0]), str(s[1])) for s in d.get("skipped", ())),
            time_budget_s=d.get("time_budget_s"),
            chunk_size=int(d.get("chunk_size", 4)),
        )


# ---------------------------------------------------------------------------------------------- envs
def env_options(env_id: str) -> dict[str, Any] | None:
    """The keyword arguments ``gymnasium.make(env_id, ...)`` accepts, with defaults; ``None`` if it takes any.

    Walks the class's ``__init__`` signatures up the MRO while they forward ``**kwargs``.

    Example:
        >>> opts = env_options("toolgym/ToolChoice-Arithmetic-v0")
        >>> "difficulty" in opts and "cost_weight" in opts
        True
    """
    cls: Any = env_class(env_id)
    out: dict[str, Any] = {}
    classes = cls.__mro__ if isinstance(cls, type) else (cls,)
    for klass in classes:
        init: Any = vars(klass).get("__init__") if isinstance(klass, type) else klass
        if init is None:  # inherits its __init__: look further up
            continue
        if klass is object or (isinstance(klass, type) and klass.__module__.startswith("gymnasium")):
            return out
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            return None
        forwards = False
        for name, p in params.items():
            if name == "self":
                continue
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                forwards = True
            elif p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
                out.setdefault(name, p.default)
        if not forwards:
            return out
    return None


def _data_status(env_id: str, kwargs: Mapping[str, Any]) -> DataStatus:
    try:
        cls = env_class(env_id)
    except DependencyNotInstalled as exc:  # its family's extra is not installed: like missing data
        return DataStatus("needs an extra", False, str(exc))
    merged = {**gym.spec(env_id).kwargs, **kwargs}
    status_fn = getattr(cls, "data_status", None)
    if not callable(status_fn):
        return DataStatus("unknown", True)
    try:
        return status_fn(**merged)
    except TypeError:
        return status_fn(**gym.spec(env_id).kwargs)


def _close_ids(env_id: str, registered: Sequence[str]) -> str:
    """``did_you_mean`` on the names without the shared ``namespace/`` prefix and ``-vN`` suffix.

    Example:
        >>> _close_ids("toolgym/MultiHopp-v0", ["toolgym/MultiHop-v0", "toolgym/HotpotQA-v0"])
        ' Did you mean: toolgym/MultiHop-v0?'
    """

    def core(i: str) -> str:
        return re.sub(r"-v\d+$", "", i.split("/", 1)[-1])

    by_core: dict[str, str] = {}
    for i in registered:
        by_core.setdefault(core(i), i)
    close = difflib.get_close_matches(core(env_id), list(by_core), n=3, cutoff=0.6)
    return f" Did you mean: {', '.join(by_core[c] for c in close)}?" if close else ""


@dataclass
class _EnvChoice:
    label: str
    env_id: str
    kwargs: dict[str, Any]
    family: str
    entry: EnvEntry
    index: int
    tasks: list[str] | None = None


@dataclass
class _Resolver:
    suite: Suite
    registered: list[str] = field(default_factory=toolgym_ids)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def where(self, *loc: Any) -> str:
        return f"{self.suite.lines.where(loc)}: {dotted(loc)}"

    # ------------------------------------------------------------------------------------------ envs
    def envs(self) -> list[_EnvChoice]:
        chosen: list[_EnvChoice] = []
        deferred: list[tuple[int, EnvEntry]] = []
        for i, entry in enumerate(self.suite.envs):
            if entry.is_pattern and entry.uncovered_families:
                deferred.append((i, entry))
            elif entry.is_pattern:
                for env_id in self._matches(entry, {c.env_id for c in chosen}):
                    self._add(chosen, env_id, entry, i, pattern=True)
            else:
                self._explicit(chosen, entry, i)
        for i, entry in deferred:
            covered = {c.family for c in chosen}
            by_family: dict[str, list[str]] = {}
            for env_id in self._matches(entry, {c.env_id for c in chosen}):
                by_family.setdefault(family_of(env_id), []).append(env_id)
            for family, ids in sorted(by_family.items()):
                if family in covered:
                    continue
                available = [e for e in ids if _data_status(e, entry.kwargs).available]
                if not available:
                    self.skipped.append((f"family {family}", f"no env with its data here ({', '.join(ids)})"))
                    continue

                # Prefer procedural envs (no data), then the plainest id (fewest variant parts: ShapesVQA-v0
                # before ShapesVQA-Hard-v0).
                def rank(e: str, kwargs: dict[str, Any] = entry.kwargs) -> tuple[bool, int, int, str]:
                    procedural = "procedural" in _data_status(e, kwargs).source
                    return (not procedural, e.count("-"), len(e), e)

                self._add(chosen, min(available, key=rank), entry, i, pattern=True)
        labels: dict[str, int] = {}
        for c in chosen:
            if c.label in labels:
                raise ConfigError(
                    f"{self.where('envs', c.index)}: env label {c.label!r} is used twice (also "
                    f"envs[{labels[c.label]}]); give each entry a distinct label."
                )
            labels[c.label] = c.index
        if not chosen:
            reasons = "; ".join(f"{e}: {r}" for e, r in self.skipped) or "no entries"
            raise ConfigError(f"suite {self.suite.name!r}: expected at least one runnable env, got none ({reasons}).")
        return chosen

    def _matches(self, entry: EnvEntry, taken: set[str]) -> list[str]:
        out = []
        for env_id in self.registered:
            if not fnmatch.fnmatchcase(env_id, entry.id) or env_id in taken:
                continue
            if any(fnmatch.fnmatchcase(env_id, x) for x in entry.exclude):
                continue
            out.append(env_id)
        return out

    def _explicit(self, chosen: list[_EnvChoice], entry: EnvEntry, i: int) -> None:
        if entry.id not in self.registered:
            if entry.optional:
                self.skipped.append((entry.id, "not registered in this installation"))
                return
            raise ConfigError(
                f"{self.where('envs', i, 'id')}: expected a registered env id, got {entry.id!r}."
                + _close_ids(entry.id, self.registered)
                + " List them with `toolgym envs`."
            )
        self._add(chosen, entry.id, entry, i, pattern=False)

    def _add(self, chosen: list[_EnvChoice], env_id: str, entry: EnvEntry, i: int, *, pattern: bool) -> None:
        options = env_options(env_id)
        if options is not None:
            unknown = sorted(k for k in entry.kwargs if k not in options)
            if unknown:
                valid = sorted(options)
                raise ConfigError(
                    f"{self.where('envs', i, 'kwargs')}: {env_id} expected options among {valid}, got {unknown}."
                    + did_you_mean(unknown[0], valid)
                )
        status = _data_status(env_id, entry.kwargs)
        if not status.available:
            if entry.optional or pattern:
                self.skipped.append((env_id, f"data not available ({status.detail or status.source})"))
                return
            raise ConfigError(
                f"{self.where('envs', i, 'id')}: {env_id} needs data that is not here: "
                f"{status.detail or status.source}. Mark the entry `optional: true` to skip it instead."
            )
        choice = _EnvChoice(entry.label or env_id, env_id, dict(entry.kwargs), family_of(env_id), entry, i)
        if entry.tasks is not None:
            choice.tasks = self._tasks(choice)
        chosen.append(choice)

    def _tasks(self, choice: _EnvChoice) -> list[str]:
        sel = choice.entry.tasks
        if isinstance(sel, list):
            return list(sel)
        try:
            env = gym.make(choice.env_id, **choice.kwargs)
        except Exception as exc:
            raise ConfigError(
                f"{self.where('envs', choice.index)}: building {choice.env_id} to list its tasks failed: {exc}"
            ) from exc
        try:
            base: Any = env.unwrapped
            ids = [str(t) for t in base.task_ids()]
        except NotImplementedError as exc:
            raise ConfigError(
                f"{self.where('envs', choice.index, 'tasks')}: {choice.env_id} does not list its tasks; "
                "give a list of task ids or leave `tasks` out to draw tasks from reset seeds."
            ) from exc
        finally:
            env.close()
        if sel == "all":
            return ids
        assert isinstance(sel, TaskSelection)
        if sel.first is not None:
            return ids[: sel.first]
        n = min(int(sel.sample or 0), len(ids))
        picks = np.sort(np.random.default_rng(sel.seed).choice(len(ids), size=n, replace=False))
        return [ids[int(k)] for k in picks]

    # ------------------------------------------------------------------------------------------ policies
    def policies(self) -> list[tuple[PolicyEntry, int]]:
        from toolgym.agents import make_policy, policy_options

        out = []
        for i, entry in enumerate(self.suite.policies):
            try:
                options = policy_options(entry.name)
            except ConfigError as exc:
                raise ConfigError(f"{self.where('policies', i, 'name')}: {exc}") from None
            if "llm" in options:  # building a model policy may import torch: check the option names only
                unknown = sorted(k for k in entry.config if k not in options)
                if unknown:
                    valid = sorted(options)
                    raise ConfigError(
                        f"{self.where('policies', i, 'config')}: make_policy({entry.name!r}): expected options among "
                        f"{valid}, got {unknown}." + did_you_mean(unknown[0], valid)
                    )
                out.append((entry, i))
                continue
            try:
                make_policy(entry.name, **entry.config)  # checks names and values of a policy without a model
            except ConfigError as exc:
                raise ConfigError(f"{self.where('policies', i, 'config')}: {exc}") from None
            except TypeError as exc:
                valid = sorted(options)
                raise ConfigError(
                    f"{self.where('policies', i, 'config')}: {entry.name} expected options among {valid}, got "
                    f"{sorted(entry.config)} ({exc})."
                ) from None
            out.append((entry, i))
        return out


def _applies(entry: PolicyEntry, env: _EnvChoice) -> bool:
    if entry.families is not None and env.family not in entry.families:
        return False
    if entry.envs is not None:
        return any(fnmatch.fnmatchcase(env.env_id, p) or fnmatch.fnmatchcase(env.label, p) for p in entry.envs)
    return True


def _min(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def resolve(suite: Suite) -> Plan:
    """Resolve a suite against the registered envs and policies into a :class:`Plan`.

    Raises:
        ConfigError: An unknown env id or policy (with close matches), an unknown env or policy option (with
            the valid ones), missing data for a non-optional env, or nothing left to run.

    Example:
        >>> from toolgym.benchmarks.suite import load_suite
        >>> plan = resolve(load_suite({"name": "t", "seeds": [0, 1], "episodes": 3,
        ...     "envs": [{"id": "toolgym/ToolChoice-Arithmetic-v0"}], "policies": [{"name": "random"}]}))
        >>> len(plan.cells), plan.episodes, plan.cells[1].policy_config
        (2, 6, {'seed': 1})
        >>> plan.keys()[:2]
        ['toolgym/ToolChoice-Arithmetic-v0|random|0|0', 'toolgym/ToolChoice-Arithmetic-v0|random|0|1']
    """
    import toolgym  # noqa: F401  (registers the environments)
    from toolgym.agents import policy_options

    r = _Resolver(suite)
    envs = r.envs()
    policies = r.policies()
    cells: list[Cell] = []
    for env in envs:
        for entry, _ in policies:
            if not _applies(entry, env):
                continue
            takes_seed = "seed" in policy_options(entry.name)
            for seed in entry.seeds or suite.seeds:
                config = dict(entry.config)
                if takes_seed and "seed" not in config:
                    config["seed"] = seed
                n = env.entry.episodes or suite.episodes
                if env.tasks is not None:
                    tasks: Sequence[str | None] = env.tasks[: entry.episodes] if entry.episodes else env.tasks
                else:
                    tasks = [None] * (min(n, entry.episodes) if entry.episodes else n)
                refs = tuple(EpisodeRef(i, reset_seed(seed, i), t) for i, t in enumerate(tasks))
                max_steps = _min(suite.max_steps, env.entry.max_steps, entry.max_steps)
                hashed = {
                    "env_id": env.env_id,
                    "env_kwargs": env.kwargs,
                    "policy": entry.name,
                    "policy_config": {k: v for k, v in config.items() if k != "seed"},
                    "max_steps": max_steps,
                    "episode_time_limit_s": suite.episode_time_limit_s,
                }
                cells.append(
                    Cell(
                        env=env.label,
                        env_id=env.env_id,
                        env_kwargs=env.kwargs,
                        family=env.family,
                        policy=entry.key,
                        policy_name=entry.name,
                        policy_config=config,
                        seed=seed,
                        episodes=refs,
                        max_steps=max_steps,
                        episode_time_limit_s=suite.episode_time_limit_s,
                        num_envs=entry.num_envs or suite.num_envs,
                        config_hash=config_hash(hashed),
                    )
                )
    if not cells:
        raise ConfigError(
            f"suite {suite.name!r}: expected at least one env x policy pair, got none (check the policies' "
            "`envs`/`families` filters)."
        )
    chunk = suite.chunk_size or max(4, 2 * suite.num_envs)
    return Plan(suite.name, suite_hash(suite), tuple(cells), tuple(r.skipped), suite.time_budget_s, chunk)
