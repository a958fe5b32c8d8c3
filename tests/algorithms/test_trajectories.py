"""Datasets of trajectories: k distinct samples, the success filter, de-duplication, caps, mixing, I/O."""

from __future__ import annotations

import json
import os

import gymnasium as gym
import pytest

from toolgym.agents import make_policy
from toolgym.agents.llm.scripted import ScriptedLLM
from toolgym.algorithms.evaluate import held_out_report
from toolgym.algorithms.ledger import Ledger
from toolgym.algorithms.trajectories import (
    cap_per_task,
    collect,
    cot_as_react,
    dedupe,
    load_dataset,
    merge_trials,
    save_dataset,
    split_by_task,
    successes,
)
from toolgym.error import ConfigError
from toolgym.splits import task_split

ARITH = "toolgym/ToolChoice-Arithmetic-v0"
DATA = os.environ.get("TOOLGYM_DATA_DIR", "")


def test_collect_gives_k_independent_samples_and_charges_the_ledger(tiny_llm):
    ledger = Ledger()
    policy = make_policy("react", llm=tiny_llm, temperature=1.0, seed=0, max_tokens=16, examples="none")
    trajs = collect(policy, ARITH, ["L3-1", "L4-2"], k=3, num_envs=4, ledger=ledger, phase="sample")
    assert [t.task_id for t in trajs] == ["L3-1"] * 3 + ["L4-2"] * 3
    assert [t.metadata["sample"] for t in trajs] == [0, 1, 2, 0, 1, 2]
    texts = [t.to_react_text() for t in trajs]
    assert len(set(texts)) == 6
    total = ledger.total()
    assert total["episodes"] == 6 and total["env_steps"] == sum(len(t.steps) for t in trajs)
    assert total["completion_tokens"] > 0
    again = collect(policy, ARITH, ["L3-1", "L4-2"], k=3, num_envs=1)
    assert [t.to_react_text() for t in again] == texts  # same seed, same samples, whatever num_envs


def test_the_filter_reads_success_not_reward():
    calc = make_policy("calc-teacher")
    # costs are on: each success earns 1 - 0.1 for the calculator call, so a reward filter would drop them all
    trajs = collect(calc, ARITH, ["L4-0", "L4-1"], env_kwargs={"cost_weight": 1.0})
    assert all(t.success and t.total_reward < 1.0 for t in trajs)
    assert successes(trajs) == trajs
    wrong = collect(make_policy("scripted", actions=["finish[0]"]), ARITH, ["L4-0"])
    assert successes(wrong) == []


def test_dedupe_cap_and_split_by_task():
    calc = make_policy("calc-teacher")
    trajs = collect(calc, ARITH, ["L1-0", "L1-1", "L2-0"], k=3)
    assert len(dedupe(trajs)) == 3  # the teacher is deterministic: one distinct trajectory per task
    assert len(cap_per_task(trajs, 2)) == 6
    train, valid = split_by_task(trajs, 1 / 3, seed=0)
    assert len(valid) == 3 and not {t.task_id for t in train} & {t.task_id for t in valid}


def test_fireact_mixing_cot_and_reflexion_render_as_react_steps():
    from toolgym.agents.prompting.training import training_segments

    cot = cot_as_react(ARITH, "L1-0", "Question: What is 4 + 8?", "4 + 8 = 12.", "finish[12]", success=True)
    policy = make_policy("fireact", llm=ScriptedLLM(lambda p, s: ""))
    trained = [s.text for s in training_segments(policy, cot) if s.trained]
    assert trained == [" 4 + 8 = 12.\nAction: finish[12]\nObservation"]
    calc = make_policy("calc-teacher")
    fail = collect(make_policy("scripted", actions=["finish[0]"]), ARITH, ["L2-3"])[0]
    fail = fail.__class__(
        fail.env_id,
        fail.task_id,
        fail.question,
        tuple(s.__class__(**{**s.__dict__, "thought": "Easy, it is 0."}) for s in fail.steps),
        False,
        0.0,
        {},
    )
    good = collect(calc, ARITH, ["L2-3"])[0]
    merged = merge_trials([fail, good], ["I guessed; I should calculate."])
    assert merged.success and len(merged.steps) == len(fail.steps) + len(good.steps)
    assert merged.steps[1].thought.startswith("Reflection: I guessed")
    segs = training_segments(policy, merged)
    assert sum(s.trained for s in segs) == 3
    with pytest.raises(ConfigError, match="reflections"):
        merge_trials([fail, good], [])


def test_datasets_round_trip_atomically(tmp_path):
    trajs = collect(make_policy("calc-teacher"), ARITH, ["L1-0", "L2-0"])
    folder = save_dataset(tmp_path / "data", trajs, {"teacher": "calc-teacher"})
    back, manifest = load_dataset(folder)
    assert back == trajs
    assert manifest["counts"] == {"trajectories": 2, "tasks": 2, "successes": 2, "methods": {"calc-teacher": 2}}
    assert not (tmp_path / "data.tmp").exists()
    with pytest.raises(ConfigError, match="trajectories.jsonl"):
        load_dataset(tmp_path / "missing")


def test_held_out_report_refuses_overlapping_tasks():
    env = gym.make(ARITH, difficulty=1)
    train, test = task_split(env, "train", 30), task_split(env, "test", 10)
    ok = held_out_report(ARITH, {"difficulty": 1}, {"train": train, "test": test})
    assert ok["held_out"] and ok["disjoint"]
    twin = next(
        f"L1-{n}"
        for n in range(1000, 5000)
        if f"L1-{n}" not in test
        and gym.make(ARITH, difficulty=1).reset(options={"task_id": f"L1-{n}"})[0]
        == gym.make(ARITH, difficulty=1).reset(options={"task_id": test[0]})[0]
    )
    with pytest.raises(ConfigError, match="overlap"):
        held_out_report(ARITH, {"difficulty": 1}, {"train": [*train, twin], "test": test})


@pytest.mark.skipif(
    not os.path.isdir(os.path.join(DATA, "fireact")), reason="TOOLGYM_DATA_DIR has no fireact/ (CI sets it)"
)
def test_fireact_and_alfworld_importers():
    from toolgym.agents.prompting.training import training_segments
    from toolgym.algorithms.importers import import_alfworld_expert, import_fireact

    react = import_fireact("hotpotqa")
    mixed = import_fireact("hotpotqa_multimethod")
    assert len(react) == 500 and all(t.success for t in react)
    assert len(mixed) == 733 and sum(t.metadata["method"] == "cot" for t in mixed) == 187
    assert react[0].steps[0].action.startswith("search[") and react[0].steps[-1].action.startswith("finish[")
    policy = make_policy("fireact", llm=ScriptedLLM(lambda p, s: ""))
    segs = training_segments(policy, react[0])
    assert sum(s.trained for s in segs) == len(react[0].steps)
    alf = import_alfworld_expert("valid_unseen")
    assert len(alf) == 111 and all(t.success for t in alf)
    ids = set(gym.make("toolgym/ALFWorld-v0", split="valid_unseen").unwrapped.task_ids())
    assert {t.task_id for t in alf} <= ids
    # FireAct's questions are HotpotQA train questions: none is an evaluated dev question
    from toolgym.splits import normalize_question

    dev = gym.make("toolgym/HotpotQA-v0")
    dev_questions = {normalize_question(dev.unwrapped.task(t).question) for t in dev.unwrapped.task_ids()}
    assert not {normalize_question(t.question) for t in react + mixed} & dev_questions
    assert json.dumps(react[0].to_dict())
