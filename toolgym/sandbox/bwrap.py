"""The ``bwrap`` backend: the worker runs inside bubblewrap's namespaces.

New network, PID, IPC and UTS namespaces; a root filesystem that holds only read-only binds of ``/usr``
(with the ``/bin``, ``/lib*`` links), the interpreter's folders and the shared packages; a fresh ``/proc``
and minimal ``/dev``; size-capped tmpfs at ``/tmp`` (the scratch folders) and ``/dev/shm``; no
environment from the host. When the host runs as root the worker keeps only the capabilities it needs to
switch users and clean up, and the code runs as a dedicated unprivileged uid (so ``RLIMIT_NPROC``
applies and the code cannot signal the worker); otherwise bubblewrap uses an unprivileged user namespace
and the code shares the worker's uid. Every rlimit of the ``process`` backend applies as well.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
from typing import Any

from toolgym.sandbox.base import PipeTransport, Sandbox
from toolgym.sandbox.paths import collapse, interpreter_roots, package_roots
from toolgym.sandbox.process import worker_env

__all__ = ["BwrapSandbox", "bwrap_args"]

_WORKER_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER")
_SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


@functools.lru_cache(maxsize=4)
def _bwrap_features(binary: str) -> frozenset[str]:
    try:
        out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    text = out.stdout + out.stderr
    return frozenset(f for f in ("--size", "--perms", "--disable-userns", "--die-with-parent") if f in text)


def _system_args() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for path in _SYSTEM_LINKS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


def _namespace_args(privileged: bool, features: frozenset[str], die_with_parent: bool) -> list[str]:
    if privileged:  # real root: no user namespace, so the worker can give the code its own uid
        args = ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        args += ["--cap-drop", "ALL"]
        for cap in _WORKER_CAPS:
            args += ["--cap-add", cap]
    else:
        args = ["--unshare-all", "--unshare-user"]  # an unprivileged user namespace is required here
        if "--disable-userns" in features:
            args += ["--disable-userns"]  # and the code may not create another one
    args += ["--new-session", "--hostname", "sandbox"]
    if die_with_parent and "--die-with-parent" in features:
        args += ["--die-with-parent"]
    return args


def bwrap_args(
    binds: list[str],
    *,
    privileged: bool,
    scratch_mb: int,
    shm_mb: int,
    env: dict[str, str],
    binary: str = "bwrap",
    die_with_parent: bool = True,
) -> list[str]:
    """The bubblewrap command line up to (not including) the program to run.

    Args:
        binds: Host folders to bind read-only at the same path.
        privileged: Whether bubblewrap runs as real root (then no user namespace is created).
        scratch_mb: Size of the tmpfs at ``/tmp``.
        shm_mb: Size of the tmpfs at ``/dev/shm``.
        env: The complete environment inside.
        binary: The bwrap executable.
        die_with_parent: Pass ``--die-with-parent``.

    Returns:
        The argument list.
    """
    features = _bwrap_features(binary)
    args = [binary, *_namespace_args(privileged, features, die_with_parent), *_system_args()]
    args += ["--proc", "/proc", "--dev", "/dev"]
    # The scratch tmpfs mounts come before the binds: a bind under /tmp (a checkout or virtual environment
    # there) must be mounted on top of the tmpfs, or the tmpfs would hide it.
    sized = "--size" in features
    args += (["--perms", "1777"] if "--perms" in features else []) + (
        ["--size", str(int(shm_mb) << 20)] if sized and shm_mb else []
    )
    args += ["--tmpfs", "/dev/shm"]
    mode = "0755" if privileged else "0700"
    args += (["--perms", mode] if "--perms" in features else []) + (
        ["--size", str(int(scratch_mb) << 20)] if sized and scratch_mb else []
    )
    args += ["--tmpfs", "/tmp"]
    made: set[str] = {"/", "/usr", "/proc", "/dev", "/dev/shm", "/tmp", *_SYSTEM_LINKS}
    roots = collapse(b for b in binds if not any(b == s or b.startswith(s + "/") for s in ("/usr",)))
    for root in roots:
        parts = root.strip("/").split("/")
        for i in range(1, len(parts)):
            d = "/" + "/".join(parts[:i])
            if d not in made:
                args += (["--perms", "0755"] if "--perms" in features else []) + ["--dir", d]
                made.add(d)
        args += ["--ro-bind", root, root]
        made.add(root)
    args += ["--chdir", "/tmp", "--clearenv"]
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    return args


@functools.lru_cache(maxsize=4)
def _probe(binary: str, euid: int) -> tuple[bool, str]:
    true = shutil.which("true") or "/bin/true"
    args = bwrap_args([], privileged=euid == 0, scratch_mb=1, shm_mb=1, env={}, binary=binary, die_with_parent=False)
    try:
        out = subprocess.run([*args, true], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"running {binary} failed: {exc}"
    if out.returncode != 0:
        return False, f"{binary} cannot create its namespaces here: {out.stderr.strip()[-300:]}"
    return True, ""


class BwrapSandbox(Sandbox):
    """A sandbox whose worker runs inside bubblewrap (network, PID, IPC, UTS and mount isolation).

    See :class:`~toolgym.sandbox.base.Sandbox` for the arguments, and the isolation table in
    ``docs/code.md``.

    Args:
        bwrap: The bubblewrap executable (default: ``bwrap`` on ``PATH``).
        **kwargs: The :class:`Sandbox` arguments.
    """

    name = "bwrap"

    def __init__(self, *, bwrap: str | None = None, **kwargs: Any) -> None:
        """Configure the sandbox (see :class:`Sandbox`)."""
        super().__init__(**kwargs)
        self.bwrap = bwrap or shutil.which("bwrap") or "bwrap"

    @classmethod
    def availability(cls, binary: str | None = None) -> tuple[bool, str]:
        """Available when ``bwrap`` is installed and can create its namespaces here."""
        path = binary or shutil.which("bwrap")
        if path is None:
            return False, "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
        return _probe(path, os.geteuid())

    def start(self) -> BwrapSandbox:
        """Start the worker (see :meth:`Sandbox.start`)."""
        ok, reason = self.availability(self.bwrap)
        if not ok:
            from toolgym.sandbox.base import SandboxError

            raise SandboxError(f"the 'bwrap' sandbox backend is not available here: {reason}")
        super().start()
        return self

    def _scratch_root(self) -> str:
        return "/tmp"

    def _sweep_dirs(self) -> list[str]:
        # As root the code cannot write to /tmp outside its scratch folder (0755, owned by the worker).
        return ["/dev/shm"] if os.geteuid() == 0 else ["/dev/shm", "/tmp"]

    def _private_dirs(self) -> bool:
        return True

    def _sweep_keep(self) -> list[str]:
        # Folders the binds create inside the swept /tmp (a checkout under /tmp, say) are not the code's leftovers.
        keep = []
        for root in self.binds():
            for folder in ("/tmp", "/dev/shm"):
                if root.startswith(folder + "/"):
                    keep.append(folder + "/" + root[len(folder) + 1 :].split("/", 1)[0])
        return sorted(set(keep))

    def binds(self) -> list[str]:
        """The host folders made visible (read-only) inside the sandbox."""
        return collapse([*interpreter_roots(self.python), *package_roots(self.share), *self.extra_paths])

    def _spawn(self, config: dict[str, Any]) -> PipeTransport:
        privileged = os.geteuid() == 0
        main = threading.current_thread() is threading.main_thread()
        args = bwrap_args(
            self.binds(),
            privileged=privileged,
            scratch_mb=self.limits.scratch_mb,
            shm_mb=self.limits.shm_mb,
            env=worker_env(self.env, "/tmp"),
            binary=self.bwrap,
            die_with_parent=main,  # the parent-death signal follows the spawning *thread*
        )
        return PipeTransport.start(args, self.python, config, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
