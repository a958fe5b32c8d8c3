"""LATS: LM value with self-consistency, reflections in both prompts, oracle or not, the bench policy."""

from __future__ import annotations

import gymnasium as gym
import pytest

from toolgym.agents import make_policy, rollout
from toolgym.agents.llm.scripted import ScriptedLLM
from toolgym.agents.prompting.react import ReActPolicy
from toolgym.algorithms.lats import LATSConfig, LMValue, lats_search, parse_score
from toolgym.algorithms.mcts import Edge, Node


def _arith_llm(prompts: list[str], *, right: bool = False):
    """Proposes two calcs, then an answer (wrong unless ``right``); scores 3; reflects with a fixed sentence."""
    first = iter(range(10**6))

    def respond(prompt, params):
        text = prompt if isinstance(prompt, str) else str(prompt)
        prompts.append(text)
        if text.endswith("correctness score is"):
            return " 3"
        if text.endswith("Reflection:"):
            return " I answered without checking the calculator result."
        if "Observation 1: -482" in text and "Observation 2:" not in text:
            return " go on\nAction 2: calc[-482 * 59]"
        if "Observation 1:" in text:
            wrong = "7" if "-28510" in text else "8"
            return " so it is\nAction 2: finish[" + ("-28510" if right else wrong) + "]"
        if next(first) % 2:
            return " first part\nAction 1: calc[539 - 1021]"
        return " compute it\nAction 1: calc[(539 - 1021) * 59 - 72]"

    return ScriptedLLM(respond)


def _search(llm, config):
    return lats_search(_env(), llm, config, policy=ReActPolicy(llm, examples="none"))


def _env():
    env = gym.make("toolgym/ToolChoice-Arithmetic-v0")
    env.reset(seed=0)
    assert "(539 - 1021) × 59 - 72" in env.unwrapped.observe()
    return env


def test_parse_score():
    assert parse_score(" 10 because") == 1.0
    assert parse_score("score: 3/10") == 0.3
    assert parse_score("none") is None


def test_value_is_lambda_lm_plus_self_consistency():
    parent = Node(key="p", state=None, observation="", info={}, id=0)
    a = Node(key="a", state=None, observation="", info={}, id=1, parent=parent)
    b = Node(key="b", state=None, observation="", info={}, id=2, parent=parent)
    parent.children = [Edge("x", a, count=3), Edge("y", b, count=1)]
    value = LMValue(ScriptedLLM([" 8", " 4"]), question="q", value_weight=0.5)
    # a: 0.5 * 0.8 + 0.5 * 3/4 = 0.775; b: 0.5 * 0.4 + 0.5 * 1/4 = 0.325
    assert value.lm_scores([a, b], "q") == [0.8, 0.4]
    assert LMValue.self_consistency(a) == 0.75 and LMValue.self_consistency(b) == 0.25


def test_reflections_reach_the_proposal_and_value_prompts():
    prompts: list[str] = []
    # without the oracle a terminal fails by its value: 0.8 * 0.3 + 0.2 * 1.0 = 0.44 < 0.5
    result = _search(_arith_llm(prompts), LATSConfig(iterations=6, n=2, oracle=False, memory_size=2))
    assert not result.solved
    assert result.reflections and "calculator result" in result.reflections[0]
    after = prompts[[i for i, p in enumerate(prompts) if p.endswith("Reflection:")][0] + 1 :]
    proposals = [p for p in after if not p.endswith(("correctness score is", "Reflection:"))]
    values = [p for p in after if p.endswith("correctness score is")]
    assert proposals and all("calculator result" in p for p in proposals)
    assert values and all("Thus its correctness score is 1" in p for p in values)


def test_oracle_search_solves_and_stops_the_blind_one_cannot_read_success():
    oracle = _search(_arith_llm([], right=True), LATSConfig(iterations=10, n=2, oracle=True))
    assert oracle.solved and oracle.stopped_by == "success"
    assert oracle.best_path[-1] == "finish[-28510]"
    blind = _search(_arith_llm([], right=True), LATSConfig(iterations=10, n=2, oracle=False))
    assert not blind.solved and blind.stopped_by != "success"
    assert blind.best_path[-1] == "finish[-28510]"  # picked by value, not by the env's reward


def test_lats_is_a_bench_policy_and_charges_its_search_tokens():
    policy = make_policy("lats", llm=_arith_llm([], right=True), iterations=4, n=2, examples="none")
    ep = rollout(policy, "toolgym/ToolChoice-Arithmetic-v0", episodes=1)[0]
    assert ep.result.success
    stats = policy.search_stats(0)
    assert stats and ep.result.tokens["completion"] >= stats[0]["completion_tokens"] > 0


@pytest.mark.slow
def test_lats_runs_on_the_tiny_model():
    env = _env()
    result = lats_search(env, "tiny", LATSConfig(iterations=2, n=2, oracle=False))
    assert result.completion_tokens > 0
