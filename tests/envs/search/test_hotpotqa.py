"""HotpotQA, Bamboogle and StrategyQA from TOOLGYM_DATA_DIR (skipped with a reason when the data is missing)."""

from __future__ import annotations

import json
import re

import gymnasium as gym
import pytest

from toolgym.data import data_dir, is_available
from toolgym.envs.search import HotpotQAEnv, HotpotQAFullwikiEnv
from toolgym.envs.search.tasks import (
    HOTPOT_CORPUS,
    HOTPOT_SUBSET,
    hotpotqa,
    hotpotqa_status,
    load_bamboogle,
    load_strategyqa,
    load_tasks,
    react500_indices,
)
from toolgym.error import ConfigError, DataNotFoundError

needs_hotpot = pytest.mark.skipif(
    not is_available(HOTPOT_SUBSET["distractor"], HOTPOT_SUBSET["fullwiki"], HOTPOT_CORPUS),
    reason="HotpotQA files are not in TOOLGYM_DATA_DIR (set TOOLGYM_DATA_DIR to toolgym's shared data)",
)


def _solve(env, task_id):
    env.reset(seed=0, options={"task_id": task_id})
    actions, done, info = [], False, {}
    while not done:
        actions.append(env.unwrapped.expert_action())
        _, _, term, trunc, info = env.step(actions[-1])
        done = term or trunc
    return info, actions


@needs_hotpot
def test_distractor_data_and_corpus():
    data = hotpotqa("distractor")
    assert len(data.tasks) == 1838 and len(data.corpus) == 24528 and data.layout == "subset"
    t = data.tasks[0]
    assert t.question == "Were Scott Derrickson and Ed Wood of the same nationality?" and t.answer == "yes"
    assert t.titles == ("Scott Derrickson", "Ed Wood") and t.type == "comparison"
    assert t.supporting[0] == ("Scott Derrickson", "Scott Derrickson (born July 16, 1966) is an American director, "
                                                   "screenwriter and producer.")  # fmt: skip
    assert all(len(t.titles) == 2 for t in data.tasks)


@needs_hotpot
def test_expert_solves_every_distractor_question():
    env = gym.make("toolgym/HotpotQA-v0")
    base = env.unwrapped
    assert base.expert_solves_all and len(base.task_ids()) == 1838
    assert base.solvable_task_ids() == base.task_ids()
    lookups = 0
    for tid in base.task_ids():
        info, actions = _solve(env, tid)
        assert info["success"], (tid, info["question"], actions)
        assert actions[-1] == f"finish[{info['gold_answer']}]" or actions[-1].startswith('{"tool": "finish"')
        lookups += sum(a.startswith("lookup[") for a in actions)
    assert lookups > 20


@needs_hotpot
def test_fullwiki_expert_solves_the_solvable_ones():
    env = HotpotQAFullwikiEnv()
    assert env.expert_solves_all is False and len(env.task_ids()) == 957
    solvable = env.solvable_task_ids()
    assert len(solvable) == 478
    for tid in solvable:
        info, _ = _solve(env, tid)
        assert info["success"], tid
    unsolvable = next(t for t in env.task_ids() if t not in set(solvable))
    info, actions = _solve(env, unsolvable)
    assert any(a.startswith("search[") for a in actions)  # it still tries the gold titles


@needs_hotpot
def test_react500_split():
    env = HotpotQAEnv(split="react500")
    order = {i: n for n, i in enumerate(react500_indices())}
    idx = [t.get("dev_index") for t in env.tasks]
    assert len(idx) == 118 and idx == sorted(idx, key=order.__getitem__)
    assert len(HotpotQAFullwikiEnv(split="react500").tasks) == 71
    with pytest.raises(ConfigError, match="react500"):
        HotpotQAEnv(split="train")


@needs_hotpot
def test_search_observations_on_the_mini_wikipedia():
    env = HotpotQAEnv()
    env.reset(seed=0, options={"task_id": env.task_ids()[0]})
    obs, *_ = env.step("Search[Scott Derrickson]")
    assert obs.startswith("Scott Derrickson (born July 16, 1966) is an American director, screenwriter and producer.")
    obs, *_ = env.step("Lookup[Doctor Strange]")
    assert obs.startswith("(Result 1 / 1) He is best known for directing horror films")
    obs, *_ = env.step("Search[Scott Derrickson director]")
    assert obs.startswith("Could not find [Scott Derrickson director]. Similar: [") and "'Scott Derrickson'" in obs
    _, reward, term, _, info = env.step("Finish[yes]")
    assert term and info["success"] and reward == 1.0
    assert info["cost_total"] == pytest.approx(2 * 0.01 + 0.002) and info["cost_breakdown"].keys() == {
        "search",
        "lookup",
    }


