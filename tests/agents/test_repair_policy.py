"""Re-ReST's agent + closed-loop reflector as a multi-trial policy, and its test-time vote over M's and R's answers."""

from __future__ import annotations

import pytest

from toolgym.agents import make_policy, policy_options, rollout
from toolgym.agents.llm.scripted import ScriptedLLM, prompt_text
from toolgym.agents.repair_policy import WITHHELD, RepairPolicy
from toolgym.error import ConfigError

ARITH = "toolgym/ToolChoice-Arithmetic-v0"
TASKS = ["L4-1", "L4-2", "L5-3"]


@pytest.fixture
def repairing(calc_step):
    """M guesses; R (a prompt with a previous trial) solves with the calculator."""

    def respond(prompt, params):
        text = prompt_text(prompt)
        if "Previous trial:" in text:
            return calc_step(text)
        return " I can do this in my head.\nAction 1: finish[12345]"

    return respond


def test_a_failed_trial_is_repaired_by_the_reflector_and_both_are_charged(repairing):
    llm = ScriptedLLM(repairing)
    policy = make_policy("repair", llm=llm, max_trials=3)
    eps = rollout(policy, ARITH, task_ids=TASKS, num_envs=2)
    for e in eps:
        assert e.result.metadata["trial_success"] == [False, True]
        assert e.result.success and e.result.policy == "repair"
        assert e.trials[0].steps[0].action == "finish[12345]"
        assert e.trials[1].steps[0].action.startswith("calc[")
    # every token M and R spent is in the episodes' usage
    assert sum(e.result.tokens["prompt"] for e in eps) == llm.stats.prompt_tokens > 0
    assert sum(e.result.tokens["completion"] for e in eps) == llm.stats.completion_tokens > 0
    repair_prompts = [prompt_text(p) for p in llm.prompts if "Previous trial:" in prompt_text(p)]
    assert repair_prompts and all("Feedback: The answer 12345 is incorrect." in p for p in repair_prompts)
    assert all("finish[12345]" in p for p in repair_prompts)


def test_a_reflector_that_cannot_repair_uses_every_trial_and_no_feedback_hides_it():
    def stubborn(prompt, params):
        return " Guess again.\nAction 1: finish[12345]"

    llm = ScriptedLLM(stubborn)
    eps = rollout(make_policy("repair", llm=llm, max_trials=3, feedback=False), ARITH, task_ids=TASKS[:2])
    assert [e.result.metadata["trial_success"] for e in eps] == [[False] * 3] * 2
    repair_prompts = [prompt_text(p) for p in llm.prompts if "Previous trial:" in prompt_text(p)]
    assert len(repair_prompts) == 4 and not any("Feedback:" in p for p in repair_prompts)
    assert make_policy("repair", llm=llm, feedback=False).name == "repair-nofeedback"


def test_vote_runs_every_trial_blind_and_submits_the_majority(calc_step):
    """M right by the calculator, R wrong: 2 of 3 answers are right, the vote is right (trial 0 succeeded, yet
    every trial ran: the policy does not read success)."""

    def right_then_wrong(prompt, params):
        text = prompt_text(prompt)
        if "Previous trial:" in text:
            return " Another answer.\nAction 1: finish[12345]"
        return calc_step(text)

    llm = ScriptedLLM(right_then_wrong)
    policy = make_policy("repair", llm=llm, max_trials=3, vote=True, temperature=0.7, seed=1)
    eps = rollout(policy, ARITH, task_ids=TASKS, num_envs=2)
    for e in eps:
        assert e.result.policy == "repair-vote"
        assert e.result.metadata["trial_success"] == [True, False, True, True]
        vote = e.trials[-1]
        assert len(vote.steps) == 1 and vote.steps[0].action == e.trials[0].steps[-1].action
        assert vote.steps[0].thought is None and vote.steps[0].info["raw"] == "[vote: 2 of 3 answers]"
        assert e.result.success
    repair_prompts = [prompt_text(p) for p in llm.prompts if "Previous trial:" in prompt_text(p)]
    assert len(repair_prompts) == 3
    for p in repair_prompts:  # the attempt is shown blind: no verdict, no feedback
        attempt = p.split("Previous trial:", 1)[1]
        assert WITHHELD in attempt
        assert "reward =" not in attempt and "Feedback:" not in attempt and "correct" not in attempt


def test_vote_can_overrule_a_correct_repair(repairing):
    """M wrong twice, R right once: the majority is wrong and so is the episode."""
    llm = ScriptedLLM(repairing)
    policy = make_policy("repair", llm=llm, max_trials=3, vote=True, temperature=0.7, seed=0)
    eps = rollout(policy, ARITH, task_ids=TASKS[:2])
    for e in eps:
        assert e.result.metadata["trial_success"] == [False, True, False, False]
        assert not e.result.success
        assert e.trials[-1].steps[0].info["raw"] == "[vote: 2 of 3 answers]"


def test_vote_without_any_answer_ends_without_a_vote_trial():
    llm = ScriptedLLM([" Let me compute.\nAction 1: calc[1+1]"], cycle=True)
    policy = make_policy("repair", llm=llm, max_trials=2, vote=True)
    eps = rollout(policy, ARITH, task_ids=["L2-0"], env_kwargs={"max_steps": 2})  # the env's limit: trials end
    assert eps[0].result.metadata["trials"] == 2 and not eps[0].result.success


def test_options_and_refusals():
    opts = policy_options("repair")
    assert {"max_trials", "feedback", "vote", "base", "temperature", "examples", "reflector_llm"} <= set(opts)
    with pytest.raises(ConfigError, match="vote=True"):
        RepairPolicy(ScriptedLLM(["x"]), vote=True, feedback=True)
    with pytest.raises(ConfigError, match="max_trials"):
        RepairPolicy(ScriptedLLM(["x"]), max_trials=0)
    with pytest.raises(ConfigError, match="temperature"):  # M's samples would all be the same
        RepairPolicy(ScriptedLLM(["x"]), vote=True, max_trials=3)
    p = RepairPolicy(ScriptedLLM(["x"]), vote=True, max_trials=4, temperature=0.7)
    assert not p.feedback and not p.reflector.feedback
    assert [p.role(t) for t in range(5)] == ["agent", "reflector", "agent", "reflector", "vote"]
    q = RepairPolicy(ScriptedLLM(["x"]), base="cot", reflector_llm=ScriptedLLM(["y"]))
    assert q.name == "repair-cot" and q.reflector.llm is not q.agent.llm


def test_it_runs_in_a_bench_suite():
    from toolgym.benchmarks.suite import load_suite

    suite = load_suite(
        {
            "name": "t",
            "seeds": [0],
            "episodes": 1,
            "envs": [{"id": ARITH}],
            "policies": [{"name": "repair", "config": {"llm": "tiny", "max_trials": 3}}],
        }
    )
    entry = suite.policies[0]
    policy = make_policy(entry.name, **entry.config, seed=0)  # as the runner builds it (the suite seed passed)
    assert isinstance(policy, RepairPolicy) and policy.max_trials == 3
