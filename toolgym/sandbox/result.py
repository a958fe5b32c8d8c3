"""What a sandbox enforces (:class:`Limits`) and what one execution reports (:class:`ExecResult`)."""

from __future__ import annotations

import errno as errno_mod
import signal as signal_mod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from toolgym.error import ConfigError

__all__ = ["LIMIT_NAMES", "STATUSES", "ExecResult", "Limits"]

#: The values of :attr:`ExecResult.limit`: which limit stopped an execution.
LIMIT_NAMES = (
    "wall_time",
    "cpu_time",
    "memory",
    "output",
    "processes",
    "file_size",
    "open_files",
    "disk_space",
    "code_size",
)

#: The values of :attr:`ExecResult.status`.
STATUSES = ("ok", "error", "timeout", "killed", "exited", "rejected", "sandbox_error")

Status = Literal["ok", "error", "timeout", "killed", "exited", "rejected", "sandbox_error"]


@dataclass(frozen=True)
class Limits:
    """Resource limits of a sandbox, applied to every execution.

    ``wall_s`` is enforced by the worker (the execution's process group and every process it left are
    killed); ``cpu_s``, ``memory_mb``, ``processes``, ``file_size_mb``, ``open_files`` and ``stack_mb`` are
    ``setrlimit`` limits of the execution's processes (per process; ``processes`` counts the sandbox
    user's processes); ``output_bytes`` is how much of stdout and of stderr is kept, and past
    ``output_limit_bytes`` of output in total the execution is killed. ``scratch_mb`` and ``shm_mb`` size
    the private ``/tmp`` and ``/dev/shm`` of the ``bwrap`` and ``docker`` backends. ``max_code_bytes``
    rejects larger programs before they run. ``None`` (or 0) switches a limit off.

    Attributes:
        wall_s: Wall-clock seconds per execution.
        cpu_s: CPU seconds per process (SIGXCPU, then SIGKILL one second later).
        memory_mb: Address space per process (``RLIMIT_AS``), in MiB.
        processes: Processes of the sandbox user (``RLIMIT_NPROC``), which stops fork bombs.
        file_size_mb: Largest file a process may write (``RLIMIT_FSIZE``), in MiB.
        open_files: Open file descriptors per process (``RLIMIT_NOFILE``).
        stack_mb: Stack size (``RLIMIT_STACK``), in MiB; ``None`` keeps the system default.
        output_bytes: Bytes of stdout and of stderr kept in the result (the rest is counted, not kept).
        output_limit_bytes: Total output after which the execution is killed.
        scratch_mb: Size of the private ``/tmp`` (bwrap, docker).
        shm_mb: Size of the private ``/dev/shm`` (bwrap, docker).
        max_code_bytes: Longest program accepted.
        max_value_chars: Longest ``repr`` of the last expression (and exception message) kept.
        max_traceback_chars: Longest traceback kept (the end of it is kept).
    """

    wall_s: float = 10.0
    cpu_s: float | None = 10.0
    memory_mb: int | None = 1024
    processes: int | None = 32
    file_size_mb: float | None = 16.0
    open_files: int | None = 256
    stack_mb: int | None = None
    output_bytes: int = 65_536
    output_limit_bytes: int = 8 << 20
    scratch_mb: int = 64
    shm_mb: int = 16
    max_code_bytes: int = 2_000_000
    max_value_chars: int = 4_000
    max_traceback_chars: int = 8_000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name not in ("wall_s", "output_bytes", "output_limit_bytes"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
                raise ConfigError(f"Limits.{f.name}: expected a non-negative number, got {value!r}.")
        if self.wall_s <= 0:
            raise ConfigError(f"Limits.wall_s: expected a positive number of seconds, got {self.wall_s!r}.")

    @classmethod
    def coerce(cls, value: Limits | Mapping[str, Any] | None) -> Limits:
        """Build Limits from Limits, a mapping of fields (others keep their defaults) or ``None``."""
        if value is None:
            return cls()
        if isinstance(value, Limits):
            return value
        if isinstance(value, Mapping):
            names = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - names)
            if unknown:
                from toolgym.error import did_you_mean

                raise ConfigError(
                    f"Limits: expected fields among {sorted(names)}, got {unknown}." + did_you_mean(unknown[0], names)
                )
            return cls(**dict(value))
        raise ConfigError(f"Limits: expected a Limits, a mapping of its fields or None, got {value!r}.")

    def with_(self, **changes: Any) -> Limits:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_worker(self) -> dict[str, Any]:
        """The limits as the worker reads them."""
        return asdict(self)


_ERRNO_LIMITS = {
    errno_mod.EFBIG: "file_size",
    errno_mod.EMFILE: "open_files",
    errno_mod.ENFILE: "open_files",
    errno_mod.ENOSPC: "disk_space",
    errno_mod.EDQUOT: "disk_space",
}


