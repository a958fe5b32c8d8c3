"""The tool-choice learners reach the analytic optimum on held-out tasks, and the check can fail.

The arithmetic view's optimum is known: calculate iff accuracy[level] < 1 - price·λ
(:class:`ThresholdRule`). Each learner trains on the train split and is compared with the rule on the test
split under common random numbers (same tasks, same seeds, so the direct answerer's luck is shared). The
margin EPS is fixed here, before any run. λ = 1 and λ = 5 put a level exactly on the threshold (a tie in
expectation), so the tests use the tie-free 0.5, 2 and 10.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from toolgym.agents.options import ARITHMETIC_ACCURACY, AnswerDirect, AnswerWithTool, Calculate, arithmetic_options
from toolgym.algorithms.q_tools import QLearningConfig, train_q_learning
from toolgym.algorithms.tool_choice import (
    PriorityPolicy,
    ThresholdRule,
    arithmetic_optimum,
    evaluate,
    oracle_choice,
)
from toolgym.splits import overlap_report, task_split
from toolgym.wrappers import ToolChoice

EPS = 0.02  # the learned return must be within EPS of the optimal rule's on the same held-out episodes
PRICE = 0.1  # the calculator's default per-call price
EVAL_SEEDS = (0, 1)


class NeverAvailable(Calculate):
    """A broken mask: the calculator is reported unavailable."""

    def available(self, env, ctx):
        return False


def view_for(lam: float, options=None) -> ToolChoice:
    env = gym.make("toolgym/ToolChoice-Arithmetic-v0", cost_weight=lam)
    return ToolChoice(env, options or arithmetic_options(), max_decisions=3, obs_dim=0, invalid_penalty=0.1)


@pytest.fixture(scope="module")
def splits():
    view = view_for(0.0)
    train, test = task_split(view, "train", 300), task_split(view, "test", 150)
    report = overlap_report({"train": train, "test": test}, view)
    assert report["disjoint"], report
    return train, test


def gap_to_optimum(view: ToolChoice, policy, test, lam: float) -> float:
    learned = evaluate(view, policy, test, seeds=EVAL_SEEDS).mean_return
    rule = evaluate(view, ThresholdRule(view, ARITHMETIC_ACCURACY, PRICE, lam), test, seeds=EVAL_SEEDS).mean_return
    return learned - rule


def q_learned(view: ToolChoice, train, seed: int = 0, decisions: int = 2500):
    view.task_ids = train
    return train_q_learning(view, QLearningConfig(decisions=decisions, seed=seed)).policy


def test_the_rule_is_the_analytic_optimum(splits):
    _, test = splits
    view = view_for(2.0)
    levels = [int(t.split("-")[0][1:]) for t in test]
    summary = evaluate(view, ThresholdRule(view, ARITHMETIC_ACCURACY, PRICE, 2.0), test, seeds=range(6))
    assert summary.mean_return == pytest.approx(arithmetic_optimum(ARITHMETIC_ACCURACY, PRICE, 2.0, levels), abs=0.03)


@pytest.mark.parametrize("lam", [0.5, 2.0, 10.0])
def test_q_learning_reaches_the_optimum_on_held_out_tasks(splits, lam):
    train, test = splits
    view = view_for(lam)
    policy = q_learned(view, train)
    assert gap_to_optimum(view, policy, test, lam) >= -EPS


def test_q_learning_beats_always_and_never_call_at_mid_lambda(splits):
    train, test = splits
    view = view_for(2.0)
    policy = q_learned(view, train)
    learned = evaluate(view, policy, test, seeds=EVAL_SEEDS).mean_return
    always = evaluate(view, PriorityPolicy(view, ["answer_with_tool", "calculate", "answer"]), test, seeds=EVAL_SEEDS)
    never = evaluate(view, PriorityPolicy(view, ["answer"]), test, seeds=EVAL_SEEDS)
    assert learned > always.mean_return + 0.02 and learned > never.mean_return + 0.2


def test_the_check_fails_when_lambda_is_mishandled(splits):
    # A learner that trained on the wrong λ (as a view that ignored cost_weight would make it) misses the
    # optimum at the real λ by far more than EPS: the check above has the power to fail.
    train, test = splits
    policy = q_learned(view_for(0.0), train)
    assert gap_to_optimum(view_for(5.0), policy, test, 5.0) < -EPS


def test_the_check_fails_when_the_mask_is_broken(splits):
    train, test = splits
    broken = view_for(2.0, [AnswerDirect(), NeverAvailable(), AnswerWithTool()])
    policy = q_learned(broken, train)
    assert gap_to_optimum(view_for(2.0), policy, test, 2.0) < -EPS


def test_oracle_picks_the_cheapest_success_and_leaves_the_state_alone():
    view = view_for(5.0)
    for seed in range(30):
        view.reset(seed=seed)
        before = view.get_state()
        choice, ret, success = oracle_choice(view)
        assert success  # calculating always succeeds
        after = view.get_state()
        assert after.view[5] == before.view[5] and view.env.unwrapped.state_key() == view.env.unwrapped.state_key()
        direct = view.step(0)[4]["success"]
        assert choice == (0 if direct else 1)  # answers directly exactly when that draw is right
        assert ret == pytest.approx(1.0 if direct else 1.0 - 5.0 * PRICE)


@pytest.mark.slow
def test_maskable_ppo_respects_the_mask_and_reaches_the_optimum(splits):
    from toolgym.algorithms.sb3_tools import SB3ToolsConfig, train_sb3

    torch.set_num_threads(1)
    train, test = splits
    view = view_for(2.0)
    view.task_ids = train
    result = train_sb3(view, SB3ToolsConfig(algo="maskable_ppo", total_timesteps=3000, n_steps=256, seed=0))
    assert result.decisions >= 3000
    obs, info = view.reset(seed=0)
    masked_choices = [result.policy.choose(obs, np.array([True, False, False]), info) for _ in range(5)]
    assert masked_choices == [0] * 5
    assert gap_to_optimum(view, result.policy, test, 2.0) >= -EPS


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["dqn", "ppo"])
def test_dqn_and_ppo_reach_the_optimum(splits, algo):
    from toolgym.algorithms.sb3_tools import SB3ToolsConfig, train_sb3

    torch.set_num_threads(1)
    train, test = splits
    view = view_for(2.0)
    view.task_ids = train
    result = train_sb3(view, SB3ToolsConfig(algo=algo, total_timesteps=8000, seed=0))
    assert gap_to_optimum(view, result.policy, test, 2.0) >= -EPS


@pytest.mark.slow
def test_behaviour_cloning_ignores_lambda_and_rl_fine_tuning_fixes_it(splits):
    from toolgym.algorithms.bc_tools import BCConfig, train_bc_rl

    torch.set_num_threads(1)
    train, test = splits
    view = view_for(10.0)  # the optimum never calculates; the oracle calculates whenever a direct answer fails
    view.task_ids = train
    result = train_bc_rl(view, BCConfig(budget=6000, demo_episodes=200, seed=0))
    assert result.oracle_success == 1.0 and result.demo_decisions + result.rl_decisions >= 6000
    assert gap_to_optimum(view, result.bc_policy, test, 10.0) < -0.05
    assert gap_to_optimum(view, result.policy, test, 10.0) >= -EPS