@needs_hotpot
def test_published_prompts_and_trajectories_parse_unchanged():
    """Every action of ReAct's HotpotQA prompts and FireAct's 1,233 trajectories is a valid action here."""
    env = HotpotQAEnv()
    prompts = data_dir() / "react_prompts" / "prompts_naive.json"
    fireact = sorted((data_dir() / "fireact" / "finetune_gpt_format").glob("*.jsonl"))
    if not prompts.is_file() or not fireact:
        pytest.skip("react_prompts/ or fireact/ is not in TOOLGYM_DATA_DIR")
    actions = re.findall(r"Action \d+: (.*)", json.loads(prompts.read_text())["webthink_simple6"])
    for path in fireact:
        for line in path.read_text(encoding="utf-8").splitlines():
            for m in json.loads(line)["messages"]:
                if m["role"] == "assistant":
                    actions.append(m["content"])
    assert len(actions) > 2000
    names = set()
    for a in actions:
        env.reset(seed=0)
        obs, _, _, _, info = env.step(a)
        assert not info["invalid_action"], (a, obs)
        names.add(env.grammar.parse(a).name)
    assert names == {"search", "lookup", "finish"}


def test_missing_data_names_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLGYM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TOOLGYM_OFFLINE", "1")
    status = hotpotqa_status("distractor")
    assert not status.available and "dev_distractor_subset.jsonl.gz" in status.detail
    with pytest.raises(DataNotFoundError) as err:
        gym.make("toolgym/HotpotQA-v0")
    msg = str(err.value)
    assert "dev_distractor_subset.jsonl.gz" in msg and "hotpot_dev_distractor_v1.json" in msg
    assert "http://curtis.ml.cmu.edu/datasets/hotpot/hotpot_dev_distractor_v1.json" in msg
    with pytest.raises(DataNotFoundError, match="bamboogle/test.csv"):
        load_bamboogle()
    with pytest.raises(ConfigError, match="distractor"):
        hotpotqa_status("train")


def test_official_layout_is_loaded_and_indexed(tmp_path, monkeypatch):
    """The official hotpot_dev_*_v1.json files work too: questions, supporting facts, corpus from contexts."""
    rows = [
        {
            "_id": "a1",
            "question": "Where was the director of Ed Wood born?",
            "answer": "Burbank",
            "type": "bridge",
            "level": "hard",
            "supporting_facts": [["Ed Wood", 0], ["Tim Burton", 1]],
            "context": [
                ["Ed Wood", ["Ed Wood is a 1994 film directed by Tim Burton.", " It stars Johnny Depp."]],
                ["Tim Burton", ["Tim Burton is a filmmaker.", " He was born in Burbank."]],
                ["Paris", ["Paris is a city."]],
            ],
        },
        {
            "_id": "a2",
            "question": "Is Paris a city?",
            "answer": "yes",
            "type": "comparison",
            "level": "hard",
            "supporting_facts": [["Paris", 0]],
            "context": [["Paris", ["Paris is a city."]], ["Ed Wood", ["Another text."]]],
        },
    ]
    (tmp_path / "hotpotqa").mkdir()
    (tmp_path / "hotpotqa" / "hotpot_dev_distractor_v1.json").write_text(json.dumps(rows))
    monkeypatch.setenv("TOOLGYM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TOOLGYM_CACHE_DIR", str(tmp_path / "cache"))
    assert hotpotqa_status("distractor").available
    data = hotpotqa("distractor")
    assert data.layout == "official" and len(data.corpus) == 3
    assert data.corpus.texts[data.corpus.find("Ed Wood")].startswith("Ed Wood is a 1994 film")  # first one wins
    env = HotpotQAEnv()
    assert env.task_ids() == ["a1", "a2"]
    info, actions = _solve(env, "a1")
    assert info["success"] and actions == ["search[Ed Wood]", "search[Tim Burton]", "finish[Burbank]"]
    assert (tmp_path / "hotpotqa" / ".toolgym-index").is_dir()  # a writable data folder keeps the index


@needs_hotpot
def test_subset_without_the_mini_wikipedia_uses_its_own_contexts(tmp_path, monkeypatch):
    (tmp_path / "hotpotqa").mkdir()
    src = HOTPOT_SUBSET["distractor"].path
    (tmp_path / "hotpotqa" / src.name).symlink_to(src)
    monkeypatch.setenv("TOOLGYM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TOOLGYM_CACHE_DIR", str(tmp_path / "cache"))
    data = hotpotqa("distractor")
    assert len(data.tasks) == 1838 and 15000 < len(data.corpus) < 24528
    assert all(data.corpus.find(t) is not None for task in data.tasks[:200] for t in task.titles)


def test_bamboogle_and_strategyqa():
    if not (data_dir() / "bamboogle" / "test.csv").is_file() or not (data_dir() / "strategyqa").is_dir():
        pytest.skip("bamboogle/ or strategyqa/ is not in TOOLGYM_DATA_DIR")
    bam = load_bamboogle()
    assert len(bam) == 125 and bam[0].id == "bamboogle-0" and bam[0].answer == "james madison"
    sqa = load_strategyqa("dev")
    assert len(sqa) == 229 and {t.answer for t in sqa} == {"yes", "no"}
    assert sqa[0].get("decomposition")
    assert len(load_strategyqa("train")) == 2821
    assert load_tasks("Bamboogle") == bam
    with pytest.raises(ConfigError, match="no public answers"):
        load_strategyqa("test")
    with pytest.raises(ConfigError, match="tasks"):
        load_tasks("triviaqa")


@needs_hotpot
def test_both_settings_share_one_index_and_pickle_small():
    import pickle

    a, b = HotpotQAEnv(), HotpotQAFullwikiEnv()
    assert a.backend is b.backend
    assert len(pickle.dumps(a.backend)) < 1000 and pickle.loads(pickle.dumps(b.backend)) is a.backend
