"""The rollout engine, the expert/random/scripted policies and the policy factory."""

from __future__ import annotations

import json
import time

import gymnasium as gym
import pytest

from toolgym.agents import (
    AgentAction,
    BasePolicy,
    EpisodeSpec,
    LLMError,
    Policy,
    list_policies,
    make_policy,
    policy_options,
    rollout,
    run_episode,
)
from toolgym.error import ConfigError
from toolgym.records import EpisodeResult, Trajectory

ARITH = "toolgym/ToolChoice-Arithmetic-v0"


class CountingPolicy(BasePolicy):
    """Calls the calculator, then answers with its output; counts batched calls."""

    name = "counting"

    def __init__(self):
        super().__init__()
        self.batches: list[int] = []

    def act(self, observation, info, *, slot=0):
        if info["step"] == 0:
            expr = observation.split("What is ", 1)[1].rstrip("?")
            return AgentAction(f"calc[{expr}]", thought="Use the calculator.", usage={"prompt_tokens": 10})
        return AgentAction(f"finish[{observation}]", usage={"completion_tokens": 3})

    def act_batch(self, observations, infos, *, slots=None):
        self.batches.append(len(observations))
        return super().act_batch(observations, infos, slots=slots)


def test_expert_solves_every_episode_in_order():
    eps = rollout(make_policy("expert"), ARITH, episodes=6, num_envs=4)
    assert [e.result.seed for e in eps] == list(range(6))
    assert all(e.result.success and e.result.error is None for e in eps)
    assert all(isinstance(e.result, EpisodeResult) and isinstance(e.trajectory, Trajectory) for e in eps)
    assert eps[0].trajectory.steps[0].observation == "Episode finished, reward = True"
    assert not eps[0].trajectory.question.lower().startswith("question:")


def test_results_do_not_depend_on_num_envs():
    seq = rollout(make_policy("random", seed=5), ARITH, episodes=8, num_envs=1)
    par = rollout(make_policy("random", seed=5), ARITH, episodes=8, num_envs=8)
    key = [(e.result.task_id, [s.action for s in e.trajectory.steps], e.result.reward) for e in seq]
    assert key == [(e.result.task_id, [s.action for s in e.trajectory.steps], e.result.reward) for e in par]


def test_batched_act_calls_and_records():
    policy = CountingPolicy()
    eps = rollout(policy, ARITH, episodes=8, num_envs=4)
    # two steps per episode, four episodes at a time: 2 rounds per wave, 2 waves
    assert policy.batches == [4, 4, 4, 4]
    for e in eps:
        assert e.result.success
        assert e.result.steps == 2
        assert e.result.tokens == {"prompt": 10, "completion": 3}
        assert e.trajectory.steps[0].thought == "Use the calculator."
        assert e.trajectory.steps[0].tool_calls[0]["name"] == "calc"
        assert e.result.cost_total == pytest.approx(0.1)
        assert e.result.reward == pytest.approx(0.9)
        assert e.result.cost_breakdown["calc"] == pytest.approx(0.1)
        json.dumps(e.result.to_dict())
        json.dumps(e.trajectory.to_dict())
    assert "Thought 1: Use the calculator." in eps[0].trajectory.to_react_text()


def test_task_ids_seeds_and_specs():
    eps = rollout(make_policy("expert"), ARITH, task_ids=["L4-0", "L1-3"], seeds=[7, 8])
    assert [e.result.task_id for e in eps] == ["L4-0", "L1-3"]
    assert [e.result.seed for e in eps] == [7, 8]
    eps = rollout(make_policy("expert"), ARITH, episodes=[EpisodeSpec(1, "L2-2")])
    assert eps[0].result.task_id == "L2-2"


def test_env_objects_lists_and_factories():
    env = gym.make(ARITH)
    ep = run_episode(make_policy("expert"), env, seed=3)
    assert ep.result.success
    env.reset()  # not closed by the engine
    envs = [gym.make(ARITH) for _ in range(3)]
    eps = rollout(make_policy("expert"), envs, episodes=5)
    assert len(eps) == 5 and all(e.result.success for e in eps)
    eps = rollout(make_policy("expert"), lambda: gym.make(ARITH, difficulty=1), episodes=3, num_envs=2)
    assert all(e.result.task_id.startswith("L1-") for e in eps)


