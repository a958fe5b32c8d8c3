"""The oracle and the tool-using scripted policy on ShapesVQA; question templates the policy understands."""

from __future__ import annotations

import numpy as np
import pytest

from toolgym.agents import ExpertPolicy, make_policy
from toolgym.agents.vqa import ProgramPolicy, ToolUsingPolicy, parse_question, policy_accuracy
from toolgym.envs.vqa.env import ShapesVQAEnv
from toolgym.envs.vqa.questions import KINDS, generate_question
from toolgym.envs.vqa.scene import DIFFICULTIES, generate_scene


def test_registered_by_name():
    assert isinstance(make_policy("vqa-tools"), ToolUsingPolicy)
    assert isinstance(make_policy("vqa-program"), ProgramPolicy)


def test_every_generated_question_parses():
    for difficulty in ("easy", "hard"):
        for seed in range(150):
            scene = generate_scene(DIFFICULTIES[difficulty], seed)
            q = generate_question(scene, np.random.default_rng([seed, 9]))
            assert parse_question(q.text) is not None, q.text


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_oracle_scores_100_percent(difficulty):
    env = ShapesVQAEnv(difficulty=difficulty)
    report = policy_accuracy(env, ExpertPolicy(), [f"shapes-{n}" for n in range(100)])
    assert report.overall.accuracy == 1.0 and report.steps == 100


@pytest.mark.parametrize("difficulty", ["medium", "hard"])
def test_tool_using_policy_accuracy(difficulty):
    env = ShapesVQAEnv(difficulty=difficulty)
    report = policy_accuracy(env, ToolUsingPolicy(), [f"shapes-{n}" for n in range(5000, 5050)])
    assert set(report.per_kind) == set(KINDS)
    assert report.overall.accuracy >= 0.95, report.failures
    assert report.steps > 2 * report.overall.total  # it really used tools


def test_policy_decides_from_tool_outputs_only():
    """The policy sees observation dicts only; its answer follows what the tools said, right or wrong."""
    question = {"question": "Is there a red circle?", "output": ""}
    for said, answer in (("There are 2 red circles.", "yes"), ("There are 0 red circles.", "no")):
        p = ToolUsingPolicy()
        p.reset(question, {})
        assert p.act(question, {}) == "count[red circle]"
        assert p.act({**question, "output": said}, {}) == f"answer[{answer}]"
    p = ToolUsingPolicy()
    q = {"question": "Is the red circle to the left of the blue object?", "output": ""}
    p.reset(q, {})
    assert p.act(q, {}) == "find[red circle]"
    assert p.act({**q, "output": "Found 1 red circle: #1 [10, 10, 20, 20]."}, {}) == "find[blue object]"
    assert (
        p.act({**q, "output": "Found 1 blue object: #1 [50, 5, 60, 15]."}, {})
        == "relation[[10, 10, 20, 20], [50, 5, 60, 15]]"
    )
    said = "The object in [10, 10, 20, 20] is to the right of (by 40 pixels) and below (by 5 pixels) the object in ..."
    assert p.act({**q, "output": said}, {}) == "answer[no]"


def test_policy_keeps_one_plan_per_slot():
    p = ToolUsingPolicy()
    a = {"question": "Is there a red circle?", "output": ""}
    b = {"question": "How many blue squares are there?", "output": ""}
    p.reset(a, {}, slot=0)
    p.reset(b, {}, slot=1)
    assert p.act_batch([a, b], [{}, {}], slots=[0, 1]) == ["count[red circle]", "count[blue squares]"]
    said = [{**a, "output": "There are 0 red circles."}, {**b, "output": "There are 3 blue squares."}]
    assert p.act_batch(said, [{}, {}], slots=[0, 1]) == ["answer[no]", "answer[3]"]


def test_policy_answers_a_negated_question_without_tools_when_unparsed():
    p = ToolUsingPolicy()
    obs = {"question": "Why is the sky blue?", "output": ""}
    p.reset(obs, {})
    assert p.act(obs, {}) == "answer[no]"


@pytest.mark.slow
@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_tool_using_policy_accuracy_500(difficulty):
    env = ShapesVQAEnv(difficulty=difficulty)
    report = policy_accuracy(env, ToolUsingPolicy(), [f"shapes-{n}" for n in range(500)])
    assert report.overall.accuracy >= 0.97, report.failures
