"""Every registered toolgym id passes the same battery: check_env, determinism, snapshots, fuzzing."""

from __future__ import annotations

import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolgym.registry import describe, env_class, toolgym_ids
from toolgym.testing import (
    check_bad_actions,
    check_determinism,
    check_info,
    check_pickle,
    check_snapshot_roundtrip,
    collect_transitions,
    unwrap,
)


def _params():
    params = []
    for env_id in toolgym_ids():
        status = describe(env_id).status
        marks = [] if status.available else [pytest.mark.skip(reason=f"{env_id}: data missing: {status.detail}")]
        if getattr(env_class(env_id), "heavy", False):
            marks.append(pytest.mark.slow)
        params.append(pytest.param(env_id, id=env_id.split("/", 1)[1], marks=marks))
    return params


IDS = _params()


def test_registry_has_ids():
    assert "toolgym/ToolChoice-Arithmetic-v0" in toolgym_ids()


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_warnings_as_errors(env_id):
    env = gym.make(env_id)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_env(env.unwrapped)
    finally:
        env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_info_keys_and_episode_contract(env_id):
    env = gym.make(env_id)
    try:
        for seed in range(3):
            steps = collect_transitions(env, seed, max_steps=200)
            check_info(steps[0][2], after_reset=True)
            for _action, obs, _reward, term, trunc, info in steps[1:]:
                check_info(info)
                assert obs in env.observation_space
                assert not (term and trunc), "terminated and truncated must never both be true"
            assert steps[-1][3] or steps[-1][4], "the episode must end within the step limit"
    finally:
        env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_rollout(env_id):
    check_determinism(lambda: gym.make(env_id))


@pytest.mark.parametrize("env_id", IDS)
def test_snapshot_roundtrip(env_id):
    env = gym.make(env_id)
    try:
        for seed in range(3):
            check_snapshot_roundtrip(env, seed)
    finally:
        env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_bad_actions_never_raise(env_id):
    env = gym.make(env_id)
    try:
        check_bad_actions(env)
    finally:
        env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_expert_solves(env_id):
    env = gym.make(env_id)
    base = unwrap(env)
    if not base.expert_solves_all:
        env.close()
        pytest.skip(f"{env_id}: the expert cannot solve every task; the env's own tests check it on solvable ones")
    try:
        for seed in range(5):
            env.reset(seed=seed)
            done, info = False, {}
            while not done:
                _, _, term, trunc, info = env.step(base.expert_action())
                done = term or trunc
            assert info["success"], f"the expert failed task {info['task_id']}: {info['feedback']}"
    finally:
        env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_pickle(env_id):
    env = gym.make(env_id)
    if not unwrap(env).picklable:
        env.close()
        pytest.skip(f"{env_id} holds live handles (processes, connections) and is not picklable")
    try:
        check_pickle(env)
    finally:
        env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_fuzz_actions(env_id):
    env = gym.make(env_id)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=50)), min_size=1, max_size=6))
    def run(actions):
        env.reset(seed=0)
        for a in actions:
            obs, reward, term, trunc, info = env.step(a)
            assert obs in env.observation_space
            check_info(info)
            if term or trunc:
                env.reset(seed=1)

    try:
        run()
    finally:
        env.close()
