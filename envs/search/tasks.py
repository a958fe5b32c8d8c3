"""Question sources: HotpotQA (distractor and fullwiki settings), Bamboogle and StrategyQA.

Every loader returns :class:`QATask` records and reads its files through :mod:`toolgym.data`
(``$TOOLGYM_DATA_DIR``), so a missing file raises :class:`~toolgym.error.DataNotFoundError` naming the file,
where to put it and where to get it.

HotpotQA comes in two layouts, tried in order:

1. toolgym's curated subset (``hotpotqa/dev_distractor_subset.jsonl.gz``, ``dev_fullwiki_subset.jsonl.gz`` and
   the offline mini-Wikipedia ``wiki_paragraphs.jsonl.gz``; see the data folder's SOURCE.md);
2. the official files (``hotpotqa/hotpot_dev_distractor_v1.json``, ``hotpot_dev_fullwiki_v1.json``), downloaded
   from the HotpotQA site when missing and the network allows; the corpus is then the union of their contexts.

The ReAct/FireAct evaluation subset is the first 500 indices of the 7,405 dev questions shuffled by
``random.Random(233)``; :func:`react500_indices` reproduces that shuffle exactly (with numpy's MT19937, the same
generator Python's ``random`` uses), and the ``"react500"`` split keeps the questions of that subset that have
context here, in the shuffled order.
"""

from __future__ import annotations

import csv
import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from toolgym.core import DataStatus
from toolgym.data import DATA_DIR_ENV, DataFile, fetch, is_available, sha256_of
from toolgym.envs.search.corpus import Corpus
from toolgym.error import ConfigError, DataNotFoundError
from toolgym.records import iter_jsonl

__all__ = [
    "BAMBOOGLE",
    "HOTPOT_CORPUS",
    "HOTPOT_OFFICIAL",
    "HOTPOT_SUBSET",
    "STRATEGYQA",
    "HotpotData",
    "QATask",
    "hotpotqa",
    "hotpotqa_status",
    "load_bamboogle",
    "load_strategyqa",
    "python_shuffle",
    "react500_indices",
]

_SUBSET_HELP = (
    "It is toolgym's curated copy of HotpotQA dev (CC BY-SA 4.0); see hotpotqa/SOURCE.md in toolgym's shared data, "
    "or use the official file instead (it is downloaded automatically when online)."
)

#: toolgym's curated HotpotQA files, per setting.
HOTPOT_SUBSET: dict[str, DataFile] = {
    "distractor": DataFile(
        "hotpotqa/dev_distractor_subset.jsonl.gz",
        "HotpotQA dev questions with distractor paragraphs (1,838 rows)",
        instructions=_SUBSET_HELP,
    ),
    "fullwiki": DataFile(
        "hotpotqa/dev_fullwiki_subset.jsonl.gz",
        "HotpotQA dev questions with fullwiki paragraphs (957 rows)",
        instructions=_SUBSET_HELP,
    ),
}
#: The offline mini-Wikipedia: the union of every context paragraph of both subsets (24,528 pages).
HOTPOT_CORPUS = DataFile(
    "hotpotqa/wiki_paragraphs.jsonl.gz",
    "HotpotQA offline mini-Wikipedia (24,528 paragraphs)",
    instructions=_SUBSET_HELP,
)
#: The official HotpotQA dev files (downloaded when missing and online).
HOTPOT_OFFICIAL: dict[str, DataFile] = {
    "distractor": DataFile(
        "hotpotqa/hotpot_dev_distractor_v1.json",
        "HotpotQA dev set, distractor setting (official)",
        url="http://curtis.ml.cmu.edu/datasets/hotpot/hotpot_dev_distractor_v1.json",
    ),
    "fullwiki": DataFile(
        "hotpotqa/hotpot_dev_fullwiki_v1.json",
        "HotpotQA dev set, fullwiki setting (official)",
        url="http://curtis.ml.cmu.edu/datasets/hotpot/hotpot_dev_fullwiki_v1.json",
    ),
}
BAMBOOGLE = DataFile(
    "bamboogle/test.csv",
    "Bamboogle (125 two-hop questions, Press et al. 2022)",
    url="https://raw.githubusercontent.com/anchen1011/FireAct/main/data/bamboogle/test.csv",
)
STRATEGYQA: dict[str, DataFile] = {
    "dev": DataFile(
        "strategyqa/strategyqa_dev.json",
        "StrategyQA dev questions with facts and decompositions (229)",
        url="https://raw.githubusercontent.com/anchen1011/FireAct/main/data/strategyqa/strategyqa_dev.json",
    ),
    "train": DataFile(
        "strategyqa/strategyqa_train_filtered.json",
        "StrategyQA train questions (2,821)",
        url="https://raw.githubusercontent.com/anchen1011/FireAct/main/data/strategyqa/strategyqa_train_filtered.json",
    ),
}
#: Size of the official HotpotQA dev set (the ReAct shuffle runs over it).
HOTPOT_DEV_SIZE = 7405


