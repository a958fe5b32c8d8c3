"""The results store: a run folder with one JSON line per episode, appended atomically, and resumable.

A run folder holds::

    run.json            the suite (definition and hash), the resolved plan, provenance, status
    suite.yaml          the suite as given
    results.jsonl       one record per finished episode (see toolgym.benchmarks.records)
    trajectories.jsonl  {"key": ..., "trajectory": ..., "trials": [...]} per finished episode
    results.parquet     an export of results.jsonl (written at the end, or by `toolgym report`)
    .lock               held (flock) by the process writing to the folder

Appends are single ``write`` calls on a file opened with ``O_APPEND``; a write that fails part-way (disk
full) is rolled back by truncating the file to its previous size, so the file never holds a half record
because of an error. The result record is written after its trajectory, so it marks the episode done. The
files are ``fsync``-ed every :attr:`ResultStore.sync_interval_s` seconds and at the end (a killed process
loses nothing the OS has; ``fsync`` guards against power loss). A process killed during a write can still
leave a torn last line, and a power loss can cut the two files at different places: :meth:`ResultStore.open`
drops torn lines and keeps only episodes with both their result and their trajectory before resuming.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from toolgym.benchmarks.plan import Plan
from toolgym.error import ConfigError, ToolgymError

__all__ = [
    "META",
    "RESULTS",
    "TRAJECTORIES",
    "ResultStore",
    "RunDirError",
    "StoreError",
    "append_line",
    "read_jsonl_tolerant",
    "read_meta",
    "read_records",
]

logger = logging.getLogger(__name__)

META = "run.json"
SUITE = "suite.yaml"
RESULTS = "results.jsonl"
TRAJECTORIES = "trajectories.jsonl"
PARQUET = "results.parquet"
LOCK = ".lock"
FORMAT = 1


class StoreError(ToolgymError, OSError):
    """Reading or writing a run folder failed (disk full, permissions, a corrupt file)."""


class RunDirError(ConfigError):
    """The output folder cannot take this run (another suite's run, another writer, not a run folder)."""


def _explain(exc: OSError, path: Path, doing: str) -> str:
    if exc.errno == errno.ENOSPC:
        why = "the disk is full"
        todo = "Free some space, then rerun with --resume: the records written so far are intact"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        why = "permission denied"
        todo = "Choose an output folder you can write to (--out), or fix its permissions"
    elif exc.errno == errno.EROFS:
        why = "the file system is read-only"
        todo = "Choose an output folder on a writable file system (--out)"
    elif exc.errno == errno.EDQUOT:
        why = "the disk quota is exceeded"
        todo = "Free some space, then rerun with --resume"
    else:
        why = exc.strerror or str(exc)
        todo = "Check the folder, then rerun with --resume"
    return f"{doing} {path} failed: {why} [errno {exc.errno}]. {todo}."


def append_line(path: str | os.PathLike[str], line: str, *, fsync: bool = True) -> None:
    """Append one line (a newline is added) with one ``write``; roll back on failure.

    Raises:
        StoreError: The write failed; the file is left as it was before the call.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.jsonl"
        >>> append_line(p, '{"a": 1}'); append_line(p, '{"a": 2}')
        >>> p.read_text()
        '{"a": 1}\\n{"a": 2}\\n'
    """
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(_explain(exc, p, "opening")) from exc
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if fsync:
                os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise StoreError(_explain(exc, p, "appending to")) from exc
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StoreError(_explain(exc, path, "writing")) from exc


def read_jsonl_tolerant(path: str | os.PathLike[str], *, repair: bool = False) -> tuple[list[dict[str, Any]], int]:
    """Read a JSON-lines file, dropping a torn last line.

    Args:
        path: The file (a missing file reads as empty).
        repair: Also truncate the file to its last complete line.

    Returns:
        ``(records, dropped_bytes)``.

    Raises:
        StoreError: A complete line is not valid JSON (the file is corrupt, not merely torn).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        return [], 0
    except OSError as exc:
        raise StoreError(_explain(exc, p, "reading")) from exc
    end = data.rfind(b"\n") + 1
    dropped = len(data) - end
    if dropped and repair:
        logger.warning("%s: dropping a torn last line (%d bytes) left by an interrupted write", p, dropped)
        try:
            os.truncate(p, end)
        except OSError as exc:
            raise StoreError(_explain(exc, p, "repairing")) from exc
    out = []
    for i, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise StoreError(
                f"{p} line {i} is not valid JSON ({exc.msg}): the file was changed by something other than toolgym. "
                "Restore it from a backup or start a new run folder."
            ) from exc
    return out, dropped


def read_meta(root: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``run.json`` of a run folder.

    Raises:
        RunDirError: The folder has no ``run.json`` (not a run folder) or it is unreadable.
    """
    p = Path(root) / META
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RunDirError(
            f"{root}: expected a toolgym run folder (with {META}), got none. Run `toolgym bench SUITE --out {root}`."
        ) from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{p}: expected a readable JSON file, got {exc}.") from exc


def read_records(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every result record of a run folder (read-only; a torn last line is ignored)."""
    read_meta(root)
    return read_jsonl_tolerant(Path(root) / RESULTS)[0]


class ResultStore:
    """A run folder being written.

    Use :meth:`open` (which checks the folder against the plan, takes the lock and repairs torn lines),
    then :meth:`append` each finished episode, and :meth:`close`.

    Attributes:
        root: The folder.
        meta: The contents of ``run.json``.
        done: Keys of the episodes recorded.
    """

    #: Seconds between two ``fsync`` of the results files (see :meth:`sync`).
    sync_interval_s: float = 0.5

    def __init__(self, root: Path, meta: dict[str, Any], done: set[str], lock_fd: int) -> None:
        """Use :meth:`open`."""
        self.root = root
        self.meta = meta
        self.done = done
        self._lock_fd: int | None = lock_fd
        self._synced = time.monotonic()

    # ------------------------------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        root: str | os.PathLike[str],
        plan: Plan,
        *,
        suite_text: str,
        suite_dict: Mapping[str, Any],
        provenance: Mapping[str, Any],
        resume: bool = False,
        retry_errors: bool = False,
    ) -> ResultStore:
        """Open (or create) a run folder for ``plan``.

        Args:
            root: The folder (created when missing).
            plan: The resolved suite.
            suite_text: The suite as YAML (stored as ``suite.yaml``).
            suite_dict: The suite's definition (stored in ``run.json``).
            provenance: Git commit, package versions... (stored in ``run.json``).
            resume: Continue a run of the same suite found in the folder.
            retry_errors: With ``resume``, drop the records of episodes that ended with an error so that they
                run again.

        Raises:
            RunDirError: The folder belongs to another suite, already holds this suite's run and ``resume``
                is off, is not empty and not a run folder, or another process is writing to it.
            StoreError: The folder cannot be created or written.
        """
        path = Path(root)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(_explain(exc, path, "creating the output folder")) from exc
        meta_path = path / META
        fresh = not meta_path.exists()
        if fresh:
            leftovers = [p.name for p in path.iterdir() if not p.name.startswith(".")]  # ours: .lock, .*.tmp
            if leftovers:
                raise RunDirError(
                    f"{path}: expected an empty or new folder for a run, got a folder with other files "
                    f"({', '.join(sorted(leftovers)[:5])}). Choose another --out."
                )
        else:
            meta = read_meta(path)
            if meta.get("suite_hash") != plan.suite_hash:
                raise RunDirError(
                    f"{path} holds a run of suite {meta.get('suite')!r} (hash {meta.get('suite_hash')}); you asked for "
                    f"suite {plan.suite!r} (hash {plan.suite_hash}). A run folder belongs to one suite: choose another "
                    "--out (or delete the folder)."
                )
        lock_fd = cls._lock(path)
        try:
            if fresh:
                meta = {
                    "format": FORMAT,
                    "suite": plan.suite,
                    "suite_hash": plan.suite_hash,
                    "suite_definition": dict(suite_dict),
                    "plan": plan.to_dict(),
                    "provenance": dict(provenance),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "status": "running",
                    "episodes_planned": plan.episodes,
                }
                _write_atomic(meta_path, json.dumps(meta, indent=1, sort_keys=True))
                _write_atomic(path / SUITE, suite_text)
                return cls(path, meta, set(), lock_fd)
            records, _ = read_jsonl_tolerant(path / RESULTS, repair=True)
            if records and not resume:
                raise RunDirError(
                    f"{path} already holds a run of suite {plan.suite!r} ({len(records)}/"
                    f"{meta.get('episodes_planned')} episodes). Pass --resume to finish it, or choose another --out."
                )
            store = cls(path, meta, set(), lock_fd)
            store._reconcile(records, retry_errors=retry_errors)
            return store
        except BaseException:
            os.close(lock_fd)
            raise

    @staticmethod
    def _lock(path: Path) -> int:
        try:
            fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(_explain(exc, path / LOCK, "creating")) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise RunDirError(
                f"{path}: another toolgym process is writing to this run folder. Wait for it to finish, or "
                "choose another --out."
            ) from exc
        return fd

    def _reconcile(self, records: list[dict[str, Any]], *, retry_errors: bool) -> None:
        """Keep one record per key (dropping errored ones with ``retry_errors``) and only their trajectories."""
        keep: dict[str, dict[str, Any]] = {}
        for r in records:
            keep.setdefault(r["key"], r)
        if retry_errors:
            keep = {k: r for k, r in keep.items() if not r.get("error")}
        trajectories, _ = read_jsonl_tolerant(self.root / TRAJECTORIES, repair=True)
        # After a power loss the two files may have lost different tails: keep only complete pairs.
        with_trajectory = {t.get("key") for t in trajectories}
        keep = {k: r for k, r in keep.items() if k in with_trajectory}
        if len(keep) != len(records):
            self._rewrite(RESULTS, list(keep.values()))
        seen: set[str] = set()
        kept_traj = []
        for t in trajectories:
            if t.get("key") in keep and t["key"] not in seen:
                seen.add(t["key"])
                kept_traj.append(t)
        if len(kept_traj) != len(trajectories):
            self._rewrite(TRAJECTORIES, kept_traj)
        self.done = set(keep)

    def _rewrite(self, name: str, rows: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
        _write_atomic(self.root / name, text)

    # ------------------------------------------------------------------------------------------ writing
    def append(self, record: Mapping[str, Any], trajectory: Mapping[str, Any]) -> bool:
        """Record a finished episode: its trajectory, then its result record (which marks it done).

        Returns:
            False when the key was already recorded (nothing is written).

        Raises:
            StoreError: The disk is full or the folder not writable; the files keep their previous content.
        """
        key = str(record["key"])
        if key in self.done:
            return False
        append_line(self.root / TRAJECTORIES, json.dumps({"key": key, **trajectory}, ensure_ascii=False), fsync=False)
        append_line(self.root / RESULTS, json.dumps(dict(record), ensure_ascii=False, sort_keys=True), fsync=False)
        self.done.add(key)
        if time.monotonic() - self._synced >= self.sync_interval_s:
            self.sync()
        return True

    def sync(self) -> None:
        """Force the results files to disk (``fsync``).

        Appends reach the operating system at once, so a killed process loses nothing; ``fsync`` guards
        against a machine crash or power loss, after which :meth:`open` drops any record whose pair (result
        and trajectory) did not survive, and ``--resume`` runs it again.

        Raises:
            StoreError: The disk refused the data (full, I/O error).
        """
        for name in (TRAJECTORIES, RESULTS):
            path = self.root / name
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreError(_explain(exc, path, "opening")) from exc
            try:
                os.fsync(fd)
            except OSError as exc:
                raise StoreError(_explain(exc, path, "flushing")) from exc
            finally:
                os.close(fd)
        self._synced = time.monotonic()

    def set_status(self, status: str, **extra: Any) -> None:
        """Update ``run.json``'s status (``running``, ``complete``, ``stopped``...)."""
        self.meta.update(status=status, updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra)
        _write_atomic(self.root / META, json.dumps(self.meta, indent=1, sort_keys=True))

    def records(self) -> list[dict[str, Any]]:
        """The result records written so far."""
        return read_jsonl_tolerant(self.root / RESULTS)[0]

    def trajectories(self) -> Iterator[dict[str, Any]]:
        """The trajectory rows written so far."""
        yield from read_jsonl_tolerant(self.root / TRAJECTORIES)[0]

    def close(self) -> None:
        """Flush the results to disk and release the folder's lock."""
        if self._lock_fd is not None:
            with contextlib.suppress(StoreError):
                self.sync()
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
