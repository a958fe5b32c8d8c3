"""The sweep runner: a suite in, a run folder of results out; resumable after any interruption.

::

    from toolgym.benchmarks import run_suite
    result = run_suite("smoke", "runs/smoke", workers=2)
    print(result.status, result.recorded, "/", result.plan.episodes)

:func:`run_suite` resolves the suite (:mod:`~toolgym.benchmarks.plan`), opens the run folder
(:mod:`~toolgym.benchmarks.store`; with ``resume`` it keeps the plan stored there and skips every episode
already recorded), splits what is left into chunks, and runs them on a backend
(:mod:`~toolgym.benchmarks.backends`). Each finished episode is appended to the store as it arrives.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolgym.benchmarks.backends import make_backend
from toolgym.benchmarks.plan import Plan, resolve
from toolgym.benchmarks.provenance import provenance
from toolgym.benchmarks.store import META, ResultStore, read_meta
from toolgym.benchmarks.suite import Suite, load_suite, suite_hash
from toolgym.benchmarks.worker import Chunk
from toolgym.error import DependencyNotInstalled

__all__ = ["RunResult", "default_workers", "plan_suite", "run_suite"]

logger = logging.getLogger(__name__)


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class RunResult:
    """What :func:`run_suite` did.

    Attributes:
        out: The run folder.
        plan: The plan the folder holds.
        status: ``"complete"``, ``"stopped"`` (time budget) or ``"interrupted"`` (Ctrl-C).
        recorded: Episodes recorded in the folder now.
        ran: Episodes recorded by this call.
        resumed_from: Episodes already recorded when this call started.
        elapsed_s: Wall-clock seconds of this call.
    """

    out: Path
    plan: Plan
    status: str
    recorded: int
    ran: int
    resumed_from: int
    elapsed_s: float


class Observer:
    """Hooks a caller (progress bar, trackers) gets during a run; all optional."""

    def start(self, plan: Plan, done: int) -> None:
        """The run starts with ``done`` of ``plan.episodes`` already recorded."""

    def record(self, record: Mapping[str, Any]) -> None:
        """An episode was recorded."""

    def finish(self, status: str) -> None:
        """The run ended."""


def plan_suite(suite: str | Path | Mapping[str, Any] | Suite, *, llm: str | None = None) -> tuple[Suite, Plan]:
    """Load and resolve a suite (what ``toolgym bench SUITE --dry-run`` shows)."""
    s = load_suite(suite)
    if llm:
        s = s.with_llm(llm)
    return s, resolve(s)


def _chunks(plan: Plan, done: set[str], prov: Mapping[str, Any]) -> Iterator[Chunk]:
    n = 0
    for cell in plan.cells:
        todo = [ref for ref in cell.episodes if cell.key(ref) not in done]
        for start in range(0, len(todo), plan.chunk_size):
            yield Chunk(n, cell, tuple(todo[start : start + plan.chunk_size]), plan.suite, plan.suite_hash, prov)
            n += 1


def run_suite(
    suite: str | Path | Mapping[str, Any] | Suite,
    out: str | Path,
    *,
    workers: int | None = None,
    backend: str = "local",
    resume: bool = False,
    retry_errors: bool = False,
    llm: str | None = None,
    ray_address: str | None = None,
    observers: Sequence[Observer] = (),
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Run a benchmark suite into a run folder.

    Args:
        suite: A built-in suite name, a YAML path, a mapping or a :class:`~toolgym.benchmarks.suite.Suite`.
        out: The run folder (created; must be new, empty, or this suite's run with ``resume``).
        workers: Parallel workers (default: one per CPU core). ``1`` runs in this process.
        backend: ``"local"`` (process pool) or ``"ray"``.
        resume: Finish a run of the same suite found in ``out``: episodes recorded there are skipped, the plan
            stored there is kept.
        retry_errors: With ``resume``, run again the episodes recorded with an error.
        llm: Replace the ``llm`` of every language-model policy of the suite (changes the suite's hash).
        ray_address: A Ray cluster to join (``backend="ray"``).
        observers: Progress displays and trackers (see :class:`Observer`).
        should_stop: Polled before each unit of work starts; True stops the run (it can be resumed).

    Returns:
        A :class:`RunResult`.

    Raises:
        ConfigError: The suite is invalid (see :func:`~toolgym.benchmarks.plan.resolve`).
        RunDirError: ``out`` belongs to another suite or already holds this one's run without ``resume``.
        StoreError: The results cannot be written (disk full, permissions); what was written is intact.
        BackendError: A worker died; what was written is intact.

    Example:
        >>> import tempfile
        >>> r = run_suite({"name": "doc", "episodes": 2, "envs": [{"id": "toolgym/ToolChoice-Arithmetic-v0"}],
        ...                "policies": [{"name": "expert"}]}, tempfile.mkdtemp(), workers=1)
        >>> r.status, r.recorded
        ('complete', 2)
    """
    start = time.perf_counter()
    s = load_suite(suite)
    if llm:
        s = s.with_llm(llm)
    root = Path(out)
    plan: Plan | None = None
    if resume and (root / META).is_file():
        meta = read_meta(root)
        if meta.get("suite_hash") == suite_hash(s):
            plan = Plan.from_dict(meta["plan"])  # finish what the run set out to do
    if plan is None:
        plan = resolve(s)
    prov = provenance()
    store = ResultStore.open(
        root,
        plan,
        suite_text=s.to_yaml(),
        suite_dict=s.to_dict(),
        provenance=prov,
        resume=resume,
        retry_errors=retry_errors,
    )
    before = len(store.done)
    ran = 0
    status = "complete"
    deadline = time.monotonic() + plan.time_budget_s if plan.time_budget_s else float("inf")
    stopped_by_budget = False

    def stop() -> bool:
        nonlocal stopped_by_budget
        if time.monotonic() >= deadline:
            stopped_by_budget = True
            return True
        return bool(should_stop and should_stop())

    def sink(payload: tuple[int, dict[str, Any], dict[str, Any]]) -> None:
        nonlocal ran
        _, record, trajectory = payload
        if store.append(record, trajectory):
            ran += 1
            for o in observers:
                o.record(record)

    try:
        for o in observers:
            o.start(plan, before)
        n_workers = workers or default_workers()
        store.set_status("running", workers=n_workers, backend=backend)
        runner = make_backend(backend, n_workers, ray_address=ray_address)
        try:
            runner.run(_chunks(plan, store.done, prov), sink, stop)
        except KeyboardInterrupt:
            status = "interrupted"
        recorded = len(store.done)
        if status != "interrupted" and recorded < plan.episodes:
            status = "stopped"
        extra: dict[str, Any] = {"episodes_recorded": recorded}
        if stopped_by_budget:
            extra["stopped_by"] = "time_budget"
        store.set_status(status, **extra)
        if status == "complete":
            from toolgym.benchmarks.export import export_parquet

            try:
                export_parquet(root)
            except DependencyNotInstalled as exc:
                logger.info("Parquet export skipped: %s", exc)
            except Exception as exc:  # an optional export must not fail a finished run
                logger.warning("Parquet export skipped: %s", exc)
    except BaseException:
        status = "failed"
        with contextlib.suppress(Exception):
            store.set_status("failed", episodes_recorded=len(store.done))
        raise
    finally:
        for o in observers:
            o.finish(status)
        store.close()
    return RunResult(root, plan, status, len(store.done), ran, before, time.perf_counter() - start)
