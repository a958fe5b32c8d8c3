"""Checks that every toolgym environment passes, usable on your own :class:`~toolgym.core.TextEnv` too.

toolgym's test suite runs these on every registered id; call them in your tests when you write an env::

    from toolgym.testing import check_text_env
    check_text_env(MyEnv())

* :func:`check_info` - the standard ``info`` keys with the right types.
* :func:`check_determinism` - same seed and actions, same trajectory (observations, rewards, infos).
* :func:`check_snapshot_roundtrip` - step, snapshot, step, restore, step again: identical outputs.
* :func:`check_bad_actions` - hostile action texts never raise and are flagged invalid or handled.
* :func:`check_text_env` - all of the above plus Gymnasium's ``check_env`` with warnings as errors.
* :func:`collect_transitions` - one seeded episode of a test policy (:func:`mixed_action`), every transition kept.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env, data_equivalence

from toolgym.core import INFO_KEYS, TextEnv
from toolgym.rng import rand_elem

__all__ = [
    "BAD_ACTIONS",
    "check_bad_actions",
    "check_determinism",
    "check_info",
    "check_pickle",
    "check_snapshot_roundtrip",
    "check_text_env",
    "collect_transitions",
    "mixed_action",
    "unwrap",
]

#: Hostile or malformed actions that no env may raise on.
BAD_ACTIONS: tuple[Any, ...] = (
    "",
    " ",
    "\n\n",
    "[]",
    "search[",
    "finish]",
    "{}",
    '{"tool": 3}',
    "```python\n",
    "\x00\x01\x02",
    "Action 3:",
    "é" * 5000,
    "a" * 200_000,
    "think: " + "x" * 100,
    "go to",
    "answer[]",
    None,
    12345,
    b"\xff\xfe bytes",
    ["list"],
)


def unwrap(env: gym.Env) -> TextEnv:
    """Return the :class:`TextEnv` under any wrappers."""
    base = env.unwrapped
    if not isinstance(base, TextEnv):
        raise TypeError(f"expected a toolgym TextEnv, got {type(base).__name__}")
    return base


def check_info(info: dict[str, Any], *, after_reset: bool = False) -> None:
    """Assert that ``info`` has the standard keys with the right types."""
    missing = [k for k in INFO_KEYS if k not in info]
    assert not missing, f"info lacks the standard keys {missing}"
    assert isinstance(info["task_id"], str) and info["task_id"], "info['task_id'] must be a non-empty str"
    assert isinstance(info["success"], bool), "info['success'] must be a bool"
    assert isinstance(info["score"], float), "info['score'] must be a float"
    assert isinstance(info["invalid_action"], bool), "info['invalid_action'] must be a bool"
    assert isinstance(info["feedback"], str), "info['feedback'] must be a str"
    assert isinstance(info["tool_calls"], list), "info['tool_calls'] must be a list"
    for call in info["tool_calls"]:
        for key in ("name", "arguments", "cost", "latency_s", "output_chars"):
            assert key in call, f"a tool call record lacks {key!r}: {call}"
    assert abs(info["cost"] - sum(c["cost"] for c in info["tool_calls"])) < 1e-9, "info['cost'] != sum of calls"
    if after_reset:
        assert info["step"] == 0 and info["tool_calls"] == [] and info["cost_total"] == 0.0
    if "admissible_actions" in info:
        assert isinstance(info["admissible_actions"], list)
        assert all(isinstance(a, str) for a in info["admissible_actions"])


def mixed_action(env: TextEnv, rng: np.random.Generator, info: dict[str, Any]) -> str:
    """A test policy: the expert's action, an admissible action, or random text, chosen by ``rng``."""
    u = rng.random()
    if u < 0.4:
        try:
            return env.expert_action()
        except NotImplementedError:
            pass
    admissible = info.get("admissible_actions")
    if u < 0.7 and admissible:
        return str(rand_elem(rng, admissible))
    return env.action_space.sample()


