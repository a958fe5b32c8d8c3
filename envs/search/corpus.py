"""A corpus of encyclopedia pages: titles, texts and the title index for exact hits.

A :class:`Corpus` is immutable once built. Its :attr:`Corpus.checksum` identifies the content (the SHA-256 of
the file it came from, or of its pages), and keys the on-disk search index (:mod:`toolgym.envs.search.index`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from toolgym.data import sha256_of
from toolgym.envs.search.text import normalize_title
from toolgym.error import ConfigError
from toolgym.records import iter_jsonl

__all__ = ["Corpus", "Page"]


@dataclass(frozen=True)
class Page:
    """One page of a corpus (or of live Wikipedia).

    Attributes:
        title: The page title.
        text: The page text; paragraphs are separated by newlines.
        disambiguation: Whether the page only lists other pages ("X may refer to:").
    """

    title: str
    text: str
    disambiguation: bool = False


def _paragraph_text(record: dict) -> str:
    if "sentences" in record:
        return "".join(record["sentences"]).strip()
    return str(record.get("text", "")).strip()


@dataclass(frozen=True, eq=False)
class Corpus:
    """Pages with an exact-title index.

    Attributes:
        titles: The page titles, in corpus order (a page's id is its position).
        texts: The page texts.
        checksum: A SHA-256 that identifies the content.
        source: Where the corpus came from (a path or a description).
    """

    titles: tuple[str, ...]
    texts: tuple[str, ...]
    checksum: str
    source: str = ""
    _exact: dict[str, int] = field(init=False, repr=False)
    _folded: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.titles) != len(self.texts):
            raise ConfigError(
                f"Corpus: expected as many texts as titles, got {len(self.texts)} texts for {len(self.titles)} titles."
            )
        exact: dict[str, int] = {}
        folded: dict[str, int] = {}
        for i, title in enumerate(self.titles):
            exact.setdefault(title, i)
            folded.setdefault(normalize_title(title), i)
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_folded", folded)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pages(cls, pages: Iterable[Page | tuple[str, str]], *, source: str = "") -> Corpus:
        """Build a corpus from pages; the checksum is computed from the content.

        Example:
            >>> c = Corpus.from_pages([("Ed Wood", "Ed Wood was a filmmaker."), ("Tim Burton", "Tim Burton ...")])
            >>> c.find("ed  WOOD"), len(c)
            (0, 2)
        """
        titles: list[str] = []
        texts: list[str] = []
        h = hashlib.sha256()
        for p in pages:
            title, text = (p.title, p.text) if isinstance(p, Page) else p
            titles.append(str(title))
            texts.append(str(text))
            h.update(json.dumps([title, text], ensure_ascii=False).encode("utf-8"))
            h.update(b"\n")
        return cls(tuple(titles), tuple(texts), h.hexdigest(), source or "in-memory pages")

    @classmethod
    def from_jsonl(cls, path: str | Path) -> Corpus:
        """Load ``{"title", "sentences": [...]}`` (or ``{"title", "text"}``) records; first title wins.

        The checksum is the file's SHA-256.
        """
        seen: set[str] = set()
        titles: list[str] = []
        texts: list[str] = []
        for _, rec in iter_jsonl(path):
            title = str(rec["title"])
            if title in seen:
                continue
            seen.add(title)
            titles.append(title)
            texts.append(_paragraph_text(rec))
        return cls(tuple(titles), tuple(texts), sha256_of(path), str(path))

    @classmethod
    def from_contexts(
        cls, contexts: Iterable[Sequence[tuple[str, Sequence[str]]]], *, checksum: str, source: str
    ) -> Corpus:
        """The union (first title wins) of HotpotQA-style contexts: lists of ``(title, sentences)``."""
        seen: set[str] = set()
        titles: list[str] = []
        texts: list[str] = []
        for context in contexts:
            for title, sentences in context:
                if title in seen:
                    continue
                seen.add(title)
                titles.append(title)
                texts.append("".join(sentences).strip())
        return cls(tuple(titles), tuple(texts), checksum, source)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.titles)

    def find(self, title: str) -> int | None:
        """The id of the page whose title matches ``title`` exactly, else after :func:`normalize_title`."""
        i = self._exact.get(title)
        if i is None:
            i = self._folded.get(normalize_title(title))
        return i

    def page(self, i: int) -> Page:
        """The page with id ``i``."""
        text = self.texts[i]
        return Page(self.titles[i], text, disambiguation="may refer to:" in text[:300])

    def documents(self) -> list[str]:
        """The texts the search index is built over: title and text of each page."""
        return [f"{t}\n{x}" for t, x in zip(self.titles, self.texts)]

    def __reduce__(self):  # pickle the content, not the derived indexes
        return (Corpus, (self.titles, self.texts, self.checksum, self.source))
