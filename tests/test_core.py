"""Kernel behaviours, exercised through the reference env (ToolChoice-Arithmetic-v0)."""

import pickle

import gymnasium as gym
import pytest

from toolgym.core import INFO_KEYS, EnvState
from toolgym.envs.arithmetic import ArithmeticEnv
from toolgym.error import ConfigError, ResetNeeded, StateError, UnknownTaskError

ENV_ID = "toolgym/ToolChoice-Arithmetic-v0"


def test_info_on_reset_and_step():
    env = ArithmeticEnv()
    obs, info = env.reset(seed=0)
    assert set(INFO_KEYS) <= set(info)
    assert obs.startswith("Question: What is ")
    assert info["step"] == 0 and info["success"] is False and info["cost_total"] == 0.0


def test_tool_cost_is_folded_into_reward():
    env = ArithmeticEnv(cost_weight=2.0, tool_costs={"calc": 0.25})
    env.reset(options={"task_id": "L4-3"})
    _, reward, term, trunc, info = env.step("calc[2*3]")
    assert reward == pytest.approx(-0.5)
    assert info["cost"] == pytest.approx(0.25) and info["cost_total"] == pytest.approx(0.25)
    assert info["tool_calls"][0]["name"] == "calc" and info["tool_calls"][0]["arguments"] == "2*3"
    assert info["tool_calls"][0]["output_chars"] == 1
    assert info["cost_breakdown"] == {"calc": pytest.approx(0.25)}
    _, reward, term, trunc, info = env.step(env.expert_action())
    assert reward == pytest.approx(1.0) and term and not trunc and info["success"]
    assert info["cost_total"] == pytest.approx(0.25)


def test_cost_weight_zero_turns_costs_off():
    env = ArithmeticEnv(cost_weight=0.0)
    env.reset(seed=1)
    _, reward, *_, info = env.step("calc[1+1]")
    assert reward == 0.0 and info["cost"] == pytest.approx(0.1)


def test_invalid_action_is_an_observation_with_penalty():
    env = ArithmeticEnv(invalid_action_penalty=0.3)
    env.reset(seed=0)
    obs, reward, term, trunc, info = env.step("the answer is 12")
    assert info["invalid_action"] is True
    assert "expected one of calc[<expression>], finish[<answer>]" in obs
    assert reward == pytest.approx(-0.3) and not term and not trunc
    obs, reward, *_, info = env.step(None)
    assert info["invalid_action"] and "expected a text action (str), got a NoneType" in obs
    obs, *_, info = env.step("x" * 10_000)
    assert info["invalid_action"] and "at most 4096 characters" in obs


def test_truncation_never_with_termination():
    env = ArithmeticEnv(max_steps=2)
    env.reset(seed=0)
    _, _, term, trunc, _ = env.step("calc[1]")
    assert (term, trunc) == (False, False)
    obs, _, term, trunc, info = env.step("calc[2]")
    assert (term, trunc) == (False, True)
    assert "Step limit reached" in obs and info["score"] == 0.0 and "step limit" in info["feedback"]
    env.reset(seed=0)
    env.step("calc[1]")
    _, _, term, trunc, _ = env.step(env.expert_action())  # finishing on the last step terminates
    assert (term, trunc) == (True, False)


def test_step_after_end_or_before_reset_raises_clearly():
    env = ArithmeticEnv()
    with pytest.raises(ResetNeeded, match="reset"):
        env.step("finish[1]")
    env.reset(seed=0)
    env.step("finish[1]")
    with pytest.raises(ResetNeeded, match="already ended"):
        env.step("finish[1]")


def test_reset_options():
    env = ArithmeticEnv()
    _, info = env.reset(options={"task_id": "L3-12"})
    assert info["task_id"] == "L3-12" and info["difficulty"] == 3
    with pytest.raises(ConfigError, match="task_id"):
        env.reset(options={"taskid": "L3-12"})
    with pytest.raises(UnknownTaskError, match="expected a task id"):
        env.reset(options={"task_id": "nope"})


def test_same_seed_same_task_and_different_seeds_differ():
    a, b = ArithmeticEnv(), ArithmeticEnv()
    assert a.reset(seed=5)[0] == b.reset(seed=5)[0]
    tasks = {a.reset(seed=s)[1]["task_id"] for s in range(30)}
    assert len(tasks) == 30


def test_snapshot_restores_costs_and_progress():
    env = ArithmeticEnv()
    env.reset(seed=2)
    env.step("calc[3*3]")
    state = env.get_state()
    key = env.state_key()
    env.step("calc[4*4]")
    _, r1, t1, _, i1 = env.step(env.expert_action())
    env.set_state(state)
    assert env.state_key() == key and env.observe() == "9"
    assert env.elapsed_steps == 1
    env.step("calc[4*4]")
    _, r2, t2, _, i2 = env.step(env.expert_action())
    assert (r1, t1, i1) == (r2, t2, i2)
    assert isinstance(state, EnvState)
    with pytest.raises(StateError, match="expected a state from ArithmeticEnv"):
        env.set_state(EnvState("OtherEnv", (), None))


def test_state_key_distinguishes_tasks_and_is_stable():
    env = ArithmeticEnv()
    env.reset(options={"task_id": "L1-1"})
    k1 = env.state_key()
    env.reset(options={"task_id": "L1-2"})
    assert env.state_key() != k1
    env.reset(options={"task_id": "L1-1"})
    assert env.state_key() == k1
    assert len(k1) == 20


def test_render_ansi():
    env = gym.make(ENV_ID, render_mode="ansi")
    env.reset(seed=0)
    assert "Question" in env.render()
    env.step("calc[1+2]")
    out = env.render()
    assert "calc[1+2]" in out and "3" in out and "reward" in out


def test_constructor_validation():
    with pytest.raises(ConfigError, match="max_steps"):
        ArithmeticEnv(max_steps=0)
    with pytest.raises(ConfigError, match="render_mode"):
        ArithmeticEnv(render_mode="human")
    with pytest.raises(ConfigError, match="difficulty"):
        ArithmeticEnv(difficulty=9)
    with pytest.raises(ConfigError, match="Did you mean: calc"):
        ArithmeticEnv(tool_costs={"calculator": 1})


def test_observation_is_clipped():
    env = ArithmeticEnv()
    env.reset(seed=0)
    text = env._clip("y" * 10_000)
    assert len(text) <= env.max_observation_length and "output cut" in text


def test_pickle_roundtrip_mid_episode():
    env = ArithmeticEnv()
    env.reset(seed=4)
    env.step("calc[2+2]")
    clone = pickle.loads(pickle.dumps(env))
    assert clone.step(clone.expert_action()) == env.step(env.expert_action())
