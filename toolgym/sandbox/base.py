"""The host side of every sandbox backend: :class:`Sandbox` (a warm worker) and :class:`Session`.

A backend only says how to start the worker process (``_spawn``) and where it can write; everything else
- the request protocol, timeouts, restarts after a crash, sessions and their replay - lives here.
"""

from __future__ import annotations

import json
import logging
import os
import select
import struct
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from toolgym.error import ConfigError, ToolgymError
from toolgym.sandbox.result import ExecResult, Limits

__all__ = ["DEFAULT_PRELOAD", "Sandbox", "SandboxError", "Session", "worker_source"]

logger = logging.getLogger(__name__)

_HDR = struct.Struct(">I")
#: Seconds the host waits beyond an execution's own wall-clock limit before it declares the worker hung.
_REPLY_SLACK_S = 10.0

#: Modules the worker imports once, before it forks executions: what HumanEval/MBPP-style programs import
#: most (``from typing import List`` alone costs about 3 ms per execution when not preloaded). Each
#: preloaded module also makes every fork a little more expensive, so the set is kept small; pass
#: ``preload=(..., "numpy")`` when most executions import something heavier.
DEFAULT_PRELOAD: tuple[str, ...] = (
    "typing",
    "math",
    "re",
    "collections",
    "itertools",
    "functools",
    "heapq",
    "string",
    "bisect",
    "copy",
    "operator",
    "random",
    "json",
)


class SandboxError(ToolgymError, RuntimeError):
    """A sandbox could not be started (the backend is unavailable or misconfigured)."""


def worker_source() -> str:
    """The source of the worker program that runs inside every sandbox."""
    return (Path(__file__).with_name("_worker.py")).read_text(encoding="utf-8")


class Transport(Protocol):
    """A byte channel to the worker process."""

    def send(self, data: bytes) -> None:
        """Write all of ``data`` (raises OSError when the worker is gone)."""
        ...

    def recv_exact(self, n: int, deadline: float) -> bytes:
        """Read exactly ``n`` bytes before ``deadline`` (``time.monotonic()``); raise TimeoutError/EOFError."""
        ...

    def alive(self) -> bool:
        """Whether the worker process is still running."""
        ...

    def kill(self) -> None:
        """Kill the worker and everything the backend can reach (idempotent)."""
        ...

    def wait(self, timeout: float) -> bool:
        """Wait for the worker to exit; return whether it did."""
        ...

    def stderr_tail(self) -> str:
        """The end of the worker's stderr (for error messages)."""
        ...


class _WorkerGone(Exception):
    """The worker did not answer (died, hung, or sent garbage)."""


class _Holder:
    """The live transport, shared with the finalizer (which must not reference the Sandbox)."""

    def __init__(self) -> None:
        self.transport: Transport | None = None
        self.cleanups: list[Any] = []
        self.owner = os.getpid()  # a forked copy of the host must not touch the original's worker


def _finalize(holder: _Holder) -> None:
    if holder.owner != os.getpid():
        return
    t, holder.transport = holder.transport, None
    if t is not None:
        try:
            t.kill()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass
    for fn in holder.cleanups:
        try:
            fn()
        except Exception:  # noqa: BLE001
            pass


