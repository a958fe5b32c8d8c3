"""ReAct, Reflexion, the repair policy and CoT-SC end to end on every registered env (scripted oracle completions
and the tiny model)."""

from __future__ import annotations

import gymnasium as gym
import pytest

from toolgym.agents import make_policy, rollout
from toolgym.registry import describe, toolgym_ids


def _params():
    out = []
    for env_id in toolgym_ids():
        status = describe(env_id).status
        marks = []
        if not status.available:
            marks.append(pytest.mark.skip(reason=f"{env_id}: data not available ({status.detail})"))
        elif not status.source.startswith("procedural"):
            marks.append(pytest.mark.slow)
        out.append(pytest.param(env_id, marks=marks, id=env_id.split("/")[-1]))
    return out


@pytest.mark.parametrize("env_id", _params())
@pytest.mark.parametrize("method", ["react", "reflexion", "repair", "cot-sc"])
def test_methods_with_oracle_completions(env_id, method, oracle):
    env = gym.make(env_id)
    options = {"k": 3} if method == "cot-sc" else {}
    llm = oracle(env, wrong_first_trial=method in ("reflexion", "repair"))
    eps = rollout(make_policy(method, llm=llm, **options), [env], episodes=1)
    result = eps[0].result
    assert result.error is None
    if getattr(env.unwrapped, "expert_solves_all", True):
        assert result.success, [s.action for s in eps[0].trajectory.steps]
    if method in ("reflexion", "repair") and result.success:
        assert result.metadata["trial_success"][-1] is True
    if method == "repair":  # the first trial was wrong: the reflector re-solved the task
        assert result.metadata["trial_success"][0] is False and result.metadata["trials"] >= 2


@pytest.mark.parametrize("env_id", _params())
def test_react_with_the_tiny_model(env_id, tiny_llm):
    eps = rollout(make_policy("react", llm=tiny_llm, max_tokens=8, num_examples=1), env_id, episodes=2, num_envs=2)
    assert all(e.result.error is None for e in eps)
    assert all(e.result.tokens["completion"] > 0 for e in eps)