@dataclass(frozen=True)
class QATask:
    """One question.

    Attributes:
        id: The task id (HotpotQA's ``_id``, ``bamboogle-17``, ``train-42``...).
        question: The question text.
        answer: The gold answer.
        type: ``"bridge"``, ``"comparison"``, ``"yes/no"``...
        titles: The gold page titles in the order an expert visits them.
        supporting: ``(title, sentence)`` pairs: the sentences that hold the facts (``""`` when only the page
            is known).
        extra: Other details as ``(key, value)`` pairs (e.g. ``("dev_index", 17)``, ``("hops", 3)``).
    """

    id: str
    question: str
    answer: str
    type: str = ""
    titles: tuple[str, ...] = ()
    supporting: tuple[tuple[str, str], ...] = ()
    extra: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        """A value of :attr:`extra`."""
        for k, v in self.extra:
            if k == key:
                return v
        return default


# ---------------------------------------------------------------------- the ReAct shuffle
def python_shuffle(n: int, seed: int) -> list[int]:
    """``list(range(n))`` shuffled exactly as ``random.Random(seed).shuffle`` does (CPython 3.x).

    Python seeds its Mersenne Twister with ``init_by_array`` over the seed's 32-bit words, as numpy's
    ``RandomState`` does for an array seed, and draws ``randbelow(i + 1)`` by rejection over
    ``getrandbits(k)``, i.e. the top ``k`` bits of one 32-bit output.

    Example:
        >>> python_shuffle(7405, 233)[:5]
        [3687, 6238, 5388, 3522, 3824]
    """
    if seed < 0:
        raise ConfigError(f"python_shuffle: expected a non-negative seed, got {seed}.")
    words = []
    s = seed
    while True:
        words.append(s & 0xFFFFFFFF)
        s >>= 32
        if s == 0:
            break
    state: Any = np.random.RandomState(words).get_state()  # a list seed: init_by_array over 32-bit words
    gen = np.random.MT19937()
    gen.state = {"bit_generator": "MT19937", "state": {"key": state[1], "pos": state[2]}}
    buf: list[int] = []

    def next32() -> int:
        if not buf:
            buf.extend(int(x) for x in gen.random_raw(1024)[::-1])
        return buf.pop()

    x = list(range(n))
    for i in range(n - 1, 0, -1):
        bound = i + 1
        k = bound.bit_length()
        r = next32() >> (32 - k)
        while r >= bound:
            r = next32() >> (32 - k)
        x[i], x[r] = x[r], x[i]
    return x


@functools.lru_cache(maxsize=1)
def react500_indices() -> tuple[int, ...]:
    """The 500 HotpotQA dev indices that ReAct, FireAct and Re-ReST evaluate on, in their order."""
    return tuple(python_shuffle(HOTPOT_DEV_SIZE, 233)[:500])


# ---------------------------------------------------------------------- HotpotQA
def _ordered_titles(question: str, titles: Sequence[str]) -> tuple[str, ...]:
    q = question.casefold()
    pos = [(q.find(t.casefold()) if t.casefold() in q else len(q) + i, i) for i, t in enumerate(titles)]
    return tuple(titles[i] for _, i in sorted(pos))


