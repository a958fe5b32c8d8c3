"""The expert's plan: which pages to open and which sentences to bring into view before answering.

From a task's gold titles and supporting sentences (HotpotQA's supporting facts, or the world generator's
chain), the expert searches each gold title; when a supporting sentence is not among the sentences ``search``
shows, it looks up a keyword that brings that sentence up (first, if any keyword can); then it finishes with
the gold answer. The env runs the plan against what the episode has shown so far
(:meth:`~toolgym.envs.search.env.SearchQAEnv.expert_action`), so the expert also recovers after other actions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from toolgym.envs.search.backends import SearchBackend
from toolgym.envs.search.tasks import QATask
from toolgym.envs.search.text import lookup_sentences, react_sentences

__all__ = ["Hop", "choose_keyword", "find_sentence", "plan_task"]

_WORD = re.compile(r"[\w'’-]+")
_STOP = frozenset(
    "a an the of in on at to for by and or but is was were are be been it its his her their he she they this that "
    "with as from which who whom whose also into than then there these those not no has have had".split()
)


@dataclass(frozen=True)
class Hop:
    """One page of the plan.

    Attributes:
        title: The title to search.
        exists: Whether the backend has the page (when not, the expert searches it once and moves on).
        needed: The page sentences (ReAct split) that must be shown.
        keywords: For each needed sentence, the lookup keyword that reaches it (``""`` when shown by search).
    """

    title: str
    exists: bool
    needed: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


def find_sentence(sentences: Sequence[str], target: str, answer: str = "") -> list[int]:
    """The indices of the page sentences that hold ``target`` (a dataset sentence); empty when none do.

    Sentence boundaries differ (ReAct splits at ``". "``, so ``"U.S. president"`` cuts a dataset sentence in
    two): the pieces that overlap ``target`` are found by their text, and when one of them holds the answer
    it alone is returned.

    Example:
        >>> find_sentence(["Nixon was born in Yorba Linda.", "He was the 37th U.", "S. President."],
        ...               "He was the 37th U.S. President.")
        [1, 2]
        >>> find_sentence(["Nixon was born in Yorba Linda.", "He died in 1994."], "He died in 1994.", "1994")
        [1]
    """
    t = " ".join(target.split()).rstrip(".").strip()
    if not t:
        return []
    cands = []
    for i, s in enumerate(sentences):
        body = s.rstrip(".").strip()
        if len(body) >= 3 and (body in t or t[:40] in body):
            cands.append(i)
    if answer:
        with_answer = [i for i in cands if answer.lower() in sentences[i].lower()]
        if with_answer:
            return with_answer[:1]
    return cands


def _rank(sentences: Sequence[str], index: int, keyword: str) -> int | None:
    """How many lookups of ``keyword`` come before sentence ``index`` (``None`` if it never comes)."""
    key = keyword.lower()
    if key not in sentences[index].lower():
        return None
    return sum(1 for s in sentences[:index] if key in s.lower())


def _ngrams(text: str, keep: Callable[[list[str]], bool], n_max: int = 3) -> list[str]:
    """The word n-grams of ``text`` (n <= ``n_max``) whose words ``keep`` accepts, shortest first."""
    words = _WORD.findall(text)
    grams = (words[i : i + n] for n in range(1, n_max + 1) for i in range(len(words) - n + 1))
    return [" ".join(g) for g in grams if keep(g)]


def _grams(text: str) -> list[str]:
    """The word n-grams of ``text`` that hold a content word (no stop word at either end)."""
    return _ngrams(
        text, lambda g: g[0].lower() not in _STOP and g[-1].lower() not in _STOP and any(len(w) >= 3 for w in g)
    )


def _plain_grams(text: str, named: set[str]) -> list[str]:
    """The word n-grams of ``text`` of plain words: lower case, no digits, not ``named``.

    Stop words count (``born in``), but a gram of stop words only does not.
    """
    return _ngrams(
        text,
        lambda g: all(w.islower() and w.isalpha() and w not in named for w in g) and any(w not in _STOP for w in g),
    )


def choose_keyword(
    sentences: Sequence[str], index: int, prefer: Sequence[str] = (), *, question: str = ""
) -> tuple[str, int]:
    """A lookup keyword that reaches sentence ``index``, and how many earlier results it has.

    Candidates are tried in groups, and the first group with a keyword that brings the sentence up *first*
    wins (within a group: the fewest results, then the longest keyword, but the shortest plain one): words
    and phrases of the question that occur in the sentence (what an agent would look up), then the sentence's
    plain words and phrases - lower case, no digits, no word of a ``prefer`` phrase: the relation an agent can
    guess from the question, such as ``born in`` for a birthplace - then ``prefer`` (e.g. the answer or the
    next page's title, which an agent has not seen yet), then any word or phrase of the sentence. When no
    keyword reaches it first, the one with the fewest earlier results is returned.

    Example:
        >>> sents = ["Ed Wood is a film.", "It was directed by Tim Burton.", "Burton was born in Burbank."]
        >>> choose_keyword(sents, 2, question="Where was the director of Ed Wood born?")
        ('born', 0)
        >>> choose_keyword(sents, 2, ["Burbank"], question="In which city was the director of Ed Wood raised?")
        ('born', 0)
    """
    target = sentences[index].lower()
    named = {w.lower() for p in prefer for w in _WORD.findall(p)}
    groups = [
        [g for g in _grams(question) if g.lower() in target],
        _plain_grams(sentences[index], named),
        [p.strip() for p in prefer if p.strip()],
        _grams(sentences[index]),
    ]
    best: tuple[tuple[int, int, int, int], str] | None = None
    for level, group in enumerate(groups):
        first: tuple[tuple[int, int], str] | None = None
        for cand in group:
            if "[" in cand or "]" in cand:
                continue
            r = _rank(sentences, index, cand)
            if r is None:
                continue
            hits = sum(1 for s in sentences if cand.lower() in s.lower())
            size = len(cand) if level == 1 else -len(cand)  # the shortest plain word, the longest phrase
            if r == 0 and (first is None or (hits, size) < first[0]):
                first = ((hits, size), cand)
            key = (r, level, hits, size)
            if best is None or key < best[0]:
                best = (key, cand)
        if first is not None:
            return first[1], 0
    if best is None:  # a sentence without words: look it up whole
        return sentences[index].rstrip("."), 0
    return best[1], best[0][0]


def plan_task(
    task: QATask, backend: SearchBackend, *, page_sentences: int = 5, quirks: bool = False
) -> tuple[Hop, ...]:
    """The expert's plan for a task: for each gold title, the sentences to show and how to reach them."""
    hops = []
    for title in task.titles:
        page = backend.page(title)
        if page is None or page.disambiguation:
            hops.append(Hop(title, False))
            continue
        sents = react_sentences(page.text, quirks=quirks)
        others = [t for t in task.titles if t != title]
        idxs: list[int] = []
        for t, s in task.supporting:
            if t != title or not s:
                continue
            for i in find_sentence(sents, s, task.answer):
                if i not in idxs:
                    idxs.append(i)
        if not idxs and task.answer and task.answer.lower() not in ("yes", "no"):
            found = lookup_sentences(sents, task.answer)
            if found:
                idxs.append(sents.index(found[0]))
        needed, keywords = [], []
        for i in sorted(idxs):
            needed.append(sents[i])
            keywords.append(
                ""
                if i < page_sentences
                else choose_keyword(sents, i, [task.answer, *others], question=task.question)[0]
            )
        hops.append(Hop(page.title, True, tuple(needed), tuple(keywords)))
    return tuple(hops)
