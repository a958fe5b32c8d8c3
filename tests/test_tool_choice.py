"""toolgym.wrappers.ToolChoice and the ready-made options: spaces, masks, rewards, nesting, snapshots, seeds."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from toolgym.agents.options import AnswerDirect, Calculate, arithmetic_options, search_options
from toolgym.error import ConfigError, ResetNeeded, StateError
from toolgym.records import Step
from toolgym.wrappers import HashedBagOfWords, ToolChoice

ANSWER, CALCULATE, WITH_TOOL = 0, 1, 2


def arith(lam: float = 1.0, **kwargs) -> ToolChoice:
    env = gym.make("toolgym/ToolChoice-Arithmetic-v0", cost_weight=lam)
    return ToolChoice(env, kwargs.pop("options", arithmetic_options()), **kwargs)


def test_spaces_and_mask_follow_the_options():
    view = arith()
    assert view.action_space == gym.spaces.Discrete(3)
    obs, info = view.reset(seed=0)
    assert obs in view.observation_space and obs.dtype == np.float32
    assert info["action_mask"].tolist() == [True, True, False]  # no tool output to answer with yet
    obs, _, terminated, _, info = view.step(CALCULATE)
    assert not terminated and obs in view.observation_space
    assert view.action_masks().tolist() == [True, False, True]  # calculated once; now its result can be used


@pytest.mark.parametrize("lam", [0.0, 2.0, 5.0])
def test_reward_is_success_minus_lambda_cost_with_breakdown(lam):
    view = arith(lam)
    view.reset(seed=1, options={"task_id": "L4-3"})
    _, reward, _, _, info = view.step(CALCULATE)
    price = view.env.unwrapped.cost_model.costs["calc"].per_call
    assert reward == pytest.approx(-lam * price)
    b = info["reward_breakdown"]
    assert (
        b["cost"] == pytest.approx(price)
        and b["cost_weight"] == lam
        and b["weighted_cost"] == pytest.approx(lam * price)
    )
    assert [c["name"] for c in info["tool_calls"]] == ["calc"] and info["option"] == "calculate"
    _, reward, terminated, _, info = view.step(WITH_TOOL)
    assert terminated and info["success"] and reward == pytest.approx(1.0)
    assert info["cost_total"] == pytest.approx(price)


def test_unavailable_option_sends_nothing_and_costs_the_penalty():
    view = arith(invalid_penalty=0.25, max_decisions=2)
    view.reset(seed=0)
    base = view.env.unwrapped
    _, reward, terminated, truncated, info = view.step(WITH_TOOL)  # masked: nothing to answer with
    assert reward == pytest.approx(-0.25) and info["invalid_action"] and info["inner_steps"] == []
    assert base.elapsed_steps == 0 and not terminated and not truncated
    _, _, terminated, truncated, info = view.step(CALCULATE)
    assert truncated and not terminated and info["decisions"] == 2  # the decision limit ends the episode
    with pytest.raises(ResetNeeded):
        view.step(ANSWER)


def test_snapshot_restores_the_view_and_the_answerers_draw():
    view = arith(2.0)
    view.reset(seed=3)
    state = view.get_state()
    first = view.step(ANSWER)
    view.set_state(state)
    assert np.array_equal(view.observe(), view.observe())
    again = view.step(ANSWER)
    assert first[1] == again[1] and first[4]["inner_steps"] == again[4]["inner_steps"]
    with pytest.raises(StateError):
        view.set_state("not a state")


def test_each_plain_reset_gets_a_fresh_draw_whatever_the_last_episode_consumed():
    # Regression: the direct answerer's draw came from a stream that only answering advanced, so a policy
    # that calculated left the next episode with the same draw (a stuck run of wrong answers).
    a = arith(options=[AnswerDirect({lv: 0.5 for lv in range(1, 6)}), Calculate(), arithmetic_options()[2]])
    b = arith(options=[AnswerDirect({lv: 0.5 for lv in range(1, 6)}), Calculate(), arithmetic_options()[2]])
    a.reset(seed=7)
    b.reset(seed=7)
    outcomes_a, outcomes_b = [], []
    for _ in range(30):
        a.step(ANSWER)  # consumes draws
        b.step(CALCULATE)
        b.step(WITH_TOOL)  # consumes none
        for view, out in ((a, outcomes_a), (b, outcomes_b)):
            view.reset()
            out.append(view.step(ANSWER)[4]["success"])
            view.reset()
    assert outcomes_a == outcomes_b and 0 < sum(outcomes_a) < 30


def test_task_ids_restrict_plain_resets():
    view = arith(task_ids=["L2-5", "L3-9"])
    seen = {view.reset(seed=s)[1]["task_id"] for s in range(20)}
    assert seen == {"L2-5", "L3-9"}
    assert view.reset(options={"task_id": "L5-1"})[1]["task_id"] == "L5-1"


def test_question_features_generalise_to_unseen_numbers():
    enc = HashedBagOfWords(64, numbers="shape", symbols=True)
    assert np.array_equal(enc("What is 4837 × 219?"), enc("What is 1234 × 567?"))
    assert not np.array_equal(enc("What is 4837 × 219?"), enc("What is 48 × 21?"))
    assert not np.array_equal(enc("What is 48 × 21?"), enc("What is 48 + 21?"))


def test_nested_research_costs_the_sum_of_its_inner_calls_and_shows_them():
    env = gym.make("toolgym/MultiHop-v0", cost_weight=2.0)
    view = ToolChoice(env, search_options(), max_decisions=4)
    names = [o.name for o in view.options]
    _, info = view.reset(seed=0, options={"task_id": "train-3"})
    _, reward, terminated, _, info = view.step(names.index("research"))
    inner = [Step.from_dict(s) for s in info["inner_steps"]]
    assert len(inner) >= 2 and not terminated and info["decisions"] == 1
    assert {s.action.split("[")[0] for s in inner} <= {"search", "lookup"}
    assert info["cost"] == pytest.approx(sum(c["cost"] for c in info["tool_calls"]))
    assert info["cost"] == pytest.approx(sum(s.cost for s in inner))
    assert len(info["tool_calls"]) == len(inner)
    assert reward == pytest.approx(-2.0 * info["cost"])
    assert not view.action_masks()[names.index("research")]  # the evidence is complete: nothing left to read
    _, reward, terminated, _, info = view.step(names.index("answer"))
    assert terminated and info["success"] and reward == pytest.approx(1.0)


def test_flat_tool_step_is_one_call_per_decision():
    view = ToolChoice(gym.make("toolgym/MultiHop-v0"), search_options(), max_decisions=4)
    names = [o.name for o in view.options]
    _, info = view.reset(seed=0, options={"task_id": "train-3"})
    assert not info["action_mask"][names.index("answer")]  # the reader needs a tool call first
    _, _, _, _, info = view.step(names.index("tool_step"))
    assert len(info["inner_steps"]) == 1 and len(info["tool_calls"]) == 1


def test_bad_configurations_say_what_to_do():
    env = gym.make("toolgym/ToolChoice-Arithmetic-v0")
    with pytest.raises(ConfigError, match="Option instances"):
        ToolChoice(env, ["answer"])
    with pytest.raises(ConfigError, match="distinct option names"):
        ToolChoice(env, [Calculate(), Calculate()])
    with pytest.raises(ConfigError, match="max_decisions"):
        ToolChoice(env, arithmetic_options(), max_decisions=0)
    with pytest.raises(ConfigError, match="TextEnv"):
        ToolChoice(gym.make("CartPole-v1"), arithmetic_options())
    view = ToolChoice(env, [Calculate()])
    view.reset(seed=0)
    with pytest.raises(ConfigError, match="at least one available option"):
        view.step(0)  # after it, no option is left


def test_nested_calls_are_in_the_recorded_trajectory():
    from toolgym.algorithms.tool_choice import PriorityPolicy, record_episode
    from toolgym.records import Trajectory

    view = ToolChoice(gym.make("toolgym/MultiHop-v0", cost_weight=1.0), search_options(), max_decisions=4)
    traj = record_episode(view, PriorityPolicy(view, ["research", "answer"]), task_id="train-3", seed=0)
    again = Trajectory.from_dict(traj.to_dict())
    research = again.steps[0]
    assert research.action == "research" and len(research.info["inner_steps"]) == len(research.tool_calls) >= 2
    assert again.cost_total == pytest.approx(sum(c["cost"] for s in again.steps for c in s.tool_calls))
    assert again.success and again.total_reward == pytest.approx(1.0 - again.cost_total)
