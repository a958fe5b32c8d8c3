"""Search QA environments: HotpotQA over an offline Wikipedia, live Wikipedia, and a procedural multi-hop world.

ReAct's ``search[...]`` / ``lookup[...]`` / ``finish[...]`` setting (also used by Reflexion, FireAct, Re-ReST and
LATS) as Gymnasium environments:

* ``toolgym/HotpotQA-v0`` - :class:`HotpotQAEnv`, HotpotQA dev (distractor setting) over a 24.5k-page offline
  mini-Wikipedia searched with BM25;
* ``toolgym/HotpotQA-Fullwiki-v0`` - :class:`HotpotQAFullwikiEnv`, the fullwiki setting (gold pages often absent);
* ``toolgym/MultiHop-v0`` - :class:`MultiHopEnv`, bridge and comparison questions about a generated world of
  fictional entities (no download).

:class:`SearchQAEnv` runs any questions (e.g. :func:`load_bamboogle`, :func:`load_strategyqa`) over any backend:
:class:`OfflineBackend`, :class:`~toolgym.envs.search.wikipedia.WikipediaBackend`, or a recording
(:class:`RecordingBackend` / :class:`ReplayBackend`). Scoring is HotpotQA's (:mod:`toolgym.envs.search.scoring`).
"""

from toolgym.envs.search.backends import (
    BackendError,
    OfflineBackend,
    RecordingBackend,
    ReplayBackend,
    SearchBackend,
    SearchHit,
)
from toolgym.envs.search.corpus import Corpus, Page
from toolgym.envs.search.env import HotpotQAEnv, HotpotQAFullwikiEnv, MultiHopEnv, SearchQAEnv
from toolgym.envs.search.scoring import exact_match, f1_score, normalize_answer, score_answer
from toolgym.envs.search.tasks import QATask, hotpotqa, load_bamboogle, load_strategyqa, react500_indices
from toolgym.envs.search.world import World, build_world

__all__ = [
    "BackendError",
    "Corpus",
    "HotpotQAEnv",
    "HotpotQAFullwikiEnv",
    "MultiHopEnv",
    "OfflineBackend",
    "Page",
    "QATask",
    "RecordingBackend",
    "ReplayBackend",
    "SearchBackend",
    "SearchHit",
    "SearchQAEnv",
    "World",
    "build_world",
    "exact_match",
    "f1_score",
    "hotpotqa",
    "load_bamboogle",
    "load_strategyqa",
    "normalize_answer",
    "react500_indices",
    "score_answer",
]