def _row_to_task(row: dict[str, Any], dev_index: int) -> QATask:
    ctx = row["context"]
    if isinstance(ctx, dict):  # HF layout
        context = list(zip(ctx["title"], ctx["sentences"]))
    else:  # official layout: [[title, [sentences]], ...]
        context = [(c[0], c[1]) for c in ctx]
    sentences = {t: s for t, s in context}
    sf = row.get("supporting_facts")
    facts: list[tuple[str, int]] = []
    if isinstance(sf, dict):
        facts = list(zip(sf["title"], sf["sent_id"]))
    elif isinstance(sf, list):
        facts = [(f[0], int(f[1])) for f in sf]
    titles = list(row.get("supporting_titles") or dict.fromkeys(t for t, _ in facts))
    supporting: list[tuple[str, str]] = []
    for t, sid in facts:
        sents = sentences.get(t, [])
        supporting.append((t, sents[sid].strip() if 0 <= sid < len(sents) else ""))
    for t in titles:
        if not any(s_t == t for s_t, _ in supporting):
            supporting.append((t, ""))
    return QATask(
        id=str(row.get("id") or row.get("_id")),
        question=row["question"],
        answer=row["answer"],
        type=row.get("type", ""),
        titles=_ordered_titles(row["question"], titles),
        supporting=tuple(supporting),
        extra=(("dev_index", dev_index), ("level", row.get("level", ""))),
    )


@dataclass(frozen=True)
class HotpotData:
    """A HotpotQA setting as loaded: the questions, the corpus, and the files they came from."""

    setting: str
    tasks: tuple[QATask, ...]
    corpus: Corpus
    corpus_path: str | None
    layout: str

    def split(self, name: str) -> tuple[QATask, ...]:
        """``"dev"`` (every question) or ``"react500"`` (the ReAct subset that has context, in ReAct's order)."""
        if name == "dev":
            return self.tasks
        if name == "react500":
            by_index = {t.get("dev_index"): t for t in self.tasks}
            return tuple(by_index[i] for i in react500_indices() if i in by_index)
        raise ConfigError(f"HotpotQA split: expected 'dev' or 'react500', got {name!r}.")


def _check_setting(setting: str) -> None:
    if setting not in HOTPOT_SUBSET:
        raise ConfigError(f"HotpotQA setting: expected 'distractor' or 'fullwiki', got {setting!r}.")


def hotpotqa_status(setting: str = "distractor") -> DataStatus:
    """Whether the files of a HotpotQA setting are here (no download is attempted)."""
    _check_setting(setting)
    sub, off = HOTPOT_SUBSET[setting], HOTPOT_OFFICIAL[setting]
    source = f"{DATA_DIR_ENV}/{sub.relpath} (+ {HOTPOT_CORPUS.relpath}) or the official {off.relpath}"
    if is_available(sub) or is_available(off):
        return DataStatus(source, True)
    return DataStatus(
        source,
        False,
        f"put {sub.relpath} and {HOTPOT_CORPUS.relpath} under {DATA_DIR_ENV} (toolgym's shared data), "
        f"or {off.relpath} from {off.url}",
    )


@functools.lru_cache(maxsize=4)
def _load_subset(path: str, checksum: str) -> tuple[QATask, ...]:
    return tuple(_row_to_task(r, int(r.get("dev_index", i))) for i, r in enumerate(r for _, r in iter_jsonl(path)))


@functools.lru_cache(maxsize=2)
def _load_official(path: str, checksum: str) -> tuple[tuple[QATask, ...], Corpus]:
    with open(path, encoding="utf-8") as fh:
        rows = json.load(fh)
    tasks = tuple(_row_to_task(r, i) for i, r in enumerate(rows))
    contexts = [[(c[0], c[1]) for c in r["context"]] for r in rows]
    return tasks, Corpus.from_contexts(contexts, checksum=checksum, source=path)


@functools.lru_cache(maxsize=2)
def _load_corpus(path: str, checksum: str) -> Corpus:
    return Corpus.from_jsonl(path)


