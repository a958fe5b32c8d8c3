"""A sandbox for model-written Python: isolated, resource-limited, and fast (a fork per execution).

Shared by the code envs (:mod:`toolgym.envs.code`) and VQA program mode (:mod:`toolgym.envs.vqa.program`);
it knows no env.

Three backends share one interface and one worker program (``_worker.py``):

* ``process`` - a child process with rlimits, a private scratch folder, a scrubbed environment, its own
  process group, and (as root) a dedicated unprivileged uid;
* ``bwrap`` - the same inside bubblewrap: new network, PID, IPC and UTS namespaces, read-only system
  folders, private tmpfs scratch;
* ``docker`` - the same inside a container: no network, read-only root, cgroup memory/CPU/pids limits.

In each, a warm worker imports the interpreter once and forks a fresh child per execution, so an
execution costs about a ``fork``, not an interpreter start-up. :data:`ISOLATION` (and ``docs/code.md``)
says which backend stops which attack.

Example:
    >>> from toolgym.sandbox import create_sandbox
    >>> with create_sandbox("process", limits={"wall_s": 5}) as sb:
    ...     print(sb.run("print(sum(range(10)))").stdout.strip())
    ...     s = sb.session()
    ...     _ = s.run("import numpy as np; a = np.arange(4)")
    ...     print(s.run("int(a.sum())").value)
    45
    6

Public API: :func:`create_sandbox`, :func:`available_backends`, :func:`best_backend`, :func:`run`,
:class:`Sandbox` (``run``, ``session``, ``close``), :class:`Session` (``run``, ``history``, ``replay``,
``reset``, ``close``), :class:`ExecResult`, :class:`Limits`, :data:`ISOLATION`.
"""

from __future__ import annotations

import os
from typing import Any

from toolgym.error import ConfigError, did_you_mean
from toolgym.sandbox.base import DEFAULT_PRELOAD, Sandbox, SandboxError, Session
from toolgym.sandbox.bwrap import BwrapSandbox
from toolgym.sandbox.container import DockerSandbox
from toolgym.sandbox.isolation import BACKEND_ORDER, ISOLATION, render_isolation_table
from toolgym.sandbox.process import ProcessSandbox
from toolgym.sandbox.result import LIMIT_NAMES, STATUSES, ExecResult, Limits

__all__ = [
    "BACKENDS",
    "BACKEND_ENV",
    "BACKEND_ORDER",
    "DEFAULT_PRELOAD",
    "ISOLATION",
    "LIMIT_NAMES",
    "STATUSES",
    "BwrapSandbox",
    "DockerSandbox",
    "ExecResult",
    "Limits",
    "ProcessSandbox",
    "Sandbox",
    "SandboxError",
    "Session",
    "available_backends",
    "best_backend",
    "create_sandbox",
    "render_isolation_table",
    "run",
]

#: Backend name -> class.
BACKENDS: dict[str, type[Sandbox]] = {"docker": DockerSandbox, "bwrap": BwrapSandbox, "process": ProcessSandbox}
#: Environment variable that overrides the choice of ``backend="auto"`` (e.g. ``TOOLGYM_SANDBOX=process``).
BACKEND_ENV = "TOOLGYM_SANDBOX"


def available_backends() -> dict[str, str]:
    """Every backend with ``""`` when it is available here, else the reason it is not.

    Example:
        >>> "process" in available_backends()
        True
    """
    return {name: ("" if ok else reason) for name in BACKEND_ORDER for ok, reason in [BACKENDS[name].availability()]}


def best_backend() -> str:
    """The strongest available backend (docker, then bwrap, then process), or ``$TOOLGYM_SANDBOX``.

    Raises:
        SandboxError: No backend is available (or the forced one is not).
    """
    forced = os.environ.get(BACKEND_ENV, "").strip()
    if forced and forced != "auto":
        _check_name(forced)
        ok, reason = BACKENDS[forced].availability()
        if not ok:
            raise SandboxError(f"{BACKEND_ENV}={forced}: expected an available backend, but {reason}.")
        return forced
    reasons = []
    for name in BACKEND_ORDER:
        ok, reason = BACKENDS[name].availability()
        if ok:
            return name
        reasons.append(f"{name}: {reason}")
    raise SandboxError("no sandbox backend is available here: " + "; ".join(reasons))


def _check_name(name: str) -> None:
    if name not in BACKENDS:
        choices = ["auto", *BACKENDS]
        raise ConfigError(f"sandbox backend: expected one of {choices}, got {name!r}." + did_you_mean(name, choices))


def create_sandbox(backend: str = "auto", **kwargs: Any) -> Sandbox:
    """Create a sandbox (it starts on first use).

    Args:
        backend: ``"auto"`` (the strongest available, see :func:`best_backend`), ``"docker"``, ``"bwrap"``
            or ``"process"``.
        **kwargs: Arguments of the backend class (``limits``, ``preload``, ``python``, ``share``,
            ``extra_paths``, ``env``, ``user``; docker adds ``image``, ``host_python``...).

    Returns:
        The :class:`Sandbox`.

    Raises:
        ConfigError: Unknown backend name or argument.
        SandboxError: ``"auto"`` found no available backend.
    """
    name = best_backend() if backend == "auto" else backend
    _check_name(name)
    return BACKENDS[name](**kwargs)


def run(code: str, *, backend: str = "auto", timeout: float | None = None, **kwargs: Any) -> ExecResult:
    """Run ``code`` once in a new sandbox that is closed afterwards (convenient, not fast: it starts a worker).

    Example:
        >>> run("print('hi')", backend="process").stdout
        'hi\\n'
    """
    with create_sandbox(backend, **kwargs) as sb:
        return sb.run(code, timeout=timeout)
