"""The search QA environments: ReAct's ``search`` / ``lookup`` / ``finish`` over a pluggable backend."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from toolgym.core import DataStatus, TextEnv, Transition
from toolgym.costs import ToolCost
from toolgym.envs.search.backends import (
    BackendError,
    OfflineBackend,
    RecordingBackend,
    ReplayBackend,
    SearchBackend,
)
from toolgym.envs.search.corpus import Corpus, Page
from toolgym.envs.search.expert import Hop, plan_task
from toolgym.envs.search.scoring import score_answer
from toolgym.envs.search.tasks import HOTPOT_CORPUS, QATask, hotpotqa, hotpotqa_status, load_tasks
from toolgym.envs.search.text import (
    clean_argument,
    lookup_sentences,
    page_observation,
    react_sentences,
)
from toolgym.envs.search.world import SPLITS, World, build_world
from toolgym.error import ConfigError, UnknownTaskError
from toolgym.parsing import AnyOf, BracketGrammar, JsonToolGrammar, ParsedAction
from toolgym.rng import rand_elem

__all__ = ["HotpotQAEnv", "HotpotQAFullwikiEnv", "MultiHopEnv", "SearchQAEnv", "hotpot_backend", "world_backend"]

_TOOLS = {"search": "entity", "lookup": "keyword", "finish": "answer", "think": "thought"}
_SEARCH_MODES = ("entity", "query")
_NOISE_MODES = ("empty", "random")
_REWARDS = ("em", "f1")
_PLAN_CACHE_SIZE = 4096


# ---------------------------------------------------------------------- shared backends (built once per process)
@functools.lru_cache(maxsize=4)
def _backend_for_corpus(corpus: Corpus, data_path: str | None, setting: str) -> OfflineBackend:
    return OfflineBackend.from_corpus(corpus, data_path=data_path, recipe=(hotpot_backend, (setting,)))


def hotpot_backend(setting: str = "distractor") -> OfflineBackend:
    """The offline backend over HotpotQA's mini-Wikipedia (index cached on disk and shared in the process).

    Both settings search the same mini-Wikipedia, so they share one backend.
    """
    data = hotpotqa(setting)
    shared = data.corpus_path is not None and Path(data.corpus_path).name == Path(HOTPOT_CORPUS.relpath).name
    first = "distractor" if shared else setting  # the mini-Wikipedia file is one corpus for both settings
    return _backend_for_corpus(data.corpus, data.corpus_path, first)


def world_backend(seed: int, size: int, distractors: int, split: str) -> OfflineBackend:
    """The offline backend over a MultiHop world split (built in memory once per process)."""
    world = build_world(seed=seed, size=size, distractors=distractors, split=split)
    key = (world_backend, (seed, size, distractors, split))
    return _world_backend(world.corpus, key)


@functools.lru_cache(maxsize=8)
def _world_backend(corpus: Corpus, recipe: tuple) -> OfflineBackend:
    return OfflineBackend.from_corpus(corpus, cache=False, recipe=recipe)


def _make_backend(spec: SearchBackend | str, corpus_backend: Any, wikipedia: Mapping[str, Any] | None) -> SearchBackend:
    if isinstance(spec, str):
        if spec == "offline":
            if corpus_backend is None:
                raise ConfigError(
                    "backend='offline': expected a corpus (corpus=Corpus or a .jsonl path) for these tasks, got none. "
                    "Pass corpus=..., or backend='wikipedia'."
                )
            return corpus_backend() if callable(corpus_backend) else corpus_backend
        if spec == "wikipedia":
            from toolgym.envs.search.wikipedia import WikipediaBackend

            return WikipediaBackend(**dict(wikipedia or {}))
        raise ConfigError(f"backend: expected 'offline', 'wikipedia' or a SearchBackend, got {spec!r}.")
    if isinstance(spec, SearchBackend):
        return spec
    raise ConfigError(f"backend: expected 'offline', 'wikipedia' or a SearchBackend, got {type(spec).__name__}.")


class SearchQAEnv(TextEnv[str]):
    """Question answering with a search tool: ReAct's Wikipedia environment over any backend.

    ## Description

    The agent answers a question by searching an encyclopedia. This is the HotpotQA setting of ReAct,
    Reflexion, FireAct, Re-ReST and LATS: the actions, observation texts and answer scoring are theirs, so
    published prompts and trajectories work unchanged. The encyclopedia is a backend: an offline BM25 index
    over a corpus (deterministic, about a millisecond a search), live Wikipedia, or a recording of either.
    :class:`HotpotQAEnv`, :class:`HotpotQAFullwikiEnv` and :class:`MultiHopEnv` are the registered presets.

    ## Action Space

    Text (:class:`~toolgym.spaces.Utf8Text`), case-insensitive, tolerant of ``Thought ...`` and
    ``Action 2:`` around the action:

    * ``search[<entity>]`` - when a page's title matches the entity (case, spaces and underscores ignored),
      opens it and shows its first five sentences; otherwise ``Could not find [<entity>]. Similar: [<up to
      five titles>].`` With ``search_mode="query"`` a free-text query that matches no title opens the
      best-matching passage instead (the FireAct / search-snippet style).
    * ``lookup[<keyword>]`` - the next sentence of the open page that contains the keyword:
      ``(Result i / n) <sentence>``, then ``No more results.``; a new keyword starts again.
    * ``finish[<answer>]`` - submits the answer and ends the episode.
    * ``think[<thought>]`` - free; answers ``Nice thought.``

    JSON tool calls (``{"tool": "search", "args": {"query": "Ed Wood"}}``) are accepted too. An empty or
    over-long argument, or text that does not parse, is an invalid action: an observation that says what was
    expected, ``info["invalid_action"] = True`` and the ``invalid_action_penalty``.

    ## Observation Space

    Text. After reset: ``Question: <question>``; then the tool outputs above; after ``finish``:
    ``Episode finished, reward = True`` (or ``False``).

    ## Rewards

    At ``finish``: 1 for an exact match with the gold answer (HotpotQA's normalisation), else 0; with
    ``reward="f1"``, the token F1. Tool costs are subtracted with weight ``cost_weight`` (λ, default 1).
    Default prices: ``search`` 0.01 per call (nominal latency 0.5 s, not priced), ``lookup`` 0.002 per call
    (nominal latency 1 ms). ``finish`` and ``think`` are free. ``info["success"]`` is the exact match and
    ``info["score"]`` the F1 (0 until the agent finishes).

    ## Episode End

    Terminated by ``finish``; truncated after ``max_steps`` steps (default 7, as in ReAct), scoring 0.

    ## Arguments

    * ``tasks`` - a sequence of :class:`~toolgym.envs.search.tasks.QATask`, or a source name
      (``"hotpotqa"``, ``"hotpotqa-fullwiki"``, ``"bamboogle"``, ``"strategyqa"``).
    * ``backend`` - ``"offline"`` (needs ``corpus``), ``"wikipedia"`` or a
      :class:`~toolgym.envs.search.backends.SearchBackend`; by default ``"offline"`` when a ``corpus`` is
      given, else ``"wikipedia"``.
    * ``corpus`` - a :class:`~toolgym.envs.search.corpus.Corpus` or a ``.jsonl(.gz)`` path of
      ``{"title", "sentences"}`` records, for the offline backend.
    * ``wikipedia`` - keyword arguments of :class:`~toolgym.envs.search.wikipedia.WikipediaBackend`
      (``timeout``, ``max_retries``, ``cache``, ``api_url``...).
    * ``search_mode`` - ``"entity"`` (ReAct) or ``"query"`` (best passage for free text).
    * ``similar`` - titles listed after ``Could not find`` (default 5); ``page_sentences`` - sentences
      shown by a search hit (default 5).
    * ``noise`` and ``noise_mode`` - robustness (FireAct): with probability ``noise`` a search returns
      nothing (``"empty"``) or a random page (``"random"``), drawn from the env's ``np_random``.
    * ``reward`` - ``"em"`` or ``"f1"``.
    * ``react_quirks`` - reproduce ReAct's texts byte for byte: the doubled period after a paragraph's last
      sentence, and ``Could not find X`` without brackets unless the title is a disambiguation page.
    * ``max_query_chars`` - longest ``search``/``lookup`` argument (default 300).
    * ``record_to`` / ``replay_from`` - record every backend response of the run to a JSON-lines file, or
      answer from such a file offline (see :mod:`toolgym.envs.search.backends`).
    * plus the shared :class:`~toolgym.core.TextEnv` arguments (``max_steps``, ``cost_weight``,
      ``tool_costs``, ``latency``, ``invalid_action_penalty``, ``render_mode``).

    ``info`` adds ``question``, ``task_type``, ``hops`` (gold pages), ``page`` (the open page's title),
    ``answer`` (the submitted answer, ``""`` before) and ``gold_answer`` (``""`` until the episode ends).

    ## Version History

    * v0: initial version.
    """

    family = "search"
    default_max_steps = 7
    max_action_length = 8192
    max_observation_length = 16_384
    default_tool_costs = {
        "search": ToolCost(per_call=0.01, nominal_latency_s=0.5),
        "lookup": ToolCost(per_call=0.002, nominal_latency_s=0.001),
    }

    def __init__(
        self,
        tasks: Sequence[QATask] | str,
        backend: SearchBackend | str | None = None,
        *,
        corpus: Corpus | str | Path | None = None,
        wikipedia: Mapping[str, Any] | None = None,
        search_mode: str = "entity",
        similar: int = 5,
        page_sentences: int = 5,
        noise: float = 0.0,
        noise_mode: str = "empty",
        reward: str = "em",
        react_quirks: bool = False,
        max_query_chars: int = 300,
        record_to: str | Path | None = None,
        replay_from: str | Path | None = None,
        **kwargs: Any,
    ) -> None:
        """Create the env (see the class docstring for the arguments)."""
        super().__init__(**kwargs)
        if search_mode not in _SEARCH_MODES:
            raise ConfigError(f"search_mode: expected one of {list(_SEARCH_MODES)}, got {search_mode!r}.")
        if noise_mode not in _NOISE_MODES:
            raise ConfigError(f"noise_mode: expected one of {list(_NOISE_MODES)}, got {noise_mode!r}.")
        if not isinstance(noise, (int, float)) or not 0.0 <= noise <= 1.0:
            raise ConfigError(f"noise: expected a probability in [0, 1], got {noise!r}.")
        if reward not in _REWARDS:
            raise ConfigError(f"reward: expected one of {list(_REWARDS)}, got {reward!r}.")
        for name, value in (("similar", similar), ("page_sentences", page_sentences)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}: expected a positive integer, got {value!r}.")
        if not isinstance(max_query_chars, int) or max_query_chars < 1:
            raise ConfigError(f"max_query_chars: expected a positive integer, got {max_query_chars!r}.")
        if isinstance(tasks, str):
            tasks = load_tasks(tasks)
        self.tasks: tuple[QATask, ...] = tuple(tasks)
        self._by_id = {t.id: i for i, t in enumerate(self.tasks)}
        self.search_mode = search_mode
        self.similar = similar
        self.page_sentences = page_sentences
        self.noise = float(noise)
        self.noise_mode = noise_mode
        self.reward_kind = reward
        self.react_quirks = bool(react_quirks)
        self.max_query_chars = max_query_chars
        if backend is None:
            backend = "offline" if corpus is not None else "wikipedia"
        if replay_from is not None:
            self.backend: SearchBackend = ReplayBackend(replay_from)
        else:
            self.backend = _make_backend(backend, self._corpus_backend(corpus), wikipedia)
        if record_to is not None:
            self.backend = RecordingBackend(self.backend, record_to)
        self.grammar = AnyOf((BracketGrammar(_TOOLS), JsonToolGrammar(_TOOLS)))
        self._plans: dict[str, tuple[Hop, ...]] = {}
        self._task: QATask = self.tasks[0] if self.tasks else QATask("", "", "")
        self._clear_episode()

    @staticmethod
    def _corpus_backend(corpus: Corpus | str | Path | None) -> Any:
        if corpus is None:
            return None
        if isinstance(corpus, Corpus):
            return lambda: OfflineBackend.from_corpus(corpus, cache=False)
        path = Path(corpus)
        if not path.is_file():
            raise ConfigError(
                f"corpus: expected a Corpus or a .jsonl(.gz) file of {{'title', 'sentences'}} records, got the "
                f"missing path {path}."
            )
        return lambda: OfflineBackend.from_corpus(Corpus.from_jsonl(path), data_path=path)

    def _clear_episode(self) -> None:
        self._page: Page | None = None
        self._sents: list[str] = []
        self._kw: str | None = None
        self._hits: list[str] = []
        self._cnt = 0
        self._opened: dict[str, frozenset[str]] = {}
        self._tried: frozenset[str] = frozenset()
        self._answer: str | None = None

    # ------------------------------------------------------------------ tasks
    def task_ids(self) -> list[str]:
        """The ids of the env's questions."""
        return [t.id for t in self.tasks]

    def task(self, task_id: str) -> QATask:
        """The question with this id (raises :class:`~toolgym.error.UnknownTaskError`)."""
        i = self._by_id.get(task_id)
        if i is None:
            raise UnknownTaskError(task_id, type(self).__name__, list(self._by_id)[:200])
        return self.tasks[i]

    def _draw_task(self) -> QATask:
        if not self.tasks:
            raise ConfigError(f"{type(self).__name__}: expected at least one task, got none.")
        return rand_elem(self.np_random, self.tasks)

    @property
    def current_task(self) -> QATask:
        """The question of the current episode."""
        return self._task

    def instructions(self) -> str:
        """How to act, for prompts and the ``play`` command."""
        s, lk = self.cost_model.costs["search"].per_call, self.cost_model.costs["lookup"].per_call
        how = (
            "opens the page with that exact title and shows its first sentences (or lists similar titles)"
            if self.search_mode == "entity"
            else "opens the page with that title, or the passage that best matches a free-text query"
        )
        return (
            "Answer the question by searching an encyclopedia, in at most "
            f"{self.max_steps} actions. search[entity] {how}; lookup[keyword] shows the next sentence of the "
            "open page that contains the keyword; finish[answer] submits a short answer and ends the episode. "
            f"Each search costs {s:g} and each lookup {lk:g} reward."
        )

    # ------------------------------------------------------------------ episode
    def _reset_task(self, task_id: str | None, options: Mapping[str, Any]) -> tuple[str, str]:
        self._task = self._draw_task() if task_id is None else self.task(task_id)
        self._clear_episode()
        return f"Question: {self._task.question}", self._task.id

    def _act(self, action: ParsedAction) -> Transition:
        if action.name == "finish":
            return self._finish(clean_argument(action.argument))
        if action.name == "think":
            return Transition(observation="Nice thought.")
        arg = clean_argument(action.argument)
        example = "search[Scott Derrickson]" if action.name == "search" else "lookup[born]"
        if not arg:
            what = "an entity or a query" if action.name == "search" else "a keyword"
            return Transition(
                observation=f"Invalid action: {action.name}[] needs {what}, e.g. {example}.",
                invalid=True,
            )
        if len(arg) > self.max_query_chars:
            return Transition(
                observation=(
                    f"Invalid action: the {action.name} argument has {len(arg)} characters; expected at most "
                    f"{self.max_query_chars}. Use a short name or phrase, e.g. {example}."
                ),
                invalid=True,
            )
        if action.name == "search":
            return Transition(observation=self.use_tool("search", arg, self._search, arg))
        return Transition(observation=self.use_tool("lookup", arg, self._lookup, arg))

    def _open(self, page: Page) -> str:
        self._page = page
        self._sents = react_sentences(page.text, quirks=self.react_quirks)
        self._kw, self._hits, self._cnt = None, [], 0
        shown = self._sents[: self.page_sentences]
        self._opened[page.title] = self._opened.get(page.title, frozenset()) | frozenset(shown)
        return page_observation(self._sents, self.page_sentences)

    def _miss(self, arg: str, titles: Sequence[str], *, ambiguous: bool = False) -> str:
        shown = arg if self.react_quirks and not ambiguous else f"[{arg}]"
        return f"Could not find {shown}. Similar: {list(titles)!r}."

    def _search(self, arg: str) -> str:
        if self.noise > 0.0 and self.np_random.random() < self.noise:
            if self.noise_mode == "empty":
                return self._miss(arg, [])
            page = self.backend.random_page(float(self.np_random.random()))
            return self._open(page) if page is not None else self._miss(arg, [])
        try:
            page = self.backend.page(arg)
            if page is not None and not page.disambiguation:
                return self._open(page)
            if page is None:
                self._tried = self._tried | {arg}
            if self.search_mode == "query" and page is None:
                hits = self.backend.search(arg, 1)
                if hits:
                    best = hits[0].page  # a live hit carries only a snippet: open the full page
                    return self._open(self.backend.page(best.title) or best)
                return self._miss(arg, [])
            hits = self.backend.search(arg, self.similar)
            return self._miss(arg, [h.page.title for h in hits], ambiguous=page is not None)
        except BackendError as exc:
            return f"Search error: {exc}"

    def _lookup(self, keyword: str) -> str:
        if self._kw != keyword:
            self._kw = keyword
            self._hits = lookup_sentences(self._sents, keyword) if self._page is not None else []
            self._cnt = 0
        end = "No more results.\n" if self.react_quirks else "No more results."
        if self._cnt >= len(self._hits):
            return end
        sentence = self._hits[self._cnt]
        self._cnt += 1
        if self._page is not None:
            self._opened[self._page.title] = self._opened.get(self._page.title, frozenset()) | {sentence}
        return f"(Result {self._cnt} / {len(self._hits)}) {sentence}"

    def _finish(self, answer: str) -> Transition:
        self._answer = answer
        em, f1 = score_answer(answer, self._task.answer)
        reward = (1.0 if em else 0.0) if self.reward_kind == "em" else f1
        verdict = "correct" if em else "incorrect"
        return Transition(
            observation=f"Episode finished, reward = {em}",
            reward=reward,
            terminated=True,
            success=em,
            score=f1,
            feedback=f"The answer {answer!r} is {verdict} (exact match {em}, F1 {f1:.2f}).",
        )

    def _on_truncate(self) -> Transition:
        return Transition(
            observation=f"Step limit reached ({self.max_steps}) without finish[...]; the episode scores 0.",
            feedback=f"The step limit of {self.max_steps} was reached before an answer was submitted.",
        )

    def _extra_info(self) -> dict[str, Any]:
        t = self._task
        return {
            "question": t.question,
            "task_type": t.type,
            "hops": int(t.get("hops", len(t.titles))),
            "page": self._page.title if self._page is not None else "",
            "answer": self._answer if self._answer is not None else "",
            "gold_answer": t.answer if self._done else "",
        }

    # ------------------------------------------------------------------ snapshots
    def _get_state(self) -> tuple:
        opened = tuple(sorted((k, tuple(sorted(v))) for k, v in self._opened.items()))
        return (self._task, self._page, self._kw, self._cnt, opened, tuple(sorted(self._tried)), self._answer)

    def _set_state(self, state: tuple) -> None:
        task, page, kw, cnt, opened, tried, answer = state
        self._task = task
        self._page = page
        self._sents = react_sentences(page.text, quirks=self.react_quirks) if page is not None else []
        self._kw = kw
        self._hits = lookup_sentences(self._sents, kw) if (kw is not None and page is not None) else []
        self._cnt = cnt
        self._opened = {k: frozenset(v) for k, v in opened}
        self._tried = frozenset(tried)
        self._answer = answer

    def _state_key_data(self) -> Any:
        opened = sorted((k, sorted(v)) for k, v in self._opened.items())
        page = self._page.title if self._page is not None else None
        return [page, self._kw, self._cnt, opened, sorted(self._tried), self._answer]

    # ------------------------------------------------------------------ expert
    def expert_plan(self) -> tuple[Hop, ...]:
        """The expert's plan for the current question (see :mod:`toolgym.envs.search.expert`)."""
        plan = self._plans.get(self._task.id)
        if plan is None:
            plan = plan_task(self._task, self.backend, page_sentences=self.page_sentences, quirks=self.react_quirks)
            if len(self._plans) >= _PLAN_CACHE_SIZE:
                self._plans.clear()
            self._plans[self._task.id] = plan
        return plan

    def _expert_next(self) -> tuple[str, str, str]:
        """``(kind, argument, detail)`` of the expert's next action."""
        answer = self._task.answer
        if self.max_steps - self._steps <= 1:
            return ("finish", answer, "")
        for hop in self.expert_plan():
            if not hop.exists:
                if hop.title in self._tried or hop.title in self._opened:
                    continue
                return ("search", hop.title, "")
            shown = self._opened.get(hop.title)
            if shown is not None and all(s in shown for s in hop.needed):
                continue
            on_page = self._page is not None and self._page.title == hop.title
            if not on_page:
                return ("search", hop.title, "")
            for sentence, kw in zip(hop.needed, hop.keywords):
                if sentence in (shown or ()):
                    continue
                if not kw:  # shown by search, but the page was left: open it again
                    return ("search", hop.title, "")
                if self._kw == kw and sentence not in self._hits[self._cnt :]:
                    return ("search", hop.title, "")  # the lookup passed it: reopen the page to start again
                return ("lookup", kw, sentence)
        return ("finish", answer, "")

    def expert_action(self) -> str:
        """The expert's next action: search the gold pages, look up the facts, finish with the gold answer."""
        kind, arg, _ = self._expert_next()
        balanced = arg.count("[") == arg.count("]") and "\n" not in arg
        if not balanced:
            import json

            return json.dumps({"tool": kind, "args": arg}, ensure_ascii=False)
        return f"{kind}[{arg}]"

    def expert_thought(self) -> str:
        """A short ReAct-style thought that explains :meth:`expert_action` (for teacher trajectories)."""
        kind, arg, _ = self._expert_next()
        if kind == "search":
            return f"I need to search {arg} and find the facts the question asks about."
        if kind == "lookup":
            title = self._page.title if self._page is not None else "this page"
            return f"The first sentences of {title} do not say it; I will look up {arg}."
        return f"So the answer is {arg}."


class HotpotQAEnv(SearchQAEnv):
    """HotpotQA (distractor setting) over an offline mini-Wikipedia, as in ReAct and FireAct.

    ## Description

    The 1,838 HotpotQA dev questions that come with their distractor-setting context. The encyclopedia is the
    offline mini-Wikipedia built from every context paragraph (24,528 pages): both gold pages of every question
    are in it, with hundreds of distractors, and search is BM25 (``bm25s``) with exact-title hits, so runs are
    deterministic and take about a millisecond a search. The expert solves every question. ``split="react500"``
    keeps the questions of ReAct's 500-question evaluation subset (seed-233 shuffle) that have context here.
    ``backend="wikipedia"`` asks live Wikipedia instead (the ``wiki`` extra).

    Data: ``TOOLGYM_DATA_DIR/hotpotqa/`` (``dev_distractor_subset.jsonl.gz`` and ``wiki_paragraphs.jsonl.gz``),
    or the official ``hotpot_dev_distractor_v1.json``, downloaded when online. The search index is built once
    (about 3 s) and cached next to the data, or under ``TOOLGYM_CACHE_DIR`` when that folder is read-only.

    ## Action Space

    ``search[<entity>]``, ``lookup[<keyword>]``, ``finish[<answer>]`` (and ``think[...]``); see
    :class:`SearchQAEnv`.

    ## Observation Space

    Text, as in ReAct's Wikipedia environment; see :class:`SearchQAEnv`.

    ## Rewards

    1 for an exact match at ``finish`` (HotpotQA normalisation), else 0, minus tool costs: ``search`` 0.01,
    ``lookup`` 0.002 per call by default. ``info["score"]`` is the token F1.

    ## Episode End

    ``finish``, or truncation after 7 steps (score 0).

    ## Arguments

    * ``split`` - ``"dev"`` (all 1,838) or ``"react500"`` (118 questions).
    * ``backend`` - ``"offline"`` (default), ``"wikipedia"`` or a backend instance.
    * every :class:`SearchQAEnv` argument (``search_mode``, ``noise``, ``record_to``...).

    Task ids are HotpotQA's ``_id`` strings; ``info`` has the :class:`SearchQAEnv` extras.

    ## Version History

    * v0: initial version.
    """

    setting = "distractor"

    def __init__(self, split: str = "dev", backend: SearchBackend | str = "offline", **kwargs: Any) -> None:
        """Load the questions and the offline index (see the class docstring)."""
        data = hotpotqa(self.setting)
        tasks = data.split(split)
        self.split = split
        if isinstance(backend, str) and backend == "offline":
            backend = hotpot_backend(self.setting)
        super().__init__(tasks, backend, **kwargs)

    @classmethod
    def data_status(cls, **kwargs: Any) -> DataStatus:
        """Whether the HotpotQA files are in ``TOOLGYM_DATA_DIR`` (nothing is downloaded)."""
        return hotpotqa_status(cls.setting)

    def solvable_task_ids(self) -> list[str]:
        """The questions whose gold pages are all in the backend (all of them in the distractor setting)."""
        return [t.id for t in self.tasks if all(self.backend.page(title) is not None for title in t.titles)]


class HotpotQAFullwikiEnv(HotpotQAEnv):
    """HotpotQA (fullwiki setting): questions whose retrieved context often lacks the gold paragraphs.

    ## Description

    The 957 HotpotQA dev questions that come with fullwiki-setting context (the 10 paragraphs the official
    TF-IDF retriever found), searched in the same offline mini-Wikipedia as :class:`HotpotQAEnv`. It is
    harder: for about half of the questions a gold page is missing from the corpus, so they cannot be answered
    from search alone; ``solvable_task_ids()`` lists the others (478 with the shared data), and the expert
    solves exactly those.

    ## Action Space

    As :class:`SearchQAEnv`.

    ## Observation Space

    As :class:`SearchQAEnv`.

    ## Rewards

    As :class:`HotpotQAEnv`.

    ## Episode End

    ``finish``, or truncation after 7 steps.

    ## Arguments

    As :class:`HotpotQAEnv` (``split="react500"`` keeps 71 questions).

    ## Version History

    * v0: initial version.
    """

    setting = "fullwiki"
    expert_solves_all = False


class MultiHopEnv(SearchQAEnv):
    """Multi-hop questions about a procedural world of fictional people, films, bands, cities and companies.

    ## Description

    The embedded default of toolgym's search family: no download, deterministic, fast. A seeded generator
    writes an encyclopedia of fictional entities (:mod:`toolgym.envs.search.world`) and asks HotpotQA-style
    bridge questions (2-4 pages to read) and comparison questions about it. The facts are invented, so a
    language model cannot answer from memory: it has to search. Splits ``train``/``dev``/``test`` have
    disjoint entities. The expert solves every question.

    ## Action Space

    ``search[<entity>]``, ``lookup[<keyword>]``, ``finish[<answer>]`` (and ``think[...]``); see
    :class:`SearchQAEnv`.

    ## Observation Space

    Text, as in ReAct's Wikipedia environment; see :class:`SearchQAEnv`.

    ## Rewards

    1 for an exact match at ``finish``, else 0 (``reward="f1"`` for F1), minus tool costs (``search`` 0.01,
    ``lookup`` 0.002 per call by default).

    ## Episode End

    ``finish``, or truncation after ``max_steps`` (default ``max(7, 2 * max(hops) + 1)``, i.e. 9 for 4-hop
    questions: a search and a lookup per page, then finish).

    ## Arguments

    * ``split`` - ``"train"`` (default), ``"dev"`` or ``"test"``.
    * ``seed`` - the world seed (default 0); ``size`` - pages per split (default 600).
    * ``distractors`` - namesakes per name stem, 0-5 (default 2).
    * ``hops`` - bridge-question hop counts to draw from (default ``(2, 3, 4)``).
    * ``comparison`` - fraction of comparison questions (default 0.2, as in HotpotQA).
    * every :class:`SearchQAEnv` argument except ``tasks``/``corpus`` (``backend`` defaults to the world's
      own corpus).

    Task ids are ``"<split>-<n>"`` for any ``n >= 0`` (``task_ids()`` lists the first 1,000);
    ``info["hops"]`` is the number of pages the question needs.

    ## Version History

    * v0: initial version.
    """

    #: How many task ids :meth:`task_ids` lists.
    tasks_listed = 1000

    def __init__(
        self,
        split: str = "train",
        *,
        seed: int = 0,
        size: int = 600,
        distractors: int = 2,
        hops: Sequence[int] = (2, 3, 4),
        comparison: float = 0.2,
        backend: SearchBackend | str = "offline",
        **kwargs: Any,
    ) -> None:
        """Generate (or reuse) the world split and its index (see the class docstring)."""
        if split not in SPLITS:
            raise ConfigError(f"MultiHop split: expected one of {list(SPLITS)}, got {split!r}.")
        self.world: World = build_world(
            seed=seed, size=size, distractors=distractors, split=split, hops=tuple(hops), comparison=comparison
        )
        if kwargs.get("max_steps") is None:
            kwargs["max_steps"] = max(7, 2 * max(self.world.hops) + 1)
        self.split = split
        if isinstance(backend, str) and backend == "offline":
            backend = world_backend(seed, size, distractors, split)
        super().__init__((), backend, **kwargs)

    def task_ids(self) -> list[str]:
        """The first :attr:`tasks_listed` question ids of the split (any ``<split>-<n>`` is valid)."""
        return [self.world.task_id(n) for n in range(self.tasks_listed)]

    def iter_task_ids(self) -> Iterator[str]:
        """Every question id of the split in order, without end."""
        return (self.world.task_id(n) for n in itertools.count())

    def task(self, task_id: str) -> QATask:
        """The question with this id (generated)."""
        return self.world.question(self.world.parse_task_id(task_id))

    def _draw_task(self) -> QATask:
        return self.world.question(int(self.np_random.integers(2**31 - 1)))