class FailingPolicy(BasePolicy):
    """Fails on chosen tasks the way a language-model backend does."""

    name = "failing"

    def __init__(self, bad_tasks):
        super().__init__()
        self.bad_tasks = set(bad_tasks)

    def act(self, observation, info, *, slot=0):
        env = self.episode(slot).env
        if env.unwrapped.task_id in self.bad_tasks:
            raise LLMError("server unreachable: connection refused")
        return env.unwrapped.expert_action()


def test_backend_errors_are_recorded_and_the_run_goes_on():
    probe = rollout(make_policy("expert"), ARITH, episodes=6)
    policy = FailingPolicy({probe[1].result.task_id, probe[4].result.task_id})
    eps = rollout(policy, ARITH, episodes=6, num_envs=3)
    assert len(eps) == 6
    for i, e in enumerate(eps):
        if i in (1, 4):
            assert e.result.error == "LLMError: server unreachable: connection refused"
            assert not e.result.success and e.result.steps == 0
        else:
            assert e.result.error is None and e.result.success


def test_reset_errors_are_recorded():
    eps = rollout(make_policy("expert"), ARITH, task_ids=["L1-0", "nonsense", "L2-0"], num_envs=2)
    assert [e.result.error is None for e in eps] == [True, False, True]
    assert "UnknownTaskError" in eps[1].result.error


def test_max_steps_cap_marks_truncation():
    policy = make_policy("scripted", actions=["calc[1+1]"])
    eps = rollout(policy, ARITH, episodes=2, max_steps=2, env_kwargs={"max_steps": 10})
    for e in eps:
        assert e.result.steps == 2
        assert e.trajectory.steps[-1].truncated
        assert e.result.metadata["stopped_by"] == "max_steps"


class SlowPolicy(BasePolicy):
    name = "slow"

    def act(self, observation, info, *, slot=0):
        time.sleep(0.05)
        return "calc[1+1]"


def test_time_limits():
    eps = rollout(SlowPolicy(), ARITH, episodes=2, episode_time_limit_s=0.12, env_kwargs={"max_steps": 100})
    assert len(eps) == 2
    assert all(e.result.metadata["stopped_by"] == "episode_time_limit" for e in eps)
    assert all(1 <= e.result.steps <= 4 for e in eps)
    eps = rollout(SlowPolicy(), ARITH, episodes=50, time_budget_s=0.2, env_kwargs={"max_steps": 100})
    assert 1 <= len(eps) < 50
    assert eps[-1].result.metadata["stopped_by"] == "time_budget"


class RetryOnce(BasePolicy):
    """A multi-trial policy: wrong answer in trial 0, the expert's in trial 1."""

    name = "retry-once"

    def act(self, observation, info, *, slot=0):
        if self.episode(slot).first_info["trial"] == 0:
            return "finish[-1]"
        return self.episode(slot).env.unwrapped.expert_action()

    def end_episodes(self, trajectories, infos, slots):
        return [not t.success for t in trajectories]


def test_multi_trial_hook_retries_the_same_task():
    eps = rollout(RetryOnce(), ARITH, episodes=3, num_envs=2)
    for e in eps:
        assert e.result.success
        assert e.result.metadata["trials"] == 2
        assert e.result.metadata["trial_success"] == [False, True]
        assert e.trials[0].task_id == e.trials[1].task_id == e.result.task_id
        assert e.trials[1].metadata["trial"] == 1


class LookUntilOutOfTrials(BasePolicy):
    """Reflexion's protocol without the reflection: look until the env gives up, retry a failed task."""

    name = "look"

    def __init__(self, max_trials):
        super().__init__()
        self.max_trials = max_trials
        self.resets = []

    def reset(self, observation, info, *, env=None, slot=0):
        super().reset(observation, info, env=env, slot=slot)
        self.resets.append((info["task_id"], info["trial"]))

    def act(self, observation, info, *, slot=0):
        return "look"

    def end_episodes(self, trajectories, infos, slots):
        trials = [self.episode(s).first_info["trial"] for s in slots]
        return [not t.success and n + 1 < self.max_trials for t, n in zip(trajectories, trials)]


def test_multi_trial_hook_on_household_stops_after_max_trials():
    policy = LookUntilOutOfTrials(max_trials=3)
    eps = rollout(policy, "toolgym/Household-v0", episodes=2, env_kwargs={"max_steps": 2})
    tasks = [e.result.task_id for e in eps]
    assert policy.resets == [(t, trial) for t in tasks for trial in range(3)]
    for e in eps:
        assert e.result.metadata["trials"] == 3 and e.result.metadata["trial_success"] == [False] * 3
        assert [t.metadata["trial"] for t in e.trials] == [0, 1, 2]
        assert all(len(t.steps) == 2 and t.steps[-1].truncated for t in e.trials)


