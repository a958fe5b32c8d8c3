"""Small I/O helpers of experiment runs: JSON written atomically, phases that resume."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from toolgym.records import to_jsonable

__all__ = ["cached_phase", "read_json", "write_json"]

T = TypeVar("T")


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (a temp file renamed over it), fsynced."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(to_jsonable(obj), fh, indent=2, sort_keys=True, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)
    return p


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def cached_phase(path: str | os.PathLike[str], fn: Callable[[], T], *, resume: bool) -> T | Any:
    """Run ``fn`` and save its JSON result to ``path``; with ``resume``, return the saved result instead."""
    p = Path(path)
    if resume and p.is_file():
        return read_json(p)
    result = fn()
    write_json(p, result)
    return result