def collect_transitions(
    env: gym.Env,
    seed: int,
    policy: Callable[[TextEnv, np.random.Generator, dict[str, Any]], str] = mixed_action,
    *,
    max_steps: int = 50,
    options: dict[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    """Reset with ``seed`` and run ``policy`` (seeded by ``seed``) to the end; return the raw transitions.

    The checks compare these exactly (observations and infos as the env returned them), which is why they do not
    go through :func:`toolgym.agents.rollout`: that engine runs agents and records text :class:`~toolgym.records.Step`
    records, and the kernel does not import agents.

    Returns:
        ``("reset", observation, info)``, then ``(action, observation, reward, terminated, truncated, info)`` per step.
    """
    base = unwrap(env)
    rng = np.random.default_rng(seed)
    base.action_space.seed(seed)
    obs, info = env.reset(seed=seed, options=options)
    out: list[tuple[Any, ...]] = [("reset", obs, info)]
    for _ in range(max_steps):
        action = policy(base, rng, info)
        obs, reward, terminated, truncated, info = env.step(action)
        out.append((action, obs, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return out


def check_determinism(make: Callable[[], gym.Env], seeds: Sequence[int] = (0, 1, 7)) -> None:
    """Two fresh envs, same seeds and policy: identical observations, rewards, flags and infos."""
    for seed in seeds:
        a, b = make(), make()
        try:
            ra, rb = collect_transitions(a, seed), collect_transitions(b, seed)
        finally:
            a.close()
            b.close()
        assert len(ra) == len(rb), f"seed {seed}: rollouts differ in length ({len(ra)} vs {len(rb)})"
        for i, (x, y) in enumerate(zip(ra, rb)):
            assert data_equivalence(x, y, exact=True), f"seed {seed}: step {i} differs:\n{x}\n{y}"


def check_snapshot_roundtrip(env: gym.Env, seed: int = 0, *, before: int = 2, after: int = 3) -> None:
    """Step, snapshot, step, restore, replay the same actions: identical outputs and state keys."""
    base = unwrap(env)
    rng = np.random.default_rng(seed)
    base.action_space.seed(seed)
    obs, info = env.reset(seed=seed)
    done = False
    for _ in range(before):
        obs, _, term, trunc, info = env.step(mixed_action(base, rng, info))
        if term or trunc:
            obs, info = env.reset(seed=seed + 1)
            break
    state = base.get_state()
    key = base.state_key()
    obs0 = base.observe()
    assert data_equivalence(obs0, obs, exact=True), "observe() differs from the last observation"
    actions, first = [], []
    for _ in range(after):
        a = mixed_action(base, rng, info)
        actions.append(a)
        res = env.step(a)
        first.append(res)
        done = res[2] or res[3]
        info = res[4]
        if done:
            break
    base.set_state(state)
    assert base.state_key() == key, "state_key() changed after set_state()"
    assert data_equivalence(base.observe(), obs0, exact=True), "observe() differs after set_state()"
    for a, res in zip(actions, first):
        again = env.step(a)
        assert data_equivalence(res, again, exact=True), f"after restore, step({a!r}) differs:\n{res}\n{again}"
    base.set_state(state)  # a snapshot can be restored twice
    assert base.state_key() == key


def check_bad_actions(env: gym.Env, seed: int = 0, actions: Sequence[Any] = BAD_ACTIONS) -> None:
    """Every hostile action returns normally with a valid observation and the standard info."""
    for action in actions:
        env.reset(seed=seed)
        obs, reward, term, trunc, info = env.step(action)
        assert obs in env.observation_space, f"step({action!r:.40}) returned an observation outside the space"
        assert isinstance(reward, float) and np.isfinite(reward)
        check_info(info)


def check_pickle(env: gym.Env, seed: int = 0) -> None:
    """A pickled-and-restored env continues identically."""
    base = unwrap(env)
    env.reset(seed=seed)
    clone = pickle.loads(pickle.dumps(base))
    a = base.expert_action()
    assert data_equivalence(base.step(a), clone.step(a), exact=True)


def check_text_env(env: gym.Env, make: Callable[[], gym.Env] | None = None) -> None:
    """Run every check: Gymnasium's ``check_env`` (warnings as errors), info, determinism, snapshots, bad input."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=False)
    _, info = env.reset(seed=0)
    check_info(info, after_reset=True)
    if make is not None:
        check_determinism(make)
    check_snapshot_roundtrip(env)
    check_bad_actions(env)