def hotpotqa(setting: str = "distractor", *, download: bool | None = None) -> HotpotData:
    """Load a HotpotQA setting: its questions and the offline corpus.

    Args:
        setting: ``"distractor"`` or ``"fullwiki"``.
        download: Passed to :func:`toolgym.data.fetch` for the official file (``None``: unless offline).

    Raises:
        DataNotFoundError: Neither toolgym's subset nor the official file is here, and it cannot be downloaded.
    """
    _check_setting(setting)
    sub = HOTPOT_SUBSET[setting]
    if is_available(sub):
        path = str(fetch(sub))
        tasks = _load_subset(path, sha256_of(path))
        if is_available(HOTPOT_CORPUS):
            cpath = str(fetch(HOTPOT_CORPUS))
            return HotpotData(setting, tasks, _load_corpus(cpath, sha256_of(cpath)), cpath, "subset")
        rows = [r for _, r in iter_jsonl(path)]  # no mini-Wikipedia beside it: the corpus is this file's contexts
        ctx = [
            list(zip(r["context"]["title"], r["context"]["sentences"]))
            if isinstance(r["context"], dict)
            else [(c[0], c[1]) for c in r["context"]]
            for r in rows
        ]
        corpus = Corpus.from_contexts(ctx, checksum=sha256_of(path), source=path)
        return HotpotData(setting, tasks, corpus, path, "subset")
    off = HOTPOT_OFFICIAL[setting]
    try:
        path = str(fetch(off, download=download))
    except DataNotFoundError as exc:
        raise DataNotFoundError(
            f"HotpotQA ({setting}): expected toolgym's subset {sub.path} (with {HOTPOT_CORPUS.relpath} beside it) "
            f"or the official {off.path}; neither is here. {sub.instructions} Details: {exc}"
        ) from None
    tasks, corpus = _load_official(path, sha256_of(path))
    return HotpotData(setting, tasks, corpus, path, "official")


# ---------------------------------------------------------------------- Bamboogle and StrategyQA
def load_bamboogle() -> tuple[QATask, ...]:
    """Bamboogle's 125 questions (``Question,Answer`` CSV); ids ``bamboogle-0`` ... ``bamboogle-124``."""
    path = fetch(BAMBOOGLE)
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and not {"Question", "Answer"} <= set(rows[0]):
        raise ConfigError(f"Bamboogle: expected the columns Question,Answer in {path}, got {sorted(rows[0])}.")
    return tuple(
        QATask(id=f"bamboogle-{i}", question=r["Question"].strip(), answer=r["Answer"].strip(), type="compositional")
        for i, r in enumerate(rows)
    )


def load_strategyqa(split: str = "dev") -> tuple[QATask, ...]:
    """StrategyQA yes/no questions (answers ``"yes"``/``"no"``); ``split`` is ``"dev"`` or ``"train"``.

    The official test questions have no public answers, so there is no ``"test"`` split.
    """
    if split not in STRATEGYQA:
        raise ConfigError(
            f"StrategyQA split: expected 'dev' or 'train', got {split!r} (the test split has no public answers)."
        )
    path = fetch(STRATEGYQA[split])
    with open(path, encoding="utf-8") as fh:
        rows = json.load(fh)
    tasks = []
    for r in rows:
        extra: list[tuple[str, Any]] = [("term", r.get("term", ""))]
        if r.get("facts"):
            extra.append(("facts", tuple(r["facts"])))
        if r.get("decomposition"):
            extra.append(("decomposition", tuple(r["decomposition"])))
        tasks.append(
            QATask(
                id=f"strategyqa-{r['qid']}",
                question=r["question"],
                answer="yes" if r["answer"] else "no",
                type="yes/no",
                extra=tuple(extra),
            )
        )
    return tuple(tasks)


_SLUG = re.compile(r"[^a-z0-9]+")


def task_source_names() -> Iterable[str]:
    """The names :func:`load_tasks` accepts."""
    return ("hotpotqa", "hotpotqa-fullwiki", "bamboogle", "strategyqa", "strategyqa-train")


def load_tasks(name: str, split: str = "dev") -> tuple[QATask, ...]:
    """Load a named task source (see :func:`task_source_names`)."""
    key = _SLUG.sub("-", name.lower()).strip("-")
    if key == "hotpotqa":
        return hotpotqa("distractor").split(split)
    if key == "hotpotqa-fullwiki":
        return hotpotqa("fullwiki").split(split)
    if key == "bamboogle":
        return load_bamboogle()
    if key == "strategyqa":
        return load_strategyqa(split)
    if key == "strategyqa-train":
        return load_strategyqa("train")
    raise ConfigError(f"tasks: expected one of {list(task_source_names())}, got {name!r}.")
