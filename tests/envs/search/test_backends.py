"""The offline backend, the on-disk index cache, and record/replay over any backend."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import stat

import pytest

from toolgym.envs.search import MultiHopEnv
from toolgym.envs.search.backends import (
    BackendError,
    OfflineBackend,
    RecordingBackend,
    ReplayBackend,
    SearchBackend,
)
from toolgym.envs.search.corpus import Corpus, Page
from toolgym.envs.search.index import BM25Index, index_key, load_or_build
from toolgym.error import ConfigError

PAGES = [
    ("Ed Wood", "Ed Wood is a 1994 American film directed by Tim Burton. It stars Johnny Depp."),
    ("Ed Wood (film)", "Ed Wood (film) may refer to:\nthe 1994 film."),
    ("Tim Burton", "Tim Burton is an American filmmaker. He was born in Burbank."),
    ("Burbank", "Burbank is a city in Los Angeles County. It is home to many studios."),
    ("Johnny Depp", "John Christopher Depp II is an American actor. He starred in Ed Wood."),
]


@pytest.fixture
def corpus():
    return Corpus.from_pages(PAGES)


def test_offline_backend_answers(corpus):
    b = OfflineBackend.from_corpus(corpus, cache=False)
    assert isinstance(b, SearchBackend) and len(b) == 5
    assert b.page("Ed Wood").title == "Ed Wood"
    assert b.page("ed_wood").title == "Ed Wood" and b.page("ED WOOD ") is not None
    assert b.page("Ed Wood (film)").disambiguation is True
    assert b.page("Edward Wood") is None
    hits = b.search("director Burton film", 3)
    assert [h.page.title for h in hits][0] in ("Ed Wood", "Tim Burton")
    assert all(h.score > 0 for h in hits) and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert b.search("zzzz qqq") == [] and b.search("") == [] and b.search("the of and") == []
    assert b.search("Burbank", 0) == []
    assert b.random_page(0.0).title == "Ed Wood" and b.random_page(0.999).title == "Johnny Depp"


def test_index_top_breaks_ties_by_document_order():
    idx = BM25Index.build(["alpha beta", "alpha beta", "alpha beta", "gamma"])
    assert [i for i, _ in idx.top("alpha", 2)] == [0, 1]
    assert [i for i, _ in idx.top("alpha", 10)] == [0, 1, 2]


def _write_corpus(folder, pages=PAGES):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pages.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for title, text in pages:
            fh.write(json.dumps({"title": title, "sentences": [text]}) + "\n")
    return path


def test_index_cached_next_to_writable_data(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLGYM_CACHE_DIR", str(tmp_path / "cache"))
    path = _write_corpus(tmp_path / "data")
    corpus = Corpus.from_jsonl(path)
    idx, info = load_or_build(corpus.documents(), corpus.checksum, data_path=path)
    assert info["cached"] is False
    assert info["path"] == str(tmp_path / "data" / ".toolgym-index" / f"bm25s-{index_key(corpus.checksum)}")
    idx2, info2 = load_or_build(corpus.documents(), corpus.checksum, data_path=path)
    assert info2["cached"] is True and info2["path"] == info["path"]
    assert idx2.top("Burbank city", 2) == idx.top("Burbank city", 2)
    assert not (tmp_path / "cache").exists()
    leftovers = [p.name for p in (tmp_path / "data" / ".toolgym-index").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_index_falls_back_to_the_cache_when_data_is_read_only(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLGYM_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "data"
    path = _write_corpus(data)
    os.chmod(data, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        corpus = Corpus.from_jsonl(path)
        _, info = load_or_build(corpus.documents(), corpus.checksum, data_path=path)
        assert info["path"].startswith(str(tmp_path / "cache" / "index"))
        assert not (data / ".toolgym-index").exists()
        _, info2 = load_or_build(corpus.documents(), corpus.checksum, data_path=path)
        assert info2["cached"] is True
    finally:
        os.chmod(data, stat.S_IRWXU)


def test_index_key_follows_the_content_and_bad_caches_are_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLGYM_CACHE_DIR", str(tmp_path / "cache"))
    a = _write_corpus(tmp_path / "a")
    b = _write_corpus(tmp_path / "b", PAGES[:4])
    ca, cb = Corpus.from_jsonl(a), Corpus.from_jsonl(b)
    assert ca.checksum != cb.checksum and index_key(ca.checksum) != index_key(cb.checksum)
    _, info = load_or_build(ca.documents(), ca.checksum, data_path=a)
    meta = os.path.join(info["path"], "toolgym-index.json")
    with open(meta, "w") as fh:
        fh.write("{broken")
    _, again = load_or_build(ca.documents(), ca.checksum, data_path=a)
    assert again["cached"] is False and again["path"] == info["path"]
    _, third = load_or_build(ca.documents(), ca.checksum, data_path=a)
    assert third["cached"] is True


def test_nothing_writable_still_works(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setenv("TOOLGYM_CACHE_DIR", str(ro / "cache"))
    try:
        corpus = Corpus.from_pages(PAGES)
        idx, info = load_or_build(corpus.documents(), corpus.checksum, data_path=ro / "x.jsonl")
        assert info["path"] is None and idx.top("Burbank", 1)
    finally:
        os.chmod(ro, stat.S_IRWXU)


def test_offline_backend_pickles_by_recipe():
    env = MultiHopEnv(size=200)
    clone = pickle.loads(pickle.dumps(env.backend))
    assert clone.corpus.checksum == env.backend.corpus.checksum
    assert len(pickle.dumps(env.backend)) < 2000  # the recipe, not the index


def _run(env, actions, seed=0):
    out = [env.reset(seed=seed)]
    for a in actions:
        out.append(env.step(a))
    return out


def test_record_then_replay_byte_for_byte(tmp_path):
    path = tmp_path / "run.jsonl"
    live = MultiHopEnv(record_to=path, max_steps=30)
    live.reset(seed=3)
    t = live.current_task
    actions = [
        f"search[{t.titles[0]}]",
        "lookup[born]",
        "search[zzqqxx unknown]",
        f"search[{t.titles[1]}]",
        "lookup[in]",
        "lookup[in]",
        f"finish[{t.answer}]",
    ]
    recorded = _run(live, actions, seed=3)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and all("op" in json.loads(x) for x in lines)  # 3 searches: 3 page calls + 1 search
    replay = MultiHopEnv(replay_from=path, max_steps=30)
    assert replay.backend.name == "replay"
    assert _run(replay, actions, seed=3) == recorded
    # a request the recording never saw is an observation, not an exception
    replay.reset(seed=3)
    obs, *_ = replay.step("search[Something Else]")
    assert obs.startswith("Search error: Replay: no recorded response for page")


def test_replay_of_noisy_runs(tmp_path):
    path = tmp_path / "noisy.jsonl"
    kwargs = {"noise": 0.5, "noise_mode": "random", "max_steps": 30}
    live = MultiHopEnv(record_to=path, **kwargs)
    live.reset(seed=1)
    actions = [f"search[{live.current_task.titles[0]}]"] * 8
    recorded = _run(live, actions, seed=1)
    assert _run(MultiHopEnv(replay_from=path, **kwargs), actions, seed=1) == recorded


class _Failing:
    name = "failing"

    def page(self, title):
        raise BackendError("the network is down")

    def search(self, query, k=5):
        return []

    def random_page(self, u):
        return Page("X", "x.")


def test_errors_are_recorded_and_replayed(tmp_path):
    path = tmp_path / "err.jsonl"
    env = MultiHopEnv(backend=RecordingBackend(_Failing(), path))
    env.reset(seed=0)
    obs, _, _, _, info = env.step("search[Paris]")
    assert obs == "Search error: the network is down" and not info["invalid_action"]
    assert json.loads(path.read_text())["error"] == "the network is down"
    rep = MultiHopEnv(backend=ReplayBackend(path))
    rep.reset(seed=0)
    assert rep.step("search[Paris]")[0] == obs


def test_replay_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="missing file"):
        ReplayBackend(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"op": "page", "args": ["x"], "result": null}\nnot json\n')
    with pytest.raises(ConfigError, match="line 2"):
        ReplayBackend(bad)