@dataclass(frozen=True)
class ExecResult:
    """The outcome of one execution in a sandbox.

    Attributes:
        status: ``"ok"`` (ran to the end), ``"error"`` (raised an exception, including ``SystemExit``),
            ``"timeout"`` (stopped by the wall-clock limit), ``"killed"`` (ended by a signal: CPU limit,
            output limit, crash), ``"exited"`` (the process ended without finishing, e.g. ``os._exit``),
            ``"rejected"`` (not run: too large) or ``"sandbox_error"`` (the sandbox itself failed; it
            restarts on the next call).
        stdout: What the code printed (the first ``Limits.output_bytes`` bytes, decoded as UTF-8).
        stderr: What the code wrote to stderr (same cap).
        exception: The exception's type name (``"ZeroDivisionError"``; qualified when not a builtin), or
            ``None``.
        message: The exception's message (or why the execution was rejected / failed).
        traceback: The formatted traceback of the user's code (the end is kept when it is long).
        value: ``repr`` of the value of the code's last line when it is an expression and not ``None``
            (as in a REPL), else ``None``.
        exit_code: The exit status (``sys.exit(n)`` or ``os._exit(n)``), when the process exited.
        signal: The name of the signal that ended the process (``"SIGKILL"``, ``"SIGXCPU"``...), or ``None``.
        limit: Which limit stopped it (one of :data:`LIMIT_NAMES`), or ``None``.
        wall_s: Wall-clock seconds inside the sandbox, from fork to the end of the execution.
        cpu_s: CPU seconds used by the execution's process.
        stdout_bytes: Bytes written to stdout in total (more than ``len(stdout)`` when cut).
        stderr_bytes: Bytes written to stderr in total.
        persisted: In a session, whether the execution's state was kept (it completed, with or without
            an exception). A timed-out or crashed execution leaves the session as it was before it.
        backend: The backend that ran it.
        note: Extra information (e.g. that a session was lost and restored).
    """

    status: Status
    stdout: str = ""
    stderr: str = ""
    exception: str | None = None
    message: str = ""
    traceback: str = ""
    value: str | None = None
    exit_code: int | None = None
    signal: str | None = None
    limit: str | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    persisted: bool = False
    backend: str = ""
    note: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        """Whether the code ran to the end without an exception."""
        return self.status == "ok"

    @property
    def timed_out(self) -> bool:
        """Whether the wall-clock limit stopped it."""
        return self.status == "timeout"

    @property
    def truncated(self) -> bool:
        """Whether stdout or stderr was cut."""
        return self.stdout_bytes > len(self.stdout.encode("utf-8", "replace")) or self.stderr_bytes > len(
            self.stderr.encode("utf-8", "replace")
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (without ``extra``)."""
        d = asdict(self)
        d.pop("extra", None)
        return d

    @classmethod
    def from_worker(cls, raw: Mapping[str, Any], backend: str, limits: Limits) -> ExecResult:
        """Interpret the worker's reply (see ``_worker.py``)."""
        if raw.get("status") in ("rejected", "session_lost"):
            return cls(
                status="rejected" if raw["status"] == "rejected" else "sandbox_error",
                message=str(raw.get("message", "")),
                limit=raw.get("limit"),
                backend=backend,
                extra={"not_run": True, "session_lost": raw["status"] == "session_lost"},
            )
        exception = raw.get("exception")
        sig_num = raw.get("signal")
        sig = _signal_name(sig_num) if sig_num is not None else None
        limit = raw.get("limit")
        completed = bool(raw.get("completed"))
        exit_code = raw.get("exit_code")
        if limit == "wall_time":
            status: Status = "timeout"
        elif limit == "output":
            status = "killed"
        elif completed:
            status = "error" if exception else "ok"
        elif sig is not None:
            status = "killed"
        else:
            status = "exited"
        cpu = float(raw.get("cpu_s") or 0.0)
        if limit is None:
            if sig in ("SIGXCPU",) or (sig == "SIGKILL" and limits.cpu_s and cpu >= limits.cpu_s):
                limit = "cpu_time"
            elif exception == "MemoryError":
                limit = "memory"
            elif exception and raw.get("errno") in _ERRNO_LIMITS:
                limit = _ERRNO_LIMITS[raw["errno"]]
            elif exception == "BlockingIOError" and raw.get("errno") == errno_mod.EAGAIN:
                limit = "processes"
        message = str(raw.get("message") or "")
        return cls(
            status=status,
            stdout=str(raw.get("stdout", "")),
            stderr=str(raw.get("stderr", "")),
            exception=exception,
            message=message,
            traceback=str(raw.get("traceback") or ""),
            value=raw.get("value"),
            exit_code=exit_code if isinstance(exit_code, int) else None,
            signal=sig,
            limit=limit,
            wall_s=float(raw.get("wall_s") or 0.0),
            cpu_s=cpu,
            stdout_bytes=int(raw.get("stdout_bytes") or 0),
            stderr_bytes=int(raw.get("stderr_bytes") or 0),
            persisted=bool(raw.get("persisted")),
            backend=backend,
            note=str(raw.get("status_note") or ""),
            extra={k: raw[k] for k in ("maxrss_kb", "exec_s", "session_lost") if k in raw},
        )

    @classmethod
    def failure(cls, backend: str, message: str) -> ExecResult:
        """A result for an execution the sandbox could not carry out."""
        return cls(status="sandbox_error", message=message, backend=backend)

    def summary(self) -> str:
        """One line: how the execution ended (``"ok"``, ``"ZeroDivisionError: division by zero"``...)."""
        if self.status == "ok":
            return "ok"
        if self.status == "error":
            return f"{self.exception}: {self.message}" if self.message else str(self.exception)
        if self.status == "timeout":
            return "stopped: wall-clock time limit reached"
        if self.status == "killed":
            what = {
                "cpu_time": "CPU time limit reached",
                "output": "output limit reached",
                "memory": "memory limit reached",
            }.get(self.limit or "", f"killed by {self.signal}")
            return f"stopped: {what}"
        if self.status == "exited":
            return f"the process exited with status {self.exit_code} before the code finished"
        if self.status == "rejected":
            return f"not run: {self.message}"
        return f"sandbox error: {self.message}"


def _signal_name(num: Any) -> str | None:
    try:
        return signal_mod.Signals(int(num)).name
    except (ValueError, TypeError):
        return f"signal {num}"
