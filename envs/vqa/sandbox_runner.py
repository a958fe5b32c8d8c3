"""Program mode's default runner: the code sandbox (:mod:`toolgym.sandbox`).

:class:`SandboxRunner` starts one sandbox per environment (the strongest backend available, or the one
named; ``TOOLGYM_SANDBOX`` overrides ``"auto"``) whose warm worker imports numpy, scipy and the image API
once, so each program run costs a ``fork`` rather than an interpreter start-up with those imports. Each run
is a fresh child of the clean worker: nothing persists between programs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from toolgym.envs.vqa.program import Execution

__all__ = ["PRELOAD", "SandboxRunner"]

#: Modules the sandbox worker imports before forking (besides the sandbox's default standard-library set).
PRELOAD: tuple[str, ...] = (
    "base64",
    "linecache",
    "numpy",
    "scipy.ndimage",
    "scipy.spatial",
    "PIL.Image",
    "toolgym.envs.vqa.api",
)


class SandboxRunner:
    """Runs program-mode scripts in a code sandbox.

    Args:
        backend: ``"auto"``, ``"bwrap"``, ``"process"`` or ``"docker"``.
        limits: Sandbox limits (a :class:`~toolgym.sandbox.Limits` or a dict of its fields); the
            wall-clock limit of each run is set per call.
        **kwargs: More arguments of :func:`~toolgym.sandbox.create_sandbox`.
    """

    def __init__(self, backend: str = "auto", limits: Mapping[str, Any] | Any = None, **kwargs: Any) -> None:
        """Create the sandbox (its worker starts on the first run)."""
        from toolgym.sandbox import DEFAULT_PRELOAD, create_sandbox

        preload = tuple(dict.fromkeys((*DEFAULT_PRELOAD, *PRELOAD)))
        options: dict[str, Any] = {"preload": preload, **kwargs}
        if limits is not None:
            options["limits"] = limits
        self.sandbox = create_sandbox(backend, **options)

    def run(self, script: str, timeout_s: float) -> Execution:
        """Run a script; an error inside it is reported by the harness, anything else in ``status``."""
        result = self.sandbox.run(script, timeout=timeout_s)
        status = "" if result.status in ("ok", "error") else result.summary()
        return Execution(result.stdout, result.stderr, status, float(result.wall_s))

    def close(self) -> None:
        """Stop the sandbox and every process it started."""
        self.sandbox.close()
