"""BM25 retrieval over a corpus with ``bm25s``, and the on-disk cache of built indexes.

An index is built once per corpus content and cached on disk, keyed by the corpus checksum and the index
settings (:func:`index_key`). The cache lives next to the data when that folder is writable
(``<data folder>/.toolgym-index/``), else under :func:`cache_dir` (``$TOOLGYM_CACHE_DIR``, default
``~/.cache/toolgym``) in ``index/``. A build is written to a temporary folder in the same place and renamed
into position, so readers never see half an index and concurrent builders do not clash.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np

from toolgym.error import require

__all__ = [
    "CACHE_DIR_ENV",
    "INDEX_VERSION",
    "BM25Index",
    "cache_dir",
    "index_key",
    "load_or_build",
    "tokenize",
]

logger = logging.getLogger(__name__)

CACHE_DIR_ENV = "TOOLGYM_CACHE_DIR"
#: Bump when the tokenizer or the index layout changes: old caches are then ignored.
INDEX_VERSION = 1
_K1, _B = 1.5, 0.75
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_META = "toolgym-index.json"


def _bm25s(submodule: str = "") -> ModuleType:
    """``bm25s`` (or one of its submodules), or a clear error naming the ``search`` extra."""
    return require("bm25s" + (f".{submodule}" if submodule else ""), "search", "The BM25 search index")


@functools.lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    return frozenset(_bm25s("stopwords").STOPWORDS_EN)  # bm25s is imported on first use only


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens of two or more characters, without English stopwords.

    Example:
        >>> tokenize("The director of Ed Wood (1994)")
        ['director', 'ed', 'wood', '1994']
    """
    stop = _stopwords()
    return [t for t in _TOKEN.findall(text.lower()) if t not in stop]


def cache_dir() -> Path:
    """Toolgym's cache folder: ``$TOOLGYM_CACHE_DIR`` if set, else ``~/.cache/toolgym``."""
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "toolgym"


def index_key(checksum: str) -> str:
    """The cache key of the index of a corpus with this checksum (includes the index settings)."""
    blob = json.dumps({"corpus": checksum, "version": INDEX_VERSION, "k1": _K1, "b": _B, "tok": _TOKEN.pattern})
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class BM25Index:
    """A BM25 (Lucene variant, k1=1.5, b=0.75) index over documents, answering top-k queries.

    Example:
        >>> idx = BM25Index.build(["Ed Wood film director", "Tim Burton director", "Paris city"])
        >>> idx.top("wood director", 2)
        [(0, ...), (1, ...)]
    """

    def __init__(self, retriever, n_docs: int) -> None:  # noqa: ANN001  (a bm25s.BM25)
        """Wrap a built or loaded ``bm25s.BM25`` over ``n_docs`` documents."""
        self._bm25 = retriever
        self.n_docs = int(n_docs)
        self._vocab: dict[str, int] = retriever.vocab_dict

    @classmethod
    def build(cls, documents: Sequence[str]) -> BM25Index:
        """Tokenize and index ``documents``."""
        retriever = _bm25s().BM25(k1=_K1, b=_B)
        retriever.index([tokenize(d) for d in documents], show_progress=False)
        return cls(retriever, len(documents))

    @classmethod
    def load(cls, folder: str | Path, *, mmap: bool = False) -> BM25Index:
        """Load an index saved with :meth:`save` (``mmap=True`` maps the arrays instead of reading them)."""
        meta = json.loads((Path(folder) / _META).read_text(encoding="utf-8"))
        retriever = _bm25s().BM25.load(str(folder), mmap=mmap, show_progress=False)
        return cls(retriever, meta["n_docs"])

    def save(self, folder: str | Path, **meta: object) -> None:
        """Write the index (and ``meta``) into ``folder``."""
        self._bm25.save(str(folder), show_progress=False)
        payload = {"n_docs": self.n_docs, "version": INDEX_VERSION, **meta}
        (Path(folder) / _META).write_text(json.dumps(payload), encoding="utf-8")

    def scores(self, query: str) -> np.ndarray:
        """BM25 scores of every document for ``query`` (zeros when no query token is in the vocabulary)."""
        ids = [self._vocab[t] for t in tokenize(query) if t in self._vocab]
        if not ids:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids))

    def top(self, query: str, k: int = 5) -> list[tuple[int, float]]:
        """The ``k`` best documents with a positive score, best first (ties: lower id first)."""
        if k <= 0:
            return []
        s = self.scores(query)
        pos = np.flatnonzero(s > 0)
        if pos.size == 0:
            return []
        vals = s[pos]
        k = min(k, pos.size)
        if k < pos.size:
            part = np.argpartition(-vals, k - 1)[:k]
            sel = np.flatnonzero(vals >= vals[part].min())  # every tie at the boundary: a well-defined order
        else:
            sel = np.arange(pos.size)
        order = np.lexsort((pos[sel], -vals[sel]))[:k]
        return [(int(pos[sel[i]]), float(vals[sel[i]])) for i in order]


