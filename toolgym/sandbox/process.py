"""The ``process`` backend: the worker is a plain child process; executions get rlimits and their own user.

Isolation: resource limits (CPU seconds, address space, processes, file size, open files), a private
scratch folder as the working directory and ``HOME``, a scrubbed environment, their own process group
(killed with everything below it on timeout) and - when the host runs as root - a dedicated unprivileged
uid, so process limits apply, the code cannot signal the worker or read root's files, and whatever it
leaves in ``/tmp``, ``/var/tmp`` or ``/dev/shm`` is removed after each execution. There is no network or
filesystem namespace: the code can open sockets and read world-readable files. Use ``bwrap`` or
``docker`` for that.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

from toolgym.sandbox.base import PipeTransport, Sandbox, kill_uid_processes
from toolgym.sandbox.paths import collapse, interpreter_roots, package_roots

__all__ = ["ProcessSandbox", "private_parents", "worker_env"]


def private_parents(roots: list[str]) -> dict[str, list[str]]:
    """Group folders by their topmost ancestor that other users cannot traverse (mode without ``o+x``).

    Example:
        >>> private_parents(["/usr/lib"])
        {}
    """
    groups: dict[str, list[str]] = {}
    for root in collapse(roots):
        parts = root.strip("/").split("/")
        for i in range(1, len(parts)):
            parent = "/" + "/".join(parts[:i])
            try:
                mode = os.stat(parent).st_mode
            except OSError:
                break
            if not mode & 0o001:
                groups.setdefault(parent, []).append(root)
                break
    return groups


def worker_env(extra: dict[str, str], home: str) -> dict[str, str]:
    """The scrubbed environment of a worker: nothing from the host's environment is passed on."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": home,
        "TMPDIR": home,
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONIOENCODING": "utf-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    env.update(extra)
    return env


class ProcessSandbox(Sandbox):
    """A sandbox whose worker is a plain child process (rlimits, own uid when root; no namespaces).

    See :class:`~toolgym.sandbox.base.Sandbox` for the arguments, and the isolation table in
    ``docs/code.md`` for what this backend does and does not stop.
    """

    name = "process"

    def __init__(self, **kwargs: Any) -> None:
        """Configure the sandbox (see :class:`Sandbox`)."""
        super().__init__(**kwargs)
        self._root: str | None = None

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """Available on Linux (it needs ``fork``, ``/proc`` and rlimits)."""
        if not sys.platform.startswith("linux"):
            return False, f"needs Linux (fork, /proc, prctl), this is {sys.platform}"
        if not os.path.isdir("/proc/self"):
            return False, "/proc is not mounted"
        return True, ""

    def _scratch_root(self) -> str:
        if self._root is None or not os.path.isdir(self._root):
            self._root = tempfile.mkdtemp(prefix="toolgym-sandbox-")
            os.chmod(self._root, 0o711)  # the sandbox user reaches its own folder only
            root = self._root
            self._holder.cleanups.append(lambda: shutil.rmtree(root, ignore_errors=True))
        return self._root

    def _forget_resources(self) -> None:
        self._root = None

    def _sweep_dirs(self) -> list[str]:
        return [d for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(d)]

    def _spawn(self, config: dict[str, Any]) -> PipeTransport:
        scratch = config["scratch_root"]
        if config.get("uid") is not None and os.geteuid() == 0:
            # The code's uid must reach the interpreter: private parents are worked around in the
            # worker's own mount namespace (see _worker._expose).
            roots = [*interpreter_roots(self.python), *package_roots(self.share), *self.extra_paths]
            config = dict(config, expose=private_parents(roots))
        cleanups = []
        uid = config.get("uid")
        if uid is not None and os.geteuid() == 0:
            cleanups.append(lambda: kill_uid_processes(uid))
        env = worker_env(self.env, scratch)
        return PipeTransport.start([], self.python, config, env=env, cwd=scratch, on_kill=cleanups)
