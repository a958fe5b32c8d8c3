"""Search backends: one interface over an offline corpus, live Wikipedia, and recorded runs.

A backend answers three questions, and the environment turns the answers into ReAct's observations:

* :meth:`SearchBackend.page` - the page whose title matches exactly (after normalisation), or ``None``;
* :meth:`SearchBackend.search` - the best pages for a free-text query, best first;
* :meth:`SearchBackend.random_page` - a page chosen by a number in ``[0, 1)`` (the robustness modes draw it
  from the env's ``np_random``, so the choice is deterministic).

:class:`OfflineBackend` does this over a :class:`~toolgym.envs.search.corpus.Corpus` with BM25 (``bm25s``);
:class:`~toolgym.envs.search.wikipedia.WikipediaBackend` over live Wikipedia. :class:`RecordingBackend` wraps
any backend and writes every response to a JSON-lines file; :class:`ReplayBackend` answers from such a file,
offline, with the same bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from toolgym.envs.search.corpus import Corpus, Page
from toolgym.envs.search.index import BM25Index, load_or_build
from toolgym.error import ConfigError, ToolgymError
from toolgym.records import iter_jsonl

__all__ = [
    "BackendError",
    "OfflineBackend",
    "RecordingBackend",
    "ReplayBackend",
    "SearchBackend",
    "SearchHit",
]


class BackendError(ToolgymError):
    """A backend could not answer (network failure, timeout, a replay file without the response).

    The environment shows the message as the observation instead of raising.
    """


@dataclass(frozen=True)
class SearchHit:
    """One search result.

    Attributes:
        page: The page found (for live Wikipedia, ``text`` may be the result snippet only).
        score: The backend's relevance score (higher is better; only the order is meaningful).
    """

    page: Page
    score: float


@runtime_checkable
class SearchBackend(Protocol):
    """What the search environments need from a backend."""

    name: str

    def page(self, title: str) -> Page | None:
        """The page whose title matches ``title`` exactly (after normalisation), else ``None``."""
        ...

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """Up to ``k`` pages for a free-text query, best first."""
        ...

    def random_page(self, u: float) -> Page | None:
        """A page chosen by ``u`` in ``[0, 1)``, or ``None`` when the backend has none to offer."""
        ...


class OfflineBackend:
    """BM25 over a corpus's pages (title and text), with the corpus's title index for exact hits.

    Build one with :meth:`from_corpus` (the index is loaded from, or written to, the on-disk cache when
    ``data_path`` or ``cache`` allows). Pickling keeps only the recipe, so a pickled env reloads the index
    from the cache instead of copying it.

    Example:
        >>> from toolgym.envs.search.corpus import Corpus
        >>> corpus = Corpus.from_pages([("Ed Wood", "Ed Wood was an American filmmaker."),
        ...                             ("Tim Burton", "Tim Burton directed Ed Wood (1994).")])
        >>> b = OfflineBackend.from_corpus(corpus, cache=False)
        >>> b.page("ed wood").title, [h.page.title for h in b.search("Burton film")]
        ('Ed Wood', ['Tim Burton'])
    """

    name = "offline"

    def __init__(self, corpus: Corpus, index: BM25Index, *, recipe: tuple[Callable[..., Any], tuple] | None = None):
        """Wrap a corpus and its index (use :meth:`from_corpus`)."""
        if index.n_docs != len(corpus):
            raise ConfigError(
                f"OfflineBackend: expected an index over {len(corpus)} documents, got one over {index.n_docs}."
            )
        self.corpus = corpus
        self.index = index
        self.build_info: dict[str, object] = {}
        self._recipe = recipe

    @classmethod
    def from_corpus(
        cls,
        corpus: Corpus,
        *,
        data_path: str | Path | None = None,
        cache: bool = True,
        recipe: tuple[Callable[..., Any], tuple] | None = None,
    ) -> OfflineBackend:
        """Index a corpus, using the on-disk cache (see :func:`~toolgym.envs.search.index.load_or_build`)."""
        index, info = load_or_build(corpus.documents(), corpus.checksum, data_path=data_path, cache=cache)
        backend = cls(corpus, index, recipe=recipe)
        backend.build_info = info
        return backend

    def __reduce__(self):
        if self._recipe is not None:
            return self._recipe
        return (_rebuild_offline, (self.corpus,))

    def __len__(self) -> int:
        return len(self.corpus)

    def page(self, title: str) -> Page | None:
        """The exact (normalised) title hit."""
        i = self.corpus.find(title)
        return None if i is None else self.corpus.page(i)

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """BM25 top-``k`` pages with a positive score."""
        return [SearchHit(self.corpus.page(i), s) for i, s in self.index.top(query, k)]

    def random_page(self, u: float) -> Page | None:
        """The page at position ``floor(u * len(corpus))``."""
        if len(self.corpus) == 0:
            return None
        return self.corpus.page(min(int(u * len(self.corpus)), len(self.corpus) - 1))


def _rebuild_offline(corpus: Corpus) -> OfflineBackend:
    return OfflineBackend.from_corpus(corpus, cache=False)


# ---------------------------------------------------------------------- record / replay
def _page_to_json(page: Page | None) -> dict[str, Any] | None:
    if page is None:
        return None
    return {"title": page.title, "text": page.text, "disambiguation": page.disambiguation}


def _page_from_json(data: dict[str, Any] | None) -> Page | None:
    if data is None:
        return None
    return Page(data["title"], data["text"], bool(data.get("disambiguation", False)))


def _key(op: str, args: list[Any]) -> str:
    return json.dumps([op, args], ensure_ascii=False, separators=(",", ":"))


class RecordingBackend:
    """Wraps a backend and appends every response to a JSON-lines file (one ``{"op", "args", "result"}`` a line).

    Errors are recorded too (``{"error": message}``), so a replay fails the same way. The file is opened,
    appended and closed on each call: the backend holds no handle and pickles.
    """

    def __init__(self, inner: SearchBackend, path: str | Path) -> None:
        """Record ``inner``'s responses into ``path`` (created with its folder; appended to if it exists)."""
        self.inner = inner
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.name = f"record({inner.name})"

    def _write(self, op: str, args: list[Any], result: Any = None, error: str | None = None) -> None:
        rec: dict[str, Any] = {"op": op, "args": args}
        if error is None:
            rec["result"] = result
        else:
            rec["error"] = error
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _call(self, op: str, args: list[Any], fn: Callable[[], Any], encode: Callable[[Any], Any]) -> Any:
        try:
            out = fn()
        except BackendError as exc:
            self._write(op, args, error=str(exc))
            raise
        self._write(op, args, encode(out))
        return out

    def page(self, title: str) -> Page | None:
        """The inner backend's answer, recorded."""
        return self._call("page", [title], lambda: self.inner.page(title), _page_to_json)

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """The inner backend's answer, recorded."""
        return self._call(
            "search",
            [query, k],
            lambda: self.inner.search(query, k),
            lambda hits: [{"page": _page_to_json(h.page), "score": h.score} for h in hits],
        )

    def random_page(self, u: float) -> Page | None:
        """The inner backend's answer, recorded."""
        return self._call("random_page", [u], lambda: self.inner.random_page(u), _page_to_json)


