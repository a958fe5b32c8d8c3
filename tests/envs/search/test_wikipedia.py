"""The live Wikipedia backend: against a loopback MediaWiki API server, and (marked network) the real one."""

from __future__ import annotations

import pickle
import socket
import time

import pytest

from toolgym.envs.search import MultiHopEnv
from toolgym.envs.search.backends import BackendError, OfflineBackend
from toolgym.envs.search.corpus import Corpus
from toolgym.envs.search.mediawiki import MediaWikiServer
from toolgym.envs.search.wikipedia import API_URL_ENV, ResponseCache, WikipediaBackend

pytest.importorskip("wikipediaapi")

PAGES = [
    ("Ed Wood", "Ed Wood is a 1994 American film directed by Tim Burton.\nIt stars Johnny Depp."),
    ("Mercury", "Mercury may refer to:\nMercury (planet)\nMercury (element)"),
    ("Tim Burton", "Tim Burton is an American filmmaker. He was born in Burbank."),
    ("AT&T <Labs>", "AT&T <Labs> is a research company."),
]


@pytest.fixture
def server():
    backend = OfflineBackend.from_corpus(Corpus.from_pages(PAGES), cache=False)
    with MediaWikiServer(backend) as s:
        yield s


def test_pages_search_and_disambiguation(server):
    wiki = WikipediaBackend(api_url=server.url, cache=False, retry_wait=0.01)
    page = wiki.page("Ed Wood")
    assert page.title == "Ed Wood" and page.text == PAGES[0][1] and not page.disambiguation
    assert wiki.page("ed wood").title == "Ed Wood"  # the server normalises the title
    assert wiki.page("Nothing Here") is None
    assert wiki.page("Mercury").disambiguation is True
    hits = wiki.search("Burton filmmaker", 3)
    assert [h.page.title for h in hits][0] == "Tim Burton" and hits[0].score > hits[-1].score or len(hits) == 1
    assert [h.page.title for h in wiki.search("AT&T research", 2)][0] == "AT&T <Labs>"
    assert wiki.search("", 3) == [] and wiki.page("  ") is None
    assert all(r["action"] == "query" and r["format"] == "json" for r in server.requests)


def test_retries_with_backoff_then_success(server):
    wiki = WikipediaBackend(api_url=server.url, cache=False, max_retries=3, retry_wait=0.01)
    server.fail_next(2, status=503)
    n0 = len(server.requests)
    assert wiki.page("Tim Burton").title == "Tim Burton"
    assert len(server.requests) - n0 == 3


def test_retries_exhausted_is_a_backend_error(server):
    wiki = WikipediaBackend(api_url=server.url, cache=False, max_retries=1, retry_wait=0.01)
    server.fail_next(5, status=500)
    with pytest.raises(BackendError, match="WikiHttpError"):
        wiki.page("Tim Burton")


def test_timeouts(server):
    server.delay_s = 2.0
    wiki = WikipediaBackend(api_url=server.url, cache=False, timeout=0.2, max_retries=1, retry_wait=0.01)
    t0 = time.perf_counter()
    with pytest.raises(BackendError, match="Timeout"):
        wiki.page("Ed Wood")
    assert time.perf_counter() - t0 < 1.5
    server.delay_s = 0.0


def test_persistent_response_cache(tmp_path):
    cache = tmp_path / "wiki.sqlite"
    backend = OfflineBackend.from_corpus(Corpus.from_pages(PAGES), cache=False)
    with MediaWikiServer(backend) as s:
        first = WikipediaBackend(api_url=s.url, cache=cache)
        page, hits = first.page("Ed Wood"), first.search("Burton", 2)
        first.page("Nothing Here")
        n = len(s.requests)
        again = WikipediaBackend(api_url=s.url, cache=cache)
        assert again.page("Ed Wood") == page and again.search("Burton", 2) == hits
        assert len(s.requests) == n  # answered from the cache
        url = s.url
    assert len(ResponseCache(cache)) == 3
    offline = WikipediaBackend(api_url=url, cache=cache, max_retries=0, timeout=0.5)
    assert offline.page("Ed Wood") == page  # the server is gone: the cache answers
    with pytest.raises(BackendError):
        offline.page("Never Asked")


def test_configuration_and_pickling(monkeypatch, server):
    monkeypatch.setenv(API_URL_ENV, server.url)
    wiki = WikipediaBackend(cache=False)
    assert wiki.api_url == server.url and wiki.page("Tim Burton") is not None
    clone = pickle.loads(pickle.dumps(wiki))
    assert clone.page("Tim Burton") == wiki.page("Tim Burton")
    with pytest.raises(Exception, match="timeout"):
        WikipediaBackend(timeout=0)
    with pytest.raises(Exception, match="max_retries"):
        WikipediaBackend(max_retries=-1)


def test_env_over_the_live_code_path_matches_the_offline_env(tmp_path):
    """The same world served as a MediaWiki API gives the same episodes as the offline index."""
    offline = MultiHopEnv(size=200)
    with MediaWikiServer(offline.backend) as s:
        live = MultiHopEnv(size=200, backend="wikipedia", wikipedia={"api_url": s.url, "cache": False})
        record = tmp_path / "live.jsonl"
        rec = MultiHopEnv(size=200, backend="wikipedia", wikipedia={"api_url": s.url, "cache": False}, record_to=record)
        for seed in range(6):
            runs = []
            for env in (offline, live, rec):
                env.reset(seed=seed)
                steps = []
                done = False
                while not done:
                    action = env.expert_action()
                    obs, reward, term, trunc, info = env.step(action)
                    steps.append((action, obs, reward, info["success"]))
                    done = term or trunc
                runs.append(steps)
                assert steps[-1][3], "the expert solves the question through the live code path too"
            assert runs[0] == runs[1] == runs[2]
        live.reset(seed=0)
        offline.reset(seed=0)
        assert live.step("search[zzqq film]")[0] == offline.step("search[zzqq film]")[0]
    # replay the loopback recording offline, byte for byte
    replay = MultiHopEnv(size=200, replay_from=record)
    for seed in range(6):
        replay.reset(seed=seed)
        offline.reset(seed=seed)
        done = False
        while not done:
            a = replay.expert_action()
            r1, r2 = replay.step(a), offline.step(a)
            assert r1 == r2
            done = r1[2] or r1[3]


def _online() -> bool:
    try:
        with socket.create_connection(("en.wikipedia.org", 443), timeout=3):
            return True
    except OSError:
        return False


@pytest.mark.network
def test_real_wikipedia(tmp_path):
    if not _online():
        pytest.skip("en.wikipedia.org is not reachable (offline)")
    wiki = WikipediaBackend(cache=tmp_path / "w.sqlite", timeout=15)
    page = wiki.page("Ed Wood (film)")
    assert page is not None and "Tim Burton" in page.text
    assert any("Wood" in h.page.title for h in wiki.search("Ed Wood Tim Burton film", 5))
    env = MultiHopEnv(backend=wiki)
    env.reset(seed=0)
    obs, *_ = env.step("search[Scott Derrickson]")
    assert "Derrickson" in obs
