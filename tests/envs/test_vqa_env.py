"""The VQA environments: observations, tools through actions, costs, scoring, snapshots, render and the CLI."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from typer.testing import CliRunner

from toolgym.benchmarks.cli import app
from toolgym.envs.vqa.env import ShapesVQAEnv
from toolgym.envs.vqa.scoring import normalize_answer, score_answer
from toolgym.error import ConfigError, UnknownTaskError
from toolgym.testing import check_text_env


@pytest.fixture
def env():
    e = ShapesVQAEnv(render_mode="rgb_array")
    yield e
    e.close()


@pytest.mark.parametrize("mode", ["rgb_array", "ansi"])
def test_check_text_env_with_render(mode):
    def make():
        return gym.make("toolgym/ShapesVQA-v0", render_mode=mode)

    env = make()
    check_text_env(env, make=make)
    env.close()


def test_observation_contents_and_fresh_arrays(env):
    obs, info = env.reset(options={"task_id": "shapes-7"})
    assert set(obs) == {"image", "question", "output", "crop", "crop_box"}
    assert obs["image"].shape == (128, 128, 3) and obs["image"].dtype == np.uint8
    assert obs["question"] == env.task.question and obs["question"] in obs["output"]
    assert not obs["crop"].any() and not obs["crop_box"].any()
    again = env.observe()
    assert data_equivalence(obs, again) and obs["image"] is not again["image"]
    obs["image"][:] = 0  # the agent scribbling on its copy changes nothing
    assert env.observe()["image"].any()
    assert info["task_id"] == "shapes-7" and info["question_kind"] in {
        "exist",
        "count",
        "attribute",
        "relation",
        "compare",
    }


def test_tools_are_priced_and_bad_arguments_are_free_invalid_actions(env):
    env.reset(options={"task_id": "shapes-1"})
    _, reward, term, trunc, info = env.step("find[object]")
    assert not term and not trunc and not info["invalid_action"]
    assert [c["name"] for c in info["tool_calls"]] == ["find"] and reward == pytest.approx(-0.02)
    for bad in ("color[0, 0, 999, 5]", "shape[-1, 0, 5, 5]", "size[9, 9, 3, 3]", "find[magenta blob]", "zoom[1]"):
        obs, reward, _, _, info = env.step(bad)
        assert info["invalid_action"] and info["tool_calls"] == [] and reward == 0.0, bad
        assert obs["output"].startswith(("Invalid", "Unknown")), obs["output"]
    assert info["cost_total"] == pytest.approx(0.02)


def test_json_tool_calls_and_aliases(env):
    env.reset(options={"task_id": "shapes-2"})
    obs, *_ = env.step('{"tool": "find", "args": {"query": "object"}}')
    assert obs["output"].startswith("Found")
    obs, _, _, _, info = env.step('{"tool": "colour", "args": [0, 0, 128, 128]}')
    assert obs["output"].startswith("The object in [0, 0, 128, 128] is"), obs["output"]
    obs, _, term, _, info = env.step(f"Thought: done.\nAction: finish[{env.task.answer}]")
    assert term and info["success"]


def test_answer_scoring_and_feedback(env):
    env.reset(options={"task_id": "shapes-3"})
    gold = env.task.answer
    wrong = "no" if gold != "no" else "yes"
    _, reward, term, _, info = env.step(f"answer[{wrong}]")
    assert term and reward == 0.0 and not info["success"] and "incorrect" in info["feedback"]
    assert gold not in info["feedback"].split("'")[1:2]  # the gold answer is not revealed by default
    shown = ShapesVQAEnv(reveal_answer=True)
    shown.reset(options={"task_id": "shapes-3"})
    _, _, _, _, info = shown.step(f"answer[{wrong}]")
    assert f"The expected answer is {gold!r}" in info["feedback"]


@pytest.mark.parametrize(
    ("given", "gold", "score"),
    [("Yes.", "yes", 1.0), ("three", "3", 1.0), ("3.0", "3", 1.0), ("Grey", "gray", 1.0), ("the red one", "red", 1.0)]
    + [("Circles", "circle", 1.0), ("big", "large", 1.0), ("red circle", "red", 0.0), ("", "no", 0.0)],
)
def test_normalised_exact_match(given, gold, score):
    assert score_answer(given, gold) == score
    assert normalize_answer(gold) == gold


def test_step_limit_truncates_with_score_zero():
    e = ShapesVQAEnv(max_steps=2)
    e.reset(seed=0)
    e.step("count[object]")
    _, _, term, trunc, info = e.step("count[red]")
    assert trunc and not term and info["score"] == 0.0 and "step limit" in info["feedback"]


def test_snapshot_restores_tool_history_crop_and_references(env):
    env.reset(options={"task_id": "shapes-5"})
    env.step("find[object]")
    env.step("crop[#1]")
    state, key = env.get_state(), env.state_key()
    before = env.observe()
    frame = env.render()
    env.step("crop[0, 0, 10, 10]")
    env.step("find[red]")
    assert not data_equivalence(env.observe(), before)
    env.set_state(state)
    assert env.state_key() == key
    assert data_equivalence(env.observe(), before) and before["crop"].any()
    assert np.array_equal(env.render(), frame)
    out, *_ = env.step("color[#1]")  # '#1' still refers to the restored find
    assert out["output"].startswith("The object in")
    # a snapshot of another task restores that task's image
    other = ShapesVQAEnv()
    other.reset(options={"task_id": "shapes-99"})
    other.set_state(state)
    assert other.task_id == "shapes-5" and data_equivalence(other.observe(), before)


def test_render_draws_the_last_tools_boxes(env):
    env.reset(options={"task_id": "shapes-4"})
    plain = env.render()
    assert plain.shape == (256, 256, 3) and plain.dtype == np.uint8
    env.step("find[object]")
    boxed = env.render()
    assert (boxed != plain).any()
    env.step("answer[no]")
    assert env.render().shape == (256, 256, 3)


def test_config_errors():
    with pytest.raises(ConfigError, match="difficulty"):
        ShapesVQAEnv(difficulty="nightmare")
    with pytest.raises(ConfigError, match="question_kinds"):
        ShapesVQAEnv(question_kinds=("poetry",))
    with pytest.raises(ConfigError, match="mode"):
        ShapesVQAEnv(mode="telepathy")
    with pytest.raises(UnknownTaskError):
        ShapesVQAEnv().reset(options={"task_id": "q12"})


def test_knob_overrides_and_question_kinds():
    e = ShapesVQAEnv(difficulty="easy", image_size=64, num_objects=(4, 4), question_kinds=("count",))
    obs, info = e.reset(seed=3)
    assert obs["image"].shape == (64, 64, 3) and len(e.task.scene.objects) == 4
    assert info["question_kind"] == "count" and e.observation_space["image"].shape == (64, 64, 3)


def test_registered_ids_make(make_env):
    for env_id in ("toolgym/ShapesVQA-v0", "toolgym/ShapesVQA-Hard-v0"):
        env = make_env(env_id)
        obs, _ = env.reset(seed=0)
        assert obs in env.observation_space


def test_cli_play_saves_images(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = CliRunner().invoke(
        app, ["play", "toolgym/ShapesVQA-v0", "--seed", "3"], input="find[object]\ncrop[#1]\n:hint\n:q\n"
    )
    assert result.exit_code == 0, result.output
    assert "Found" in result.output and "expert: answer[" in result.output
    saved = sorted(p.name for p in tmp_path.rglob("*.png"))
    assert "step000_image.png" in saved and "step001_render.png" in saved and "step002_crop.png" in saved
    assert "step000_crop.png" not in saved  # nothing cropped yet: nothing to show


def test_gym_make_with_render_mode_and_wrappers():
    env = gym.make("toolgym/ShapesVQA-v0", render_mode="rgb_array")
    env.reset(seed=1)
    assert env.render().shape == (256, 256, 3)
    env.close()
