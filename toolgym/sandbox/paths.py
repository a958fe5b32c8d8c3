"""Which host folders an interpreter needs, so filesystem-isolating backends can bind them read-only."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence

__all__ = ["collapse", "interpreter_roots", "package_roots"]

_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def collapse(paths: Iterable[str]) -> list[str]:
    """Sorted real paths with every path inside another one dropped.

    Example:
        >>> collapse(["/a/b", "/a", "/c/d"])
        ['/a', '/c/d']
    """
    out: list[str] = []
    for p in sorted({os.path.normpath(p) for p in paths if p}):
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in out):
            out.append(p)
    return out


@functools.lru_cache(maxsize=16)
def _describe(python: str) -> tuple[str, ...]:
    """Prefixes and sys.path entries of an interpreter (asked in a subprocess unless it is this one)."""
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path]
    else:
        code = "import sys, json; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path]))"
        out = subprocess.run(
            [python, "-s", "-c", code], capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}
        )
        if out.returncode != 0:
            raise RuntimeError(f"{python} failed to describe itself: {out.stderr.strip()[-300:]}")
        paths = json.loads(out.stdout)
    return tuple(paths)


def interpreter_roots(python: str) -> list[str]:
    """Folders the interpreter needs: its prefixes, its ``site-packages`` and the real path of its binary.

    ``sys.path`` entries outside the prefixes are kept only when they look like package folders
    (``site-packages``, ``dist-packages``, ``.zip``/``.egg``), so the host's working directory is not shared.
    """
    entries = list(_describe(python))
    prefixes = [os.path.realpath(p) for p in entries[:4] if p]
    keep = [*prefixes, os.path.dirname(os.path.realpath(python)), os.path.dirname(os.path.abspath(python))]
    for p in entries[4:]:
        if not p or not os.path.exists(p):
            continue
        real = os.path.realpath(p)
        inside = any(real == q or real.startswith(q + "/") for q in prefixes)
        if inside or real.endswith(("site-packages", "dist-packages", ".zip", ".egg")):
            keep.append(p if os.path.isdir(p) else os.path.dirname(p))
            keep.append(real if os.path.isdir(real) else os.path.dirname(real))
    return collapse(p for p in keep if os.path.exists(p))


def package_roots(names: Sequence[str]) -> list[str]:
    """The folders holding the given packages (and, for editable installs, their mapped subpackages)."""
    roots: list[str] = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue
        for loc in spec.submodule_search_locations or ([spec.origin] if spec.origin else []):
            roots.append(os.path.dirname(os.path.realpath(loc)))
        for mod_name, mod in list(sys.modules.items()):
            if mod_name.startswith(name + ".") and hasattr(mod, "__path__"):
                roots.extend(os.path.dirname(os.path.realpath(p)) for p in list(mod.__path__))
            mapping = getattr(mod, "MAPPING", None) if mod_name.startswith("__editable__") else None
            if isinstance(mapping, dict):  # setuptools' editable finder: {"pkg.sub": "/path"}
                for key, path in mapping.items():
                    if key == name or key.startswith(name + "."):
                        roots.append(os.path.dirname(os.path.realpath(str(path))))
    return collapse(r for r in roots if os.path.isdir(r) and r not in _SYSTEM and r != "/")