class Sandbox:
    """A warm sandbox: a worker process that forks one isolated child per execution.

    Use :func:`toolgym.sandbox.create_sandbox` to get one (it picks the strongest available
    backend), or a backend class directly. The worker starts on the first call (or :meth:`start`); if it
    dies (killed by hostile code, a crash), the call that noticed returns a ``"sandbox_error"`` result and
    the next call starts a fresh worker (sessions are restored by replaying their history).

    Example:
        >>> from toolgym.sandbox import ProcessSandbox
        >>> with ProcessSandbox() as sb:
        ...     r = sb.run("print(6 * 7)")
        >>> r.status, r.stdout
        ('ok', '42\\n')

    Args:
        limits: The resource limits of every execution (:class:`Limits`, a mapping of its fields, or
            ``None`` for the defaults).
        preload: Modules the worker imports before forking (faster executions that use them; see
            :data:`DEFAULT_PRELOAD`). Modules that fail to import are skipped and listed in :attr:`info`.
        python: The interpreter that runs inside the sandbox (default: the host's ``sys.executable``, so
            the host's installed packages are importable, read-only).
        share: Python packages whose folders are made visible (read-only) inside filesystem-isolating
            backends besides the interpreter's own ``site-packages`` (default: ``("toolgym",)``).
        extra_paths: More folders to make visible read-only and to put on ``sys.path``.
        env: Extra environment variables for the code (the host's environment is never passed on).
        user: The uid the code runs as. ``"auto"`` (default): when the host runs as root, a dedicated
            unprivileged uid per sandbox (so process limits apply and the code cannot signal the worker);
            otherwise the host's own uid. An int forces that uid (root hosts only); ``None`` never drops.
        startup_timeout_s: How long to wait for the worker to start.
    """

    #: The backend's name (``"process"``, ``"bwrap"``, ``"docker"``).
    name: ClassVar[str] = "base"

    def __init__(
        self,
        *,
        limits: Limits | Mapping[str, Any] | None = None,
        preload: Sequence[str] = DEFAULT_PRELOAD,
        python: str | None = None,
        share: Sequence[str] = ("toolgym",),
        extra_paths: Sequence[str | os.PathLike[str]] = (),
        env: Mapping[str, str] | None = None,
        user: int | str | None = "auto",
        startup_timeout_s: float = 60.0,
    ) -> None:
        """Configure the sandbox (nothing starts until the first call)."""
        import sys

        self.limits = Limits.coerce(limits)
        self.preload = tuple(preload)
        self.python = python or sys.executable
        self.share = tuple(share)
        self.extra_paths = tuple(os.fspath(p) for p in extra_paths)
        self.env = dict(env or {})
        bad = [k for k, v in self.env.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:
            raise ConfigError(f"env: expected a mapping of str to str, got {bad[0]!r}.")
        if user not in ("auto", None) and not (isinstance(user, int) and not isinstance(user, bool) and user > 0):
            raise ConfigError(f"user: expected 'auto', None or a positive uid, got {user!r}.")
        self.user = user
        self.startup_timeout_s = float(startup_timeout_s)
        self._lock = threading.RLock()
        self._holder = _Holder()
        self._finalizer = weakref.finalize(self, _finalize, self._holder)
        self._generation = 0
        self._next_id = 0
        self._info: dict[str, Any] = {}
        self._closed = False
        self._uid: int | None = None
        self._session_counter = 0

    # ------------------------------------------------------------------ backend hooks
    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """``(available, reason)``: whether this backend can run here, and why not."""
        return False, "the base class is not a backend"

    @classmethod
    def available(cls) -> bool:
        """Whether this backend can run here."""
        return cls.availability()[0]

    def _spawn(self, config: dict[str, Any]) -> Transport:
        """Start the worker with ``config`` (its argv JSON) and return the channel to it."""
        raise NotImplementedError

    def _scratch_root(self) -> str:
        """Where the worker creates scratch folders (a path as the worker sees it)."""
        raise NotImplementedError

    def _sweep_dirs(self) -> list[str]:
        """Shared writable folders the worker cleans of the sandbox user's files after each execution."""
        return []

    def _sweep_keep(self) -> list[str]:
        """Entries of the swept folders that belong to the sandbox itself (never removed)."""
        return []

    def _forget_resources(self) -> None:
        """Drop references to host resources owned by the original process (after a fork of the host)."""

    def _private_dirs(self) -> bool:
        """Whether the swept folders are private to this sandbox (then anything new in them is removed)."""
        return False

    def _drop_uid(self) -> int | None:
        """The uid the code runs as, or None to keep the worker's (see the ``user`` argument)."""
        if self.user is None:
            return None
        if isinstance(self.user, int):
            return self.user
        if os.geteuid() != 0:
            return None
        if self._uid is None:
            # A dedicated uid per sandbox: its process count and files belong to this sandbox alone.
            self._uid = 2_000_000_000 + int.from_bytes(os.urandom(3), "big")
        return self._uid

    # ------------------------------------------------------------------ lifecycle
    @property
    def info(self) -> dict[str, Any]:
        """What the worker reported at start-up (pid, uids, Python version, preloaded modules)."""
        return dict(self._info)

    def _adopt_after_fork(self) -> None:
        """In a forked copy of the host process: forget the original's worker (a new one starts when needed)."""
        if self._holder.owner != os.getpid():
            self._holder = _Holder()
            self._finalizer = weakref.finalize(self, _finalize, self._holder)
            self._lock = threading.RLock()
            self._generation += 1  # sessions are rebuilt in the new worker
            self._uid = None  # its own uid (cleanups kill by uid) and its own folders
            self._forget_resources()

    @property
    def alive(self) -> bool:
        """Whether the worker is running."""
        self._adopt_after_fork()
        t = self._holder.transport
        return t is not None and t.alive()

    def start(self) -> Sandbox:
        """Start the worker now (otherwise the first call does). Returns ``self``.

        Raises:
            SandboxError: The backend is unavailable or the worker did not start.
        """
        self._adopt_after_fork()
        with self._lock:
            if self._closed:
                raise SandboxError(
                    f"{type(self).__name__}: expected an open sandbox, got a closed one. Create a new one."
                )
            if self._holder.transport is not None and self._holder.transport.alive():
                return self
            self._kill()
            ok, reason = self.availability()
            if not ok:
                raise SandboxError(f"the {self.name!r} sandbox backend is not available here: {reason}")
            uid = self._drop_uid()
            config = {
                "uid": uid,
                "gid": uid,
                "limits": self.limits.to_worker(),
                "scratch_root": self._scratch_root(),
                "preload": list(self.preload),
                "sys_path": list(self.extra_paths),
                "sweep_dirs": self._sweep_dirs() if (uid is not None or self._private_dirs()) else [],
                "sweep_any_owner": self._private_dirs(),
                "sweep_keep": self._sweep_keep(),
                "nproc_base": _count_own_processes() if (uid is None and self.limits.processes) else 0,
            }
            transport = self._spawn(config)
            self._holder.transport = transport
            try:
                self._info = self._request({"op": "hello"}, time.monotonic() + self.startup_timeout_s)
            except _WorkerGone as exc:
                tail = transport.stderr_tail()
                self._kill()
                raise SandboxError(
                    f"the {self.name!r} sandbox worker did not start: {exc}."
                    + (f" Its stderr ends with: {tail}" if tail else "")
                ) from None
            self._generation += 1
            logger.debug("%s sandbox started: %s", self.name, self._info)
            return self

    def processes(self) -> dict[str, Any]:
        """The worker's own view of its processes: spare, holders, session spares, factory (pids as seen inside).

        For diagnostics and tests: every other process of the sandbox is left over from an execution and
        is killed before the next request is handled.
        """
        with self._lock:
            self.start()
            try:
                reply = self._request({"op": "status"}, time.monotonic() + 30.0)
            except _WorkerGone as exc:
                raise SandboxError(f"the sandbox worker did not answer: {exc}") from None
            return {k: reply.get(k) for k in ("spare", "holders", "session_spares", "factory")}

    def close(self) -> None:
        """Stop the worker and every process it started (idempotent)."""
        self._adopt_after_fork()
        with self._lock:
            self._closed = True
            t = self._holder.transport
            if t is not None and t.alive():
                try:
                    self._request({"op": "shutdown"}, time.monotonic() + 10.0)
                except _WorkerGone:
                    pass
                t.wait(5.0)
            self._kill()
            self._finalizer()

    def _kill(self) -> None:
        t, self._holder.transport = self._holder.transport, None
        if t is not None:
            t.kill()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> Any:
        raise TypeError(f"{type(self).__name__} holds a live process and cannot be pickled; pickle its config instead.")

    # ------------------------------------------------------------------ protocol
    def _request(self, msg: dict[str, Any], deadline: float) -> dict[str, Any]:
        t = self._holder.transport
        if t is None:
            raise _WorkerGone("the worker is not running")
        self._next_id += 1
        msg = dict(msg, id=self._next_id)
        body = json.dumps(msg, ensure_ascii=True).encode("ascii")
        try:
            t.send(_HDR.pack(len(body)) + body)
            head = t.recv_exact(_HDR.size, deadline)
            reply = json.loads(t.recv_exact(_HDR.unpack(head)[0], deadline).decode("utf-8"))
        except (OSError, EOFError, TimeoutError, ValueError) as exc:
            self._kill()
            raise _WorkerGone(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
        if not isinstance(reply, dict) or reply.get("id") != msg["id"]:
            self._kill()
            raise _WorkerGone("the worker's reply did not match the request")
        if "error" in reply:
            raise SandboxError(f"the sandbox worker reported: {reply['error']}")
        return reply

    def _call(self, msg: dict[str, Any], timeout: float) -> dict[str, Any] | ExecResult:
        """Send a request, starting the worker if needed; a dead worker becomes a failure result."""
        self._adopt_after_fork()
        with self._lock:
            try:
                self.start()
            except SandboxError as exc:
                return ExecResult.failure(self.name, str(exc))
            try:
                return self._request(msg, time.monotonic() + timeout + _REPLY_SLACK_S)
            except _WorkerGone as exc:
                return ExecResult.failure(
                    self.name, f"the sandbox worker stopped answering ({exc}); it restarts on the next call"
                )

    # ------------------------------------------------------------------ executions
    def run(self, code: str, *, timeout: float | None = None) -> ExecResult:
        """Run ``code`` in a fresh process forked from the clean template (nothing persists).

        Args:
            code: Python source.
            timeout: Wall-clock seconds for this execution (default ``limits.wall_s``; the CPU limit is
                lowered to match when it is smaller).

        Returns:
            The :class:`ExecResult`. Never raises for anything the code does.
        """
        return self._run(code, session=None, timeout=timeout, persist=False, filename="<code>")

    def _run(
        self, code: str, *, session: str | None, timeout: float | None, persist: bool, filename: str
    ) -> ExecResult:
        if isinstance(code, (bytes, bytearray)):
            code = bytes(code).decode("utf-8", "replace")
        if not isinstance(code, str):
            return ExecResult(status="rejected", message=f"expected code as str, got {type(code).__name__}")
        if self.limits.max_code_bytes and len(code) > self.limits.max_code_bytes:
            return ExecResult(
                status="rejected",
                limit="code_size",
                message=f"the code has {len(code)} characters; the limit is {self.limits.max_code_bytes}",
                backend=self.name,
            )
        wall = float(timeout) if timeout else self.limits.wall_s
        if wall <= 0:
            raise ConfigError(f"timeout: expected a positive number of seconds, got {timeout!r}.")
        msg = {"op": "run", "code": code, "timeout": wall, "session": session, "persist": persist}
        msg["filename"] = filename
        reply = self._call(msg, wall)
        if isinstance(reply, ExecResult):
            return reply
        return ExecResult.from_worker(reply, self.name, self.limits)

    def session(self) -> Session:
        """A new interactive session: executions share their globals (see :class:`Session`)."""
        return Session(self)

    def _open_session(self) -> tuple[str, int]:
        with self._lock:
            self.start()
            self._session_counter += 1
            sid = f"s{self._session_counter}"
            try:
                self._request({"op": "open", "session": sid}, time.monotonic() + 30.0)
            except _WorkerGone as exc:
                raise SandboxError(f"could not open a session: {exc}") from None
            return sid, self._generation

    def _close_session(self, sid: str, generation: int) -> None:
        with self._lock:
            if generation != self._generation or self._holder.transport is None:
                return
            try:
                self._request({"op": "close", "session": sid}, time.monotonic() + 30.0)
            except (_WorkerGone, SandboxError):
                pass


class Session:
    """Executions that share state, like a REPL or a notebook kernel.

    Each :meth:`run` forks the session's current state, runs the code there, and - when the code
    completes, with or without an exception - the fork becomes the session's new state. A timed-out,
    killed or crashed execution leaves the session exactly as it was before it. :attr:`history` lists the
    executions that changed the state, in order; :meth:`replay` rebuilds a session from such a list (this
    is how environment snapshots restore a session, and how a session survives a worker restart).

    Example:
        >>> from toolgym.sandbox import ProcessSandbox
        >>> with ProcessSandbox() as sb:
        ...     s = sb.session()
        ...     _ = s.run("x = 20")
        ...     r = s.run("x + 22")
        >>> r.value
        '42'
    """

    def __init__(self, sandbox: Sandbox) -> None:
        """Create a session (it opens in the worker on the first run)."""
        self.sandbox = sandbox
        self._sid: str | None = None
        self._generation = -1
        self._history: list[str] = []
        self._closed = False

    @property
    def history(self) -> tuple[str, ...]:
        """The code of every execution whose state the session kept, in order."""
        return tuple(self._history)

    def _ensure_open(self) -> None:
        if self._closed:
            raise SandboxError("this session is closed; open a new one with sandbox.session()")
        if self._sid is not None and self._generation == self.sandbox._generation and self.sandbox.alive:
            return
        history, self._history = self._history, []
        self._sid, self._generation = self.sandbox._open_session()
        if history:
            logger.info("restoring a session by replaying %d executions", len(history))
            self._replay(history)

    def run(self, code: str, *, timeout: float | None = None, persist: bool = True) -> ExecResult:
        """Run ``code`` in the session.

        Args:
            code: Python source.
            timeout: Wall-clock seconds (default ``limits.wall_s``).
            persist: Keep the resulting state (default). ``False`` runs the code on a throwaway copy of the
                state (e.g. to run tests against the current definitions).

        Returns:
            The :class:`ExecResult`; ``result.persisted`` tells whether the state changed.
        """
        try:
            self._ensure_open()
        except SandboxError as exc:
            return ExecResult.failure(self.sandbox.name, str(exc))
        for attempt in range(2):
            res = self._exec(code, timeout=timeout, persist=persist)
            if res.status == "sandbox_error" or res.extra.get("session_lost"):
                self._sid = None  # re-opened (and replayed) on the next run
            if not (res.extra.get("not_run") and attempt == 0):
                return res
            try:  # the session was gone before the code ran: restore it and run the code once more
                self._ensure_open()
            except SandboxError as exc:
                return ExecResult.failure(self.sandbox.name, str(exc))
        return res

    def _exec(self, code: str, *, timeout: float | None, persist: bool) -> ExecResult:
        """Run ``code`` in the session once; the history records it when the state kept it."""
        res = self.sandbox._run(
            code, session=self._sid, timeout=timeout, persist=persist, filename=f"<exec-{len(self._history) + 1}>"
        )
        if res.persisted:
            self._history.append(code)
        return res

    def _replay(self, history: Iterable[str]) -> list[ExecResult]:
        results = []
        for code in history:
            res = self._exec(code, timeout=None, persist=True)
            results.append(res)
            if not res.persisted:
                logger.warning("replaying a session: an execution did not complete this time (%s)", res.summary())
                if res.status == "sandbox_error":
                    break
        return results

    def replay(self, history: Sequence[str]) -> list[ExecResult]:
        """Discard the current state and rebuild it by running ``history`` in a fresh session.

        Returns:
            The results of the replayed executions (normally all ``persisted``).
        """
        self.reset()
        try:
            self._ensure_open()
        except SandboxError as exc:
            return [ExecResult.failure(self.sandbox.name, str(exc))]
        return self._replay(history)

    def reset(self) -> None:
        """Discard the state: the next run starts from the clean template."""
        if self._sid is not None:
            self.sandbox._close_session(self._sid, self._generation)
        self._sid = None
        self._history = []

    def close(self) -> None:
        """Close the session and free its processes and scratch folder (idempotent)."""
        if not self._closed:
            self.reset()
            self._closed = True

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _count_own_processes() -> int:
    """Processes of this uid (RLIMIT_NPROC counts them all, so a non-root sandbox adds its limit to it)."""
    uid = os.getuid()
    n = 0
    try:
        names = os.listdir("/proc")
    except OSError:
        return 0
    for name in names:
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid == uid:
                n += 1
        except OSError:
            continue
    return n


class PipeTransport:
    """The channel to a worker started with :class:`subprocess.Popen` (stdin/stdout pipes)."""

    def __init__(self, proc: Any, stderr_file: Any, on_kill: Sequence[Any] = ()) -> None:
        """Wrap a started process.

        Args:
            proc: The ``Popen`` object (stdin and stdout are pipes).
            stderr_file: A file the worker's stderr goes to (read for error messages).
            on_kill: Callables run after the worker is killed (extra cleanup).
        """
        self.proc = proc
        self.stderr_file = stderr_file
        self.on_kill = list(on_kill)
        self._wfd = proc.stdin.fileno()
        self._rfd = proc.stdout.fileno()
        self._killed = False

    @classmethod
    def start(
        cls,
        prefix: Sequence[str],
        python: str,
        config: Mapping[str, Any],
        *,
        env: Mapping[str, str],
        cwd: str | None = None,
        on_kill: Sequence[Any] = (),
    ) -> PipeTransport:
        """Start the worker program (``prefix`` + ``python -s -B -c <worker> <config>``) in a new session.

        Args:
            prefix: Arguments before the interpreter (bubblewrap's), or none.
            python: The interpreter.
            config: The worker's configuration (JSON).
            env: The worker's environment.
            cwd: Its working folder.
            on_kill: Callables run after the worker is killed.
        """
        cmd = [*prefix, python, "-s", "-B", "-c", worker_source(), json.dumps(config)]
        stderr = tempfile.TemporaryFile()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            close_fds=True,
        )
        return cls(proc, stderr, on_kill)

    def send(self, data: bytes) -> None:
        """Write everything (blocking)."""
        view = memoryview(data)
        while view:
            n = os.write(self._wfd, view)
            view = view[n:]

    def recv_exact(self, n: int, deadline: float) -> bytes:
        """Read ``n`` bytes before ``deadline``."""
        chunks: list[bytes] = []
        while n > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from the worker in time")
            ready, _, _ = select.select([self._rfd], [], [], left)
            if not ready:
                continue
            b = os.read(self._rfd, min(n, 1 << 20))
            if not b:
                raise EOFError("the worker closed its output (it exited)")
            chunks.append(b)
            n -= len(b)
        return b"".join(chunks)

    def alive(self) -> bool:
        """Whether the process runs."""
        return not self._killed and self.proc.poll() is None

    def wait(self, timeout: float) -> bool:
        """Wait for the process to exit."""
        import subprocess

        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self) -> None:
        """Kill the worker's process group, close the pipes and run the extra cleanups."""
        if self._killed:
            return
        self._killed = True
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5.0)
        except Exception:  # noqa: BLE001 - a process that will not die is reported by the cleanups
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        for fn in self.on_kill:
            try:
                fn()
            except Exception:  # noqa: BLE001
                logger.exception("sandbox cleanup failed")
        try:
            self.stderr_file.close()
        except OSError:
            pass

    def stderr_tail(self) -> str:
        """The last 2,000 characters of the worker's stderr."""
        try:
            self.stderr_file.flush()
            self.stderr_file.seek(0, os.SEEK_END)
            size = self.stderr_file.tell()
            self.stderr_file.seek(max(0, size - 2000))
            return self.stderr_file.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""


def kill_uid_processes(uid: int, rounds: int = 50) -> int:
    """Kill every process of ``uid`` on this host (root only); return how many were signalled.

    The ``process`` backend gives each sandbox a dedicated uid, so this is a safe last resort when its
    worker died before it could clean up.
    """
    import signal

    total = 0
    for _ in range(rounds):
        found = 0
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/status") as fh:
                    for line in fh:
                        if line.startswith("Uid:"):
                            real = int(line.split()[1])
                            break
                    else:
                        continue
            except (OSError, ValueError):
                continue
            if real == uid:
                found += 1
                try:
                    os.kill(int(name), signal.SIGKILL)
                except OSError:
                    pass
        total += found
        if not found:
            break
        time.sleep(0.005)
    return total