def test_a_trial_cut_by_the_engines_step_cap_may_be_retried():
    """The engine's max_steps caps each trial as the env's own limit does: Reflexion still gets its retries."""
    policy = LookUntilOutOfTrials(max_trials=3)
    eps = rollout(policy, "toolgym/Household-v0", episodes=2, max_steps=2, env_kwargs={"max_steps": 50})
    for e in eps:
        assert e.result.metadata["trials"] == 3 and e.result.metadata["stopped_by"] == "max_steps"
        assert all(len(t.steps) == 2 and t.steps[-1].truncated for t in e.trials)
        assert [t.metadata["stopped_by"] for t in e.trials] == ["max_steps"] * 3


def test_on_episode_streams_results():
    seen = []
    rollout(make_policy("expert"), ARITH, episodes=3, num_envs=2, on_episode=seen.append)
    assert sorted(e.result.seed for e in seen) == [0, 1, 2]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"episodes": 2, "num_envs": 0}, "num_envs"),
        ({}, "episodes=N"),
        ({"episodes": 2, "seeds": [1]}, "expected 2 seeds"),
        ({"episodes": 1, "max_steps": 0}, "max_steps"),
        ({"episodes": 1, "time_budget_s": -1}, "time_budget_s"),
    ],
)
def test_bad_rollout_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        rollout(make_policy("expert"), ARITH, **kwargs)


def test_bad_env_arguments():
    with pytest.raises(ConfigError, match="num_envs=1"):
        rollout(make_policy("expert"), gym.make(ARITH), episodes=2, num_envs=2)
    with pytest.raises(ConfigError, match="Policy"):
        rollout(object(), ARITH, episodes=1)


def test_random_policy_uses_admissible_actions():
    class Env(gym.Env):
        observation_space = gym.spaces.Discrete(1)
        action_space = gym.spaces.Discrete(1)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.n = 0
            return "start", {"task_id": "t", "admissible_actions": ["go north", "go south"]}

        def step(self, action):
            assert action in ("go north", "go south")
            self.n += 1
            return "moved", 0.0, self.n >= 3, False, {"task_id": "t", "admissible_actions": ["go north", "go south"]}

    eps = rollout(make_policy("random", seed=1), Env(), episodes=2)
    assert all(e.result.steps == 3 for e in eps)
    assert eps[0].result.env_id == "Env"


def test_random_policy_writes_well_formed_calls():
    eps = rollout(make_policy("random", seed=0), ARITH, episodes=20)
    actions = [s.action for e in eps for s in e.trajectory.steps]
    assert all(a.startswith(("calc[", "finish[")) and a.endswith("]") for a in actions)
    assert sum(e.result.success for e in eps) <= 2  # near zero


def test_expert_needs_the_env():
    p = make_policy("expert")
    p.reset("q", {"task_id": "t"})
    with pytest.raises(ConfigError, match="env="):
        p.act("q", {})


def test_factory_errors_and_listing():
    assert {"expert", "random", "scripted"} <= set(list_policies())
    assert isinstance(make_policy("expert"), Policy)
    with pytest.raises(ConfigError, match="Did you mean: expert"):
        make_policy("exprt")
    with pytest.raises(ConfigError, match="expected options among"):
        make_policy("expert", temperature=0.5)
    with pytest.raises(ConfigError, match="expected the option"):
        make_policy("scripted")
    assert policy_options("random") == {"seed": 0}
    with pytest.raises(ConfigError, match="seed"):
        make_policy("random", seed="x")


def test_agent_action_pickles():
    import pickle

    a = AgentAction("finish[1]", thought="t", usage={"prompt_tokens": 3})
    b = pickle.loads(pickle.dumps(a))
    assert b == "finish[1]" and b.thought == "t" and b.usage == {"prompt_tokens": 3}


def test_slot_state_names_its_typed_fields_as_attributes():
    from toolgym.agents.base import SlotState

    state = SlotState(first_info={"trial": 1})
    state["history"] = []
    assert state.first_info["trial"] == 1 and dict(state) == {"history": []}
    with pytest.raises(KeyError, match=r"read state.first_info"):
        state["first_info"]
