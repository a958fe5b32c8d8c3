"""easy-VQA: the loader, the env, tool accuracy and the tool-using policy (skip when the data is absent)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from toolgym.agents import ExpertPolicy
from toolgym.agents.vqa import ToolUsingPolicy, parse_question, policy_accuracy
from toolgym.envs.vqa.easyvqa import IMAGES, QUESTIONS, is_available, load_easy_vqa
from toolgym.envs.vqa.env import EasyVQAEnv
from toolgym.envs.vqa.evaluate import easy_vqa_image_labels, easy_vqa_tool_accuracy
from toolgym.error import DataNotFoundError

needs_data = pytest.mark.skipif(
    not is_available(QUESTIONS, IMAGES),
    reason="easy-VQA missing: put easy_vqa/test_questions.json and test_images.tar under TOOLGYM_DATA_DIR",
)


def test_missing_data_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLGYM_DATA_DIR", str(tmp_path))
    assert not EasyVQAEnv.data_status().available
    with pytest.raises(DataNotFoundError, match="easy_vqa/test_questions.json") as err:
        EasyVQAEnv()
    assert "pip download --no-deps easy-vqa==1.0" in str(err.value)


def test_corrupt_tar_is_reported(tmp_path, monkeypatch):
    if not is_available(QUESTIONS):
        pytest.skip("easy-VQA questions missing")
    (tmp_path / "easy_vqa").mkdir()
    (tmp_path / "easy_vqa" / "test_questions.json").write_bytes(QUESTIONS.path.read_bytes())
    (tmp_path / "easy_vqa" / "test_images.tar").write_bytes(b"not a tar")
    monkeypatch.setenv("TOOLGYM_DATA_DIR", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="SHA-256"):
        load_easy_vqa()


@needs_data
def test_loader_reads_all_questions_and_images():
    data = load_easy_vqa()
    assert len(data) == 9673
    assert {q.answer for q in data.questions} == {
        "yes",
        "no",
        "circle",
        "rectangle",
        "triangle",
        *("red", "green", "blue", "yellow", "teal", "brown", "black", "gray"),
    }
    img = data.image(0)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8 and not img.flags.writeable
    assert pickle.loads(pickle.dumps(data)) is data  # pickles by path, reloads from the cache


@needs_data
def test_every_easy_vqa_question_parses():
    data = load_easy_vqa()
    assert all(parse_question(q.text) is not None for q in data.questions)


@needs_data
def test_env_episode_and_info():
    env = EasyVQAEnv(render_mode="rgb_array")
    obs, info = env.reset(options={"task_id": "q0"})
    assert obs["question"] == "what is the red shape?" and obs["image"].shape == (64, 64, 3)
    assert info["image_id"] == 0 and info["question_kind"] == "attribute"
    obs, _, _, _, info = env.step("find[object]")
    assert obs["output"].startswith("Found 1 object: #1 [")
    obs, _, _, _, info = env.step("shape[#1]")
    assert obs["output"].endswith("is a triangle.")
    assert env.render().shape == (256, 256, 3)
    _, reward, term, _, info = env.step("answer[Triangle.]")
    assert term and info["success"] and reward == 1.0


@needs_data
def test_tool_accuracy_on_a_sample():
    data = load_easy_vqa()
    report = easy_vqa_tool_accuracy(data, image_ids=range(0, 1000, 5))
    assert report["find"].total == 200 and report["color"].total > 150 and report["shape"].total > 150
    for tool, tally in report.items():
        assert tally.accuracy >= 0.99, f"{tool}: {tally.correct}/{tally.total}"


@pytest.mark.slow
@needs_data
def test_tool_accuracy_on_all_images():
    data = load_easy_vqa()
    report = easy_vqa_tool_accuracy(data)
    assert report["find"].total == 1000
    labels = easy_vqa_image_labels(data)
    assert report["color"].total == sum("color" in v for v in labels.values())
    for tool, tally in report.items():
        assert tally.accuracy >= 0.99, f"{tool}: {tally.correct}/{tally.total}"


@needs_data
def test_oracle_and_policy_on_a_sample():
    env = EasyVQAEnv()
    ids = [f"q{i}" for i in range(0, 9673, 23)]  # 421 questions over the whole split
    assert policy_accuracy(env, ExpertPolicy(), ids).overall.accuracy == 1.0
    report = policy_accuracy(env, ToolUsingPolicy(), ids)
    assert report.overall.accuracy >= 0.95, report.failures


@pytest.mark.slow
@needs_data
def test_policy_on_the_whole_test_split():
    env = EasyVQAEnv()
    report = policy_accuracy(env, ToolUsingPolicy(), env.task_ids())
    assert report.overall.total == 9673
    assert report.overall.accuracy >= 0.95, report.failures
