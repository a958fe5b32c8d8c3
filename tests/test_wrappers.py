"""toolgym.wrappers: the Discrete view over admissible actions (SB3, tabular learners)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from toolgym.error import ConfigError
from toolgym.wrappers import DiscreteActions, HashedBagOfWords


def household(**kwargs):
    return gym.make("toolgym/Household-v0", **kwargs)


def test_hashed_bag_of_words_is_stable_and_bounded():
    enc = HashedBagOfWords(32)
    v = enc("You arrive at loc 5. On the desk 1, you see a mug 1.")
    assert v.shape == (32,) and v.dtype == np.float32 and set(np.unique(v)) <= {0.0, 1.0}
    assert np.array_equal(v, HashedBagOfWords(32)("you arrive at LOC 5 on the desk 1 you see a mug 1"))
    assert not np.array_equal(enc("mug 1"), enc("mug 2"))
    with pytest.raises(ConfigError):
        HashedBagOfWords(0)


def test_discrete_actions_spaces_mask_and_meaning():
    env = DiscreteActions(household(), max_actions=48, dim=64)
    assert env.action_space == gym.spaces.Discrete(48)
    obs, info = env.reset(seed=0)
    assert obs.shape == (192,) and obs in env.observation_space
    n = len(info["admissible_actions"])
    assert info["action_mask"].dtype == bool and info["action_mask"].sum() == n and info["action_mask"][:n].all()
    assert np.array_equal(env.action_masks(), info["action_mask"])
    obs, reward, terminated, truncated, info = env.step(n - 1)
    assert info["action_text"] == info["admissible_actions_before"][n - 1] and not info["invalid_action"]
    assert obs in env.observation_space and isinstance(info["text_observation"], str)


def test_out_of_range_indices():
    env = DiscreteActions(household(), max_actions=128)
    _, info = env.reset(seed=0)
    n = len(info["admissible_actions"])
    _, _, _, _, info = env.step(127)
    assert info["invalid_action"] and info["action_text"] == "" and info["text_observation"] == "Nothing happens."
    wrap = DiscreteActions(household(), max_actions=128, out_of_range="wrap")
    _, info = wrap.reset(seed=0)
    _, _, _, _, info = wrap.step(n + 1)
    assert info["action_text"] == info["admissible_actions_before"][1]


def test_record_constructor_args_and_validation():
    env = DiscreteActions(household(), max_actions=20, dim=16, fields=("observation",))
    assert env._saved_kwargs == {"max_actions": 20, "dim": 16, "fields": ("observation",), "out_of_range": "invalid"}
    assert env.spec is not None and env.spec.additional_wrappers[-1].kwargs["max_actions"] == 20
    for kwargs in ({"max_actions": 0}, {"fields": ("pixels",)}, {"out_of_range": "clip"}):
        with pytest.raises(ConfigError):
            DiscreteActions(household(), **kwargs)
    with pytest.raises(ConfigError, match="admissible_actions"):
        DiscreteActions(gym.make("toolgym/ToolChoice-Arithmetic-v0")).reset(seed=0)


def q_learning(env, episodes, rng, alpha=0.5, gamma=0.95, eps=0.3):
    base, table = env.unwrapped, {}
    n = env.action_space.n

    def run(explore):
        _, info = env.reset(seed=int(rng.integers(1 << 30)))
        done = False
        while not done:
            key, mask = base.state_key(), info["action_mask"]
            q = table.setdefault(key, np.zeros(n))
            a = (
                int(rng.integers(mask.sum()))
                if explore and rng.random() < eps
                else int(np.argmax(np.where(mask, q, -1e9)))
            )
            _, r, terminated, truncated, info = env.step(a)
            nq = table.setdefault(base.state_key(), np.zeros(n))
            target = r + (0.0 if terminated else gamma * np.max(np.where(info["action_mask"], nq, -1e9)))
            q[a] += alpha * (target - q[a])
            done = terminated or truncated
        return info["success"]

    for _ in range(episodes):
        run(True)
    return [run(False) for _ in range(3)]


def test_tabular_q_learning_learns_a_household():
    env = DiscreteActions(
        household(difficulty=1, task_types=["pick_and_place_simple"], num_tasks=1), max_actions=64, dim=16
    )
    rng = np.random.default_rng(0)
    assert not any(q_learning(env, 0, rng))  # untrained greedy policy: no success
    assert all(q_learning(env, 300, rng))  # after 300 episodes the greedy policy solves it


@pytest.mark.slow
def test_stable_baselines3_runs_unchanged_and_ppo_learns_a_household():
    pytest.importorskip("stable_baselines3")
    import torch
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.env_checker import check_env

    torch.set_num_threads(1)
    check_env(DiscreteActions(household(), max_actions=64, dim=64), warn=True)

    def make():
        inner = household(difficulty=1, task_types=["pick_and_place_simple"], num_tasks=1, max_steps=20)
        return DiscreteActions(inner, max_actions=24, dim=64, out_of_range="wrap")

    def success_rate(model, n=10):
        env, wins = make(), 0
        for ep in range(n):
            obs, info = env.reset(seed=1000 + ep)
            done = False
            while not done:
                obs, _, terminated, truncated, info = env.step(int(model.predict(obs, deterministic=True)[0]))
                done = terminated or truncated
            wins += info["success"]
        return wins / n

    dqn = DQN("MlpPolicy", make(), seed=0, verbose=0, learning_starts=100)
    dqn.learn(500)
    ppo = PPO("MlpPolicy", make(), n_steps=512, batch_size=128, n_epochs=8, gamma=0.95, ent_coef=0.01, seed=0)
    assert success_rate(ppo) < 0.5  # untrained (a random policy wins about 4% of these episodes)
    ppo.learn(30_000)
    assert success_rate(ppo) >= 0.8
