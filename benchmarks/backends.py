"""Where chunks run: in this process, in a local process pool, or on a Ray cluster.

Every backend takes an iterator of :class:`~toolgym.benchmarks.worker.Chunk` s and calls ``sink(payload)``
in the calling thread for each finished episode, so that only the runner's process writes the results files.
``should_stop()`` is checked before each new chunk is started (the suite's time budget, Ctrl-C); chunks
already running finish.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue as queue_mod
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from toolgym.benchmarks.worker import Chunk, Payload, init_worker, limit_threads, run_chunk
from toolgym.error import ConfigError, ToolgymError, require

__all__ = ["BACKENDS", "BackendError", "InProcessBackend", "LocalPoolBackend", "RayBackend", "make_backend"]

logger = logging.getLogger(__name__)

Sink = Callable[[Payload], None]
StopFn = Callable[[], bool]


class BackendError(ToolgymError, RuntimeError):
    """A worker died or the cluster failed; the results recorded so far are intact."""


class InProcessBackend:
    """Runs chunks one after another in this process (``--workers 1``)."""

    name = "inprocess"

    def __init__(self, threads: int = 1) -> None:
        """Args: threads: math-library threads for this process."""
        self.threads = threads

    def run(self, chunks: Iterator[Chunk], sink: Sink, should_stop: StopFn) -> None:
        """Run every chunk until ``should_stop()`` (math threads capped meanwhile, restored after)."""
        restore = limit_threads(self.threads)
        try:
            for chunk in chunks:
                if should_stop():
                    return
                run_chunk(chunk, sink)
        finally:
            restore()


# Set in each pool worker by its initializer: the queue that carries payloads back to the runner.
_QUEUE: Any = None


def _pool_init(q: Any, threads: int, parent: int) -> None:
    global _QUEUE
    _QUEUE = q
    init_worker(threads, parent)


def _pool_run(chunk: Chunk) -> int:
    return run_chunk(chunk, _QUEUE.put)


class LocalPoolBackend:
    """A pool of ``workers`` local processes (``spawn`` start method); episodes stream back as they finish."""

    name = "local"

    def __init__(self, workers: int, threads: int = 1) -> None:
        """Args: workers: processes; threads: math-library threads per process."""
        self.workers = workers
        self.threads = threads

    def run(self, chunks: Iterator[Chunk], sink: Sink, should_stop: StopFn) -> None:
        """Run the chunks on the pool, at most ``2 * workers`` submitted at a time."""
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=ctx, initializer=_pool_init, initargs=(q, self.threads, os.getpid())
        )
        expected: dict[int, int] = {}
        received: dict[int, int] = {}
        running: dict[Future, int] = {}
        failure: BaseException | None = None
        try:
            exhausted = False
            while True:
                while not exhausted and len(running) < 2 * self.workers and not should_stop():
                    chunk = next(chunks, None)
                    if chunk is None:
                        exhausted = True
                        break
                    expected[chunk.id] = len(chunk.refs)
                    received.setdefault(chunk.id, 0)
                    running[pool.submit(_pool_run, chunk)] = chunk.id
                self._drain(q, sink, received, timeout=0.05)
                finished = [f for f in running if f.done()]
                for f in finished:
                    cid = running.pop(f)
                    exc = f.exception()
                    if exc is not None:
                        failure = exc
                        expected[cid] = received.get(cid, 0)
                if failure is not None:
                    break
                if not running and (exhausted or should_stop()):
                    break
                if running and not finished:
                    wait(list(running), timeout=0.05, return_when=FIRST_COMPLETED)
            # Collect what finished chunks put on the queue after their futures completed.
            for _ in range(200):
                if all(received.get(c, 0) >= n for c, n in expected.items() if c not in running.values()):
                    break
                self._drain(q, sink, received, timeout=0.05)
        except BaseException:
            self._terminate(pool)
            raise
        finally:
            pool.shutdown(wait=failure is None, cancel_futures=True)
        if failure is not None:
            self._terminate(pool)
            detail = "a worker process died" if isinstance(failure, BrokenProcessPool) else "a worker failed"
            raise BackendError(
                f"{detail} ({type(failure).__name__}: {failure}). The episodes recorded so far are intact; rerun "
                "with --resume to finish the run."
            ) from failure

    @staticmethod
    def _drain(q: Any, sink: Sink, received: dict[int, int], *, timeout: float) -> None:
        block = True
        while True:
            try:
                payload = q.get(block, timeout) if block else q.get_nowait()
            except queue_mod.Empty:
                return
            block = False
            received[payload[0]] = received.get(payload[0], 0) + 1
            sink(payload)

    @staticmethod
    def _terminate(pool: ProcessPoolExecutor) -> None:
        for proc in list(getattr(pool, "_processes", {}).values() or []):
            with contextlib.suppress(Exception):
                proc.terminate()
        with contextlib.suppress(Exception):
            pool.shutdown(wait=False, cancel_futures=True)


def _ray_chunk(chunk: Chunk) -> list[Payload]:
    out: list[Payload] = []
    limit_threads(1)
    run_chunk(chunk, out.append)
    return out


class RayBackend:
    """Runs chunks as Ray tasks (``pip install "toolgym[ray]"``).

    Connects to ``address`` (or ``$RAY_ADDRESS``) when given, else starts a local Ray instance with ``workers``
    CPUs (and shuts it down at the end). Episodes come back per chunk.
    """

    name = "ray"

    def __init__(self, workers: int, address: str | None = None) -> None:
        """Args: workers: tasks in flight (and CPUs of a local instance); address: a cluster to join."""
        self.workers = workers
        self.address = address or os.environ.get("RAY_ADDRESS") or None

    def run(self, chunks: Iterator[Chunk], sink: Sink, should_stop: StopFn) -> None:
        """Run the chunks as Ray tasks, at most ``2 * workers`` in flight."""
        ray: Any = require("ray", "ray", "The ray backend")
        started = False
        if not ray.is_initialized():
            env_vars = {
                k: v
                for k, v in os.environ.items()
                if k.startswith("TOOLGYM_") or k in ("OMP_NUM_THREADS", "PYTHONPATH")
            }
            env_vars.setdefault("OMP_NUM_THREADS", "1")
            env_vars["TOKENIZERS_PARALLELISM"] = "false"
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "runtime_env": {"env_vars": env_vars},
            }
            if self.address:
                kwargs["address"] = self.address
            else:
                kwargs["num_cpus"] = self.workers
            try:
                ray.init(**kwargs)
            except Exception as exc:
                raise BackendError(
                    f"starting Ray ({'address ' + self.address if self.address else 'local'}) failed: {exc}"
                ) from exc
            started = True
        remote = ray.remote(num_cpus=1, max_retries=0)(_ray_chunk)
        pending: list[Any] = []
        try:
            exhausted = False
            while True:
                while not exhausted and len(pending) < 2 * self.workers and not should_stop():
                    chunk = next(chunks, None)
                    if chunk is None:
                        exhausted = True
                        break
                    pending.append(remote.remote(chunk))
                if not pending:
                    break
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    try:
                        payloads = ray.get(ref)
                    except Exception as exc:
                        raise BackendError(
                            f"a Ray task failed ({type(exc).__name__}: {exc}). The episodes recorded so far are "
                            "intact; rerun with --resume to finish the run."
                        ) from exc
                    for p in payloads:
                        sink(p)
        finally:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            if started:
                ray.shutdown()


BACKENDS = ("local", "ray")


def make_backend(name: str, workers: int, *, ray_address: str | None = None) -> Any:
    """The backend called ``name`` (``"local"``: in-process for one worker, else a process pool; ``"ray"``)."""
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers: expected a positive integer, got {workers!r}.")
    if name == "local":
        return InProcessBackend() if workers == 1 else LocalPoolBackend(workers)
    if name == "ray":
        return RayBackend(workers, ray_address)
    raise ConfigError(f"backend: expected one of {list(BACKENDS)}, got {name!r}.")
