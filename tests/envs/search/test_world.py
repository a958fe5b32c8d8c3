"""The procedural MultiHop world: determinism, disjoint splits, valid questions, controllable hops/distractors."""

from __future__ import annotations

import collections

import pytest

from toolgym.envs.search.text import react_sentences
from toolgym.envs.search.world import SPLITS, World, build_world
from toolgym.error import ConfigError, UnknownTaskError


def test_same_seed_same_world_and_questions():
    a = World(seed=3, size=200, distractors=2, split="dev")
    b = World(seed=3, size=200, distractors=2, split="dev")
    assert a.corpus.checksum == b.corpus.checksum
    assert [a.question(n) for n in range(50)] == [b.question(n) for n in range(50)]
    c = World(seed=4, size=200, distractors=2, split="dev")
    assert c.corpus.checksum != a.corpus.checksum


def test_build_world_is_cached_and_variants_share_pages():
    base = build_world(seed=0, size=120, split="train")
    assert base is build_world(seed=0, size=120, split="train")
    four = build_world(seed=0, size=120, split="train", hops=(4,), comparison=0.0)
    assert four is not base and four.corpus is base.corpus and four.entities is base.entities
    assert four.hops == (4,) and base.hops == (2, 3, 4)


def test_splits_have_disjoint_entities_and_names():
    worlds = {s: build_world(seed=0, size=600, split=s) for s in SPLITS}
    for s1 in SPLITS:
        for s2 in SPLITS:
            if s1 >= s2:
                continue
            t1, t2 = set(worlds[s1].entities), set(worlds[s2].entities)
            assert not t1 & t2, f"{s1} and {s2} share entities"
            text2 = "\n".join(worlds[s2].corpus.texts)
            leaked = [t for t in t1 if t in text2]
            assert not leaked, f"{s1} entities named in {s2} pages: {leaked[:5]}"


def test_pages_split_into_their_sentences_and_facts_point_at_them():
    w = build_world(seed=0, size=600, split="train")
    lengths = collections.Counter()
    for e in w.entities.values():
        assert react_sentences(" ".join(e.sentences)) == e.sentences, e.title
        assert e.sentences[0].startswith(e.title)
        lengths[len(e.sentences)] += 1
        for rel, target in e.rels.items():
            assert target in w.entities, (e.title, rel, target)
            if rel in e.facts:
                assert target in e.sentences[e.facts[rel]]
    assert min(lengths) >= 5 and max(lengths) >= 8  # some facts lie beyond the five sentences search shows


def test_titles_are_unique_under_normalisation():
    w = build_world(seed=0, size=600, split="test")
    assert len({t.casefold() for t in w.entities}) == len(w.entities) == len(w.corpus)


def test_bridge_questions_are_answerable_by_following_the_chain():
    w = build_world(seed=0, size=600, split="train")
    kinds = collections.Counter()
    for n in range(400):
        t = w.question(n)
        kinds[(t.type, t.get("hops"))] += 1
        assert t.id == f"train-{n}"
        assert t.titles[0] in t.question
        assert len(t.titles) == t.get("hops")
        facts = dict(t.supporting) if t.type == "bridge" else None
        if t.type == "bridge":
            assert [title for title, _ in t.supporting][: len(t.titles)] == list(t.titles)
            for here, nxt in zip(t.titles, t.titles[1:]):
                assert nxt in facts[here], "each page names the next page of the chain"
            assert t.answer.replace(",", "") in t.supporting[-1][1].replace(",", "")
        else:
            a, b = t.titles
            assert a in t.question and b in t.question and a != b
            assert t.answer in (a, b, "yes", "no")
    assert {h for (_, h) in kinds} == {2, 3, 4}
    assert kinds[("comparison", 2)] > 30


def test_hops_and_comparison_are_controllable():
    w = World(seed=1, size=200, distractors=1, split="train", hops=(4,), comparison=0.0)
    assert {(w.question(n).type, w.question(n).get("hops")) for n in range(60)} == {("bridge", 4)}
    w = World(seed=1, size=200, distractors=1, split="train", comparison=1.0)
    qs = [w.question(n) for n in range(60)]
    assert {q.type for q in qs} == {"comparison"}
    assert {"yes", "no"} <= {q.answer for q in qs}


def test_distractors_make_namesakes():
    def families(w):
        return collections.Counter(t.split()[-1] for t in w.by_kind["person"])

    none = World(seed=0, size=300, distractors=0, split="train")
    some = World(seed=0, size=300, distractors=3, split="train")
    assert max(families(none).values()) == 1
    assert max(families(some).values()) == 4


def test_task_ids_and_errors():
    w = build_world(seed=0, size=120, split="dev")
    assert w.parse_task_id("dev-17") == 17
    for bad in ("train-1", "dev-x", "17", ""):
        with pytest.raises(UnknownTaskError):
            w.parse_task_id(bad)
    with pytest.raises(ConfigError, match="split"):
        World(seed=0, size=120, distractors=1, split="validation")
    with pytest.raises(ConfigError, match="size"):
        World(seed=0, size=10, distractors=1, split="dev")
    with pytest.raises(ConfigError, match="hops"):
        World(seed=0, size=120, distractors=1, split="dev", hops=(5,))
    with pytest.raises(ConfigError, match="distractors"):
        World(seed=0, size=120, distractors=9, split="dev")
