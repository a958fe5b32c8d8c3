"""Which backend stops which attack: the isolation table, as data (rendered in ``docs/code.md``).

Each entry is ``(verdict, how)`` with verdict ``"stopped"``, ``"limited"`` (bounded or cleaned up, not
prevented) or ``"open"`` (not stopped). The hostile-code tests check every backend's behaviour against
these verdicts, and a test checks that ``docs/code.md`` shows this table.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["BACKEND_ORDER", "ISOLATION", "render_isolation_table"]

#: Backends from strongest to weakest (the order ``backend="auto"`` tries).
BACKEND_ORDER: tuple[str, ...] = ("docker", "bwrap", "process")

_SAME = "same as process"

#: attack -> backend -> (verdict, how).
ISOLATION: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "network: connect to a listener on 127.0.0.1": {
        "process": ("open", "no network namespace"),
        "bwrap": ("stopped", "own network namespace (no interfaces up)"),
        "docker": ("stopped", "network mode none"),
    },
    "filesystem: read host files": {
        "process": ("limited", "as root: dedicated uid, so only world-readable files (e.g. /etc/passwd)"),
        "bwrap": ("stopped", "only /usr, the interpreter and shared packages are visible, read-only"),
        "docker": ("stopped", "the image plus read-only interpreter binds"),
    },
    "filesystem: write outside the scratch folder": {
        "process": ("limited", "as root: only world-writable folders (/tmp, /dev/shm), swept after each run"),
        "bwrap": ("stopped", "read-only binds; /tmp is a private size-capped tmpfs"),
        "docker": ("stopped", "read-only root filesystem; private tmpfs"),
    },
    "environment: read the host's variables": {
        "process": ("stopped", "scrubbed environment; as root, other processes' environ is unreadable"),
        "bwrap": ("stopped", "cleared environment; own PID namespace"),
        "docker": ("stopped", "container environment only"),
    },
    "processes: fork bomb": {
        "process": ("stopped", "RLIMIT_NPROC on a dedicated uid; every leftover process killed"),
        "bwrap": ("stopped", "same, inside a PID namespace"),
        "docker": ("stopped", "same, plus the pids cgroup"),
    },
    "memory: allocate without bound": {
        "process": ("stopped", "RLIMIT_AS per process (MemoryError)"),
        "bwrap": ("stopped", _SAME),
        "docker": ("stopped", "same, plus the container's memory cgroup"),
    },
    "CPU: infinite loop": {
        "process": ("stopped", "RLIMIT_CPU (SIGXCPU) and the wall-clock limit"),
        "bwrap": ("stopped", _SAME),
        "docker": ("stopped", "same, plus the CPU quota"),
    },
    "output: print without bound": {
        "process": ("stopped", "output kept up to a cap; the run is killed past the output limit"),
        "bwrap": ("stopped", _SAME),
        "docker": ("stopped", _SAME),
    },
    "kill the parent process": {
        "process": ("stopped", "as root the worker runs as another uid; the session survives"),
        "bwrap": ("stopped", "same; the worker is also hidden in a PID namespace"),
        "docker": ("stopped", "same as bwrap"),
    },
    "exit: os._exit, crash, recursion overflow": {
        "process": ("stopped", "the code runs in a forked child; a session keeps its previous state"),
        "bwrap": ("stopped", _SAME),
        "docker": ("stopped", _SAME),
    },
    "/dev/shm: fill shared memory": {
        "process": ("limited", "the host's /dev/shm: RLIMIT_FSIZE per file, files removed after the run"),
        "bwrap": ("stopped", "private size-capped tmpfs"),
        "docker": ("stopped", "private size-capped tmpfs"),
    },
    "leftover processes after the run": {
        "process": ("stopped", "the worker is a child subreaper and kills every process below it"),
        "bwrap": ("stopped", "same; the PID namespace dies with the worker"),
        "docker": ("stopped", "same; the container is removed at close"),
    },
}


def render_isolation_table() -> str:
    """The isolation table as Markdown (the exact text ``docs/code.md`` shows).

    Example:
        >>> render_isolation_table().splitlines()[0]
        '| attack | process | bwrap | docker |'
    """
    cols = ["process", "bwrap", "docker"]
    lines = ["| attack | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for attack, row in ISOLATION.items():
        cells = [f"**{row[c][0]}**: {row[c][1]}" for c in cols]
        lines.append(f"| {attack} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
