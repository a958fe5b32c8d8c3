"""Task splits: disjoint by id and question text, stable, and never the few-shot examples of an evaluation."""

from __future__ import annotations

import gymnasium as gym
import pytest

import toolgym  # noqa: F401
from toolgym.error import ConfigError
from toolgym.splits import FRACTIONS, normalize_question, overlap_report, split_of, task_questions, task_split

PROCEDURAL = [
    ("toolgym/ToolChoice-Arithmetic-v0", {}),
    ("toolgym/ToolChoice-Arithmetic-v0", {"difficulty": 1}),
    ("toolgym/MultiHop-v0", {}),
    ("toolgym/Household-v0", {}),
    ("toolgym/ShapesVQA-v0", {}),
]


def test_split_of_is_stable_and_follows_the_fractions():
    keys = [f"question {i}" for i in range(20_000)]
    counts = {s: 0 for s in FRACTIONS}
    for k in keys:
        counts[split_of(k)] += 1
    for name, share in FRACTIONS.items():
        assert abs(counts[name] / len(keys) - share) < 0.015, counts
    assert split_of("what is 4 + 8?") == split_of(normalize_question("  What is 4 +\n 8? "))


@pytest.mark.parametrize(("env_id", "kwargs"), PROCEDURAL, ids=lambda x: str(x))
def test_splits_are_disjoint_by_id_and_question(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    sets = {name: task_split(env, name, n) for name, n in (("train", 120), ("test", 60), ("examples", 6))}
    assert sets["train"] and sets["test"] and sets["examples"]
    report = overlap_report(sets, env)
    assert report["disjoint"], report["pairs"]
    for name, ids in sets.items():
        assert report["sets"][name]["splits"] == {name: len(ids)}
        assert report["sets"][name]["distinct_questions"] == len(ids)
    # deterministic, and skip= gives the next ones
    assert task_split(env, "test", 60) == sets["test"]
    assert task_split(env, "test", 30, skip=30) == sets["test"][30:]


def test_overlap_report_finds_shared_ids_and_question_texts():
    env = gym.make("toolgym/ToolChoice-Arithmetic-v0", difficulty=1)
    texts = task_questions(env, ["L1-0", "L1-1"])
    twin = next(f"L1-{n}" for n in range(2, 2000) if task_questions(env, [f"L1-{n}"])[f"L1-{n}"] == texts["L1-0"])
    report = overlap_report({"a": ["L1-0"], "b": [twin], "c": ["L1-1"]}, env)
    assert not report["disjoint"]
    assert report["pairs"]["a|b"]["shared_ids"] == 0 and report["pairs"]["a|b"]["shared_questions"] == 1
    assert report["pairs"]["a|c"]["shared_questions"] == 0
    assert not overlap_report({"a": ["L1-0"], "b": ["L1-0"]}, env)["disjoint"]


def test_task_split_restores_the_env_and_checks_arguments():
    env = gym.make("toolgym/MultiHop-v0")
    obs, _ = env.reset(seed=5)
    env.step("search[something]")
    key = env.unwrapped.state_key()
    task_split(env, "train", 10)
    assert env.unwrapped.state_key() == key
    with pytest.raises(ConfigError, match="split"):
        task_split(env, "dev", 3)
    with pytest.raises(ConfigError, match="TextEnv"):
        task_split(gym.make("CartPole-v1"), "train", 3)


def test_vqa_questions_about_different_images_are_different_tasks():
    env = gym.make("toolgym/ShapesVQA-v0")
    keys = task_questions(env, [f"shapes-{n}" for n in range(200)])
    questions = [k.split(" | image ")[0] for k in keys.values()]
    assert len(set(questions)) < len(questions)  # the same question text about several images...
    assert len(set(keys.values())) == len(keys)  # ...are distinct tasks


@pytest.mark.parametrize(("env_id", "kwargs"), PROCEDURAL, ids=lambda x: str(x))
def test_random_draws_never_give_an_examples_task(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    for seed in range(300):
        env.reset(seed=seed)
        assert split_of(env.unwrapped.split_key()) != "examples"


def test_benchmark_episodes_never_share_a_task_or_question_with_few_shot_examples():
    """The quick suite's evaluated tasks (replicates 0-2, and more) against every few-shot example it may use."""
    from toolgym.agents.prompting.fewshot import ARITHMETIC_EXAMPLES, expert_examples
    from toolgym.benchmarks.plan import reset_seed

    for env_id, kwargs in PROCEDURAL:
        env = gym.make(env_id, **kwargs)
        evaluated_ids, evaluated_texts = set(), set()
        for replicate in range(3):
            for index in range(40):
                obs, info = env.reset(seed=reset_seed(replicate, index))
                evaluated_ids.add(info["task_id"])
                evaluated_texts.add(env.unwrapped.split_key())
        example_ids = task_split(env, "examples", 8)
        example_texts = set(task_questions(env, example_ids).values())
        assert not evaluated_ids & set(example_ids), env_id
        assert not evaluated_texts & example_texts, env_id
        made = expert_examples(env, k=2)
        assert made, env_id
        for ex in made:  # the expert's examples are tasks of the examples split
            assert split_of(normalize_question("Question: " + ex.question)) == "examples" or env_id.endswith(
                ("Household-v0", "ShapesVQA-v0")
            )
    written = {normalize_question("Question: " + e.question) for e in ARITHMETIC_EXAMPLES}
    assert all(split_of(k) == "examples" for k in written)
