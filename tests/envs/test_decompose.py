"""toolgym/Decompose-Arithmetic-v0: direct answers, push/solve/backtrack on the subtask stack, expert, snapshots."""

from __future__ import annotations

import gymnasium as gym
import pytest

from toolgym.envs.decompose import DEPTHS, make_tree, render, value
from toolgym.error import ConfigError, UnknownTaskError
from toolgym.splits import overlap_report, task_split
from toolgym.testing import check_text_env

ENV_ID = "toolgym/Decompose-Arithmetic-v0"


def make(**kwargs):
    return gym.make(ENV_ID, **kwargs)


def test_passes_the_env_battery():
    check_text_env(make(), lambda: make())


def test_tasks_are_deterministic_and_nested_to_their_depth():
    for depth in DEPTHS:
        tree = make_tree(depth, 5)
        assert tree == make_tree(depth, 5)

        def nesting(t):
            return 0 if not isinstance(t, tuple) else 1 + max(nesting(t[1]), nesting(t[2]))

        assert nesting(tree) == depth
    with pytest.raises(ConfigError):
        make_tree(9, 0)
    with pytest.raises(ConfigError):
        make(depth=0)


@pytest.mark.parametrize("depth", DEPTHS)
def test_expert_decomposes_and_solves_every_task(depth):
    env = make(depth=depth)
    base = env.unwrapped
    for n in range(40):
        env.reset(options={"task_id": f"D{depth}-{n}"})
        actions = []
        while True:
            a = base.expert_action()
            actions.append(a.split("[")[0])
            _, reward, term, trunc, info = env.step(a)
            assert not info["invalid_action"], a
            if term or trunc:
                break
        assert term and info["success"] and reward == 1.0
        if depth > 1:
            assert "push" in actions and "solve" in actions  # it decomposes, it does not just answer


def test_direct_answer_and_wrong_answer():
    env = make()
    _, info = env.reset(options={"task_id": "D3-2"})
    gold = value(make_tree(3, 2))
    _, reward, term, _, info = env.step(f"answer[{gold}]")
    assert term and info["success"] and reward == 1.0
    env.reset(options={"task_id": "D3-2"})
    _, reward, term, _, info = env.step(f"answer[{gold + 1}]")
    assert term and not info["success"] and reward == 0.0


def test_push_solve_backtrack_semantics():
    env = make(depth=2)
    base = env.unwrapped
    obs, info = env.reset(options={"task_id": "D2-0"})
    tree = make_tree(2, 0)
    child = next(t for t in (tree[1], tree[2]) if isinstance(t, tuple))
    obs, _, _, _, info = env.step(f"push[({render(child)})]")  # outer parentheses and spacing do not matter
    assert not info["invalid_action"] and info["stack_depth"] == 1 and info["subtask"] == render(child)
    assert "solve" in obs
    key_pushed = base.state_key()
    _, _, _, _, info = env.step(f"solve[{value(child) + 5}]")  # a wrong value is accepted silently
    assert info["stack_depth"] == 0 and not info["invalid_action"]
    assert base.expert_action().startswith("answer[")  # the expert sees the inconsistency and answers directly
    _, _, _, _, info = env.step("backtrack[]")
    assert base.state_key() == key_pushed and info["stack_depth"] == 1
    _, _, _, _, info = env.step(f"solve[{value(child)}]")
    assert base.gold_value() == value(tree)  # the right value keeps the root's value
    _, reward, term, _, info = env.step(f"answer[{value(tree)}]")
    assert term and info["success"]


@pytest.mark.parametrize(
    ("action", "why"),
    [("push[1 + 1]", "compound operand"), ("solve[3]", "answer"), ("backtrack[]", "nothing to undo"), ("hello", "")],
)
def test_invalid_actions_explain_themselves(action, why):
    env = make(depth=3, invalid_action_penalty=0.1)
    env.reset(options={"task_id": "D3-1"})
    obs, reward, term, trunc, info = env.step(action)
    assert info["invalid_action"] and reward == pytest.approx(-0.1) and not term
    assert why in obs


def test_decomposition_steps_can_be_priced():
    env = make(depth=2, tool_costs={"solve": 0.05, "push": 0.01}, cost_weight=2.0)
    base = env.unwrapped
    env.reset(options={"task_id": "D2-3"})
    total = 0.0
    while True:
        _, reward, term, trunc, info = env.step(base.expert_action())
        total += reward
        if term or trunc:
            break
    pushes, solves = info["cost_breakdown"].get("push", 0.0), info["cost_breakdown"].get("solve", 0.0)
    assert pushes > 0 and solves > 0
    assert total == pytest.approx(1.0 - 2.0 * (pushes + solves))


def test_structural_actions_hook_and_unknown_tasks():
    env = make(depth=3)
    base = env.unwrapped
    env.reset(options={"task_id": "D3-4"})
    hooks = base.structural_actions()
    assert hooks and all(a.startswith("push[") for a in hooks)
    env.step(hooks[0])
    assert "backtrack[]" in base.structural_actions()
    with pytest.raises(UnknownTaskError):
        env.reset(options={"task_id": "X3-4"})


def test_splits_are_disjoint():
    env = make()
    train, test = task_split(env, "train", 50), task_split(env, "test", 20)
    assert overlap_report({"train": train, "test": test}, env)["disjoint"]