class ReplayBackend:
    """Answers from a file written by :class:`RecordingBackend`, offline, byte for byte.

    A call is matched by its operation and arguments. When the same call was recorded several times (live
    results can change during a run), the recorded answers are returned in order and the last one repeats.
    A call that was never recorded raises :class:`BackendError`, which the env shows as the observation.
    """

    name = "replay"

    def __init__(self, path: str | Path) -> None:
        """Load the recording at ``path``."""
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(
                f"ReplayBackend: expected a recording written with record_to=..., got the missing file {self.path}. "
                "Record a run first (record_to=PATH) or fix the path."
            )
        self._answers: dict[str, list[dict[str, Any]]] = {}
        for n, rec in iter_jsonl(self.path):
            try:
                key = _key(rec["op"], rec["args"])
            except (KeyError, TypeError) as exc:
                raise ConfigError(
                    f"ReplayBackend: expected JSON lines with 'op' and 'args' in {self.path}, got line {n}: "
                    f"{str(rec)[:80]!r} ({exc!r})."
                ) from None
            self._answers.setdefault(key, []).append(rec)
        self._cursor: dict[str, int] = {}

    def _next(self, op: str, args: list[Any]) -> dict[str, Any]:
        key = _key(op, args)
        answers = self._answers.get(key)
        if not answers:
            raise BackendError(
                f"Replay: no recorded response for {op}{tuple(args)!r} in {self.path.name}; "
                "this run asked for something the recorded run did not."
            )
        i = self._cursor.get(key, 0)
        self._cursor[key] = min(i + 1, len(answers) - 1)
        rec = answers[i]
        if "error" in rec:
            raise BackendError(rec["error"])
        return rec

    def cursor_state(self) -> dict[str, int]:
        """The replay position of each call (part of the env's snapshot)."""
        return dict(self._cursor)

    def set_cursor_state(self, state: dict[str, int]) -> None:
        """Restore positions from :meth:`cursor_state`."""
        self._cursor = dict(state)

    def page(self, title: str) -> Page | None:
        """The recorded answer."""
        return _page_from_json(self._next("page", [title])["result"])

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """The recorded answer."""
        rows = self._next("search", [query, k])["result"]
        pages = [(_page_from_json(r["page"]), float(r["score"])) for r in rows]
        return [SearchHit(page, score) for page, score in pages if page is not None]  # a hit always has a page

    def random_page(self, u: float) -> Page | None:
        """The recorded answer."""
        return _page_from_json(self._next("random_page", [u])["result"])
