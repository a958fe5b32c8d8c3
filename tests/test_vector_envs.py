"""gym.make_vec works for toolgym ids out of the box: sync and async (shared memory on, the default) agree."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import toolgym  # noqa: F401
from toolgym.registry import env_class, toolgym_ids
from toolgym.spaces import SharedStrings, Utf8Text

PROCEDURAL = [
    "toolgym/ToolChoice-Arithmetic-v0",
    "toolgym/MultiHop-v0",
    "toolgym/Household-v0",
    "toolgym/ShapesVQA-v0",
    "toolgym/Decompose-Arithmetic-v0",
]


def _same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return tuple(a) == tuple(b)


def _run(env_id: str, mode: str):
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode=mode)
    try:
        obs, _ = vec.reset(seed=3)
        out = [obs]
        for action in (["look", "finish[2]"], ["search[Paris]", "answer[3]"]):
            obs, reward, terminated, truncated, _ = vec.step(action)
            out.append((obs, reward.tolist(), terminated.tolist(), truncated.tolist()))
        return out
    finally:
        vec.close()


def _check(env_id: str) -> None:
    sync, async_ = _run(env_id, "sync"), _run(env_id, "async")
    assert _same(sync[0], async_[0])
    for s, a in zip(sync[1:], async_[1:]):
        assert _same(s[0], a[0]) and s[1:] == a[1:]


@pytest.mark.parametrize("env_id", PROCEDURAL)
def test_sync_and_async_vector_envs_agree(env_id):
    _check(env_id)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", [i for i in toolgym_ids() if i not in PROCEDURAL])
def test_every_id_vectorises(env_id):
    status = env_class(env_id).data_status(**(gym.spec(env_id).kwargs or {}))
    if not status.available:
        pytest.skip(f"{env_id}: data not available ({status.detail})")
    _check(env_id)


def test_shared_strings_round_trip_unicode_and_copy_to_tuples():
    import copy
    import multiprocessing as mp

    from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

    space = Utf8Text(16)
    mem = create_shared_memory(space, n=2, ctx=mp)
    view = read_from_shared_memory(space, mem, n=2)
    assert isinstance(view, SharedStrings)
    write_to_shared_memory(space, 0, "Café ☕ 𝄞", mem)
    write_to_shared_memory(space, 1, "", mem)
    assert tuple(view) == ("Café ☕ 𝄞", "")
    snap = copy.deepcopy(view)
    write_to_shared_memory(space, 1, "later", mem)
    assert snap == ("Café ☕ 𝄞", "") and view[1] == "later"  # the view is live, the copy is not
    with pytest.raises(ValueError, match="at most 16"):
        write_to_shared_memory(space, 0, "x" * 17, mem)