def _writable(folder: Path) -> bool:
    """Whether we may write in ``folder`` (created if needed).

    A folder without any write permission bit counts as read-only even for root (who could write anyway):
    a shared data folder marked read-only stays untouched.
    """
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        mode = existing.stat().st_mode
    except OSError:
        return False
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(existing, os.W_OK | os.X_OK):
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK) and bool(folder.stat().st_mode & stat.S_IWUSR)


def _valid(folder: Path, n_docs: int) -> bool:
    try:
        meta = json.loads((folder / _META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("n_docs") == n_docs and meta.get("version") == INDEX_VERSION


def index_locations(checksum: str, data_path: str | Path | None) -> list[Path]:
    """Where the index of a corpus may be cached, in order of preference (next to the data, then the cache)."""
    name = f"bm25s-{index_key(checksum)}"
    places = []
    if data_path is not None:
        places.append(Path(data_path).parent / ".toolgym-index" / name)
    places.append(cache_dir() / "index" / name)
    return places


def load_or_build(
    documents: Sequence[str],
    checksum: str,
    *,
    data_path: str | Path | None = None,
    cache: bool = True,
    mmap: bool = False,
) -> tuple[BM25Index, dict[str, object]]:
    """Load the cached index of a corpus, or build it and cache it atomically.

    Args:
        documents: The documents (needed only when building).
        checksum: The corpus checksum (the cache key).
        data_path: The corpus file; the cache goes next to it when its folder is writable.
        cache: ``False`` builds in memory and writes nothing.
        mmap: Map a cached index's arrays instead of reading them (less memory across processes, slower queries).

    Returns:
        The index and a dict describing what happened: ``{"cached": bool, "path": str | None, "seconds": float}``.
    """
    t0 = time.perf_counter()
    n = len(documents)
    if not cache:
        return BM25Index.build(documents), {"cached": False, "path": None, "seconds": time.perf_counter() - t0}
    places = index_locations(checksum, data_path)
    for folder in places:
        if _valid(folder, n):
            try:
                idx = BM25Index.load(folder, mmap=mmap)
            except (OSError, ValueError, KeyError) as exc:
                logger.warning("ignoring the unreadable search index %s (%s)", folder, exc)
                continue
            return idx, {"cached": True, "path": str(folder), "seconds": time.perf_counter() - t0}
    idx = BM25Index.build(documents)
    written = None
    for folder in places:
        if not _writable(folder.parent):
            continue
        tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", suffix=".tmp", dir=folder.parent))
        try:
            idx.save(tmp, checksum=checksum)
            try:
                os.rename(tmp, folder)
            except OSError:  # another process won the race (or a stale folder is there): keep theirs if valid
                if not _valid(folder, n):
                    shutil.rmtree(folder, ignore_errors=True)
                    os.rename(tmp, folder)
            written = str(folder)
            break
        except OSError as exc:
            logger.warning("could not cache the search index in %s (%s)", folder, exc)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return idx, {"cached": False, "path": written, "seconds": time.perf_counter() - t0}
