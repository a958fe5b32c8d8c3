"""ReST-MCTS*: value-label inference (reasoning distance), the PRM on a scalar head, roll-forward, selection."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from toolgym.algorithms.mcts import ConstantValue, Edge, MCTSConfig, Node, NoisyExpertProposer, mcts_search
from toolgym.algorithms.prm import PRMConfig, PRMValue, build_prm, render_solution, train_prm, value_accuracy
from toolgym.algorithms.rest_mcts import (
    RestMCTSConfig,
    RollForwardValue,
    infer_value_labels,
    reasoning_distance,
    rest_mcts,
    select_answer,
    value_samples,
)
from toolgym.error import ConfigError
from toolgym.splits import task_split

ARITH_ID = "toolgym/ToolChoice-Arithmetic-v0"


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tree():
    """root -> s1 -> s2 -> s3 (correct); root -> w1 (dead end) -> w2; s1 -> x1; s2 -> x2 (wrong terminal)."""
    names = ["root", "s1", "s2", "s3", "w1", "w2", "x1", "x2"]
    n = {k: Node(key=k, state=None, observation="", info={}, id=i) for i, k in enumerate(names)}
    for parent, child in [("root", "s1"), ("s1", "s2"), ("s2", "s3"), ("root", "w1"), ("w1", "w2"), ("s1", "x1")]:
        n[child].parent = n[parent]
        n[parent].children.append(Edge("a", n[child]))
    n["x2"].parent = n["s2"]
    n["s2"].children.append(Edge("b", n["x2"]))
    n["s3"].terminal = n["s3"].success = True
    n["x2"].terminal = True
    return n


def test_reasoning_distance_and_labels_on_a_three_step_path():
    n = _tree()
    m = reasoning_distance(n["root"])
    assert [m[n[k].id] for k in ("root", "s1", "s2", "s3")] == [4, 3, 2, 1]
    assert m[n["w1"].id] == m[n["x1"].id] == float("inf")
    v = infer_value_labels(n["root"])
    assert [v[n[k].id] for k in ("s1", "s2", "s3")] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert v[n["w1"].id] == 0.0 and v[n["w2"].id] == 0.0  # off-route from the first step: 0
    # deeper off-route nodes keep partial credit in the published rule: V(p) - (1 - V(p)) / m(p)
    assert v[n["x1"].id] == pytest.approx(1 / 3 - (2 / 3) / 3)
    assert v[n["x2"].id] == pytest.approx(2 / 3 - (1 / 3) / 2)
    strict = infer_value_labels(n["root"], off_route="zero")
    assert all(strict[n[k].id] == 0.0 for k in ("w1", "w2", "x1", "x2"))
    assert [strict[n[k].id] for k in ("s1", "s2", "s3")] == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_unsolved_trees_give_no_samples_unless_asked():
    n = _tree()
    n["s3"].success = False
    assert value_samples(n["root"], "q") == []
    samples = value_samples(n["root"], "q", include_unsolved=True)
    assert len(samples) == 7 and all(s.value == 0.0 for s in samples)


def test_select_answer():
    assert select_answer(["a", "b"], "best_of_n", scores=[0.2, 0.9]) == 1
    assert select_answer(["a", "b", "c"], "majority", keys=[1, 2, 2]) == 1
    assert select_answer(["a", "b", "c"], "random", rng=np.random.default_rng(0)) in (0, 1, 2)
    with pytest.raises(ConfigError, match="expected method"):
        select_answer(["a"], "vote")


def test_prm_learns_held_out_labels_better_than_a_constant():
    rng = np.random.default_rng(0)
    words = ["apple", "mug", "fridge", "lamp", "book", "cup", "knife", "plate"]

    def sample(good: bool) -> str:
        steps = [(None, f"go to {rng.choice(words)} {rng.integers(1, 4)}", "You arrive.")]
        steps.append((None, "take it" if good else "look", "You pick it up." if good else "Nothing happens."))
        return render_solution("put a thing somewhere", steps)

    y = rng.random(240) < 0.5
    texts = [sample(bool(g)) for g in y]
    labels = y.astype(float) * 0.8 + 0.1
    prm = build_prm("tiny", seed=0, max_length=64)
    fit = train_prm(prm, texts[:160], labels[:160], PRMConfig(epochs=4, batch_size=16, max_length=64))
    assert fit["steps"] == 40
    pred = prm.score(texts[160:])
    const = np.full(80, labels[:160].mean())
    # fixed thresholds: the PRM reads the step that matters; a constant is right on no sample
    assert value_accuracy(pred, labels[160:]) >= 0.8
    assert value_accuracy(const, labels[160:]) <= 0.1
    assert not prm.model.training


def test_prm_rejects_bad_labels():
    prm = build_prm("tiny", max_length=32)
    with pytest.raises(ConfigError, match="value labels in"):
        train_prm(prm, ["a"], [1.5])


def test_roll_forward_blends_with_the_best_value_seen():
    class Depth:
        def evaluate(self, nodes, ctx):
            return [0.1 * len(n.history) for n in nodes]

    env = gym.make("toolgym/Household-v0")
    env.reset(seed=0, options={"task_id": task_split(env, "test", 1)[0]})
    proposer = NoisyExpertProposer(1.0, seed=0)
    value = RollForwardValue(Depth(), proposer, steps=2, branch=1, alpha=0.5)
    cfg = MCTSConfig(simulations=1, num_children=1, use_env_reward=False, stop_on_success=False)
    result = mcts_search(env, proposer, value, cfg)
    child = result.root.children[0].child
    # depth-1 child: V0 = 0.1; roll-forward reaches depth 3: best 0.3; blend 0.5 * 0.1 + 0.5 * 0.3
    assert child.value == pytest.approx(0.2)
    assert result.env_steps == 3


def test_rest_mcts_iteration_trains_the_prm_and_collects_policy_data():
    env = gym.make("toolgym/Household-v0", task_types=["pick_and_place_simple"], max_steps=12)
    tasks = task_split(env, "train", 2)
    seen = []

    def sft(paths, it):
        seen.append((len(paths), it))
        return NoisyExpertProposer(0.9, seed=it)

    cfg = RestMCTSConfig(iterations=1, simulations=25, prm=PRMConfig(epochs=1), value_threshold=0.0)
    out = rest_mcts(env, tasks, NoisyExpertProposer(0.6, seed=0), build_prm("tiny", max_length=128), cfg, sft=sft)
    stats = out.stats[0]
    assert stats["solved_trees"] >= 1 and stats["samples"] == len(out.samples[0]) > 0
    assert stats["policy_examples"] == len(out.policy_data[0]) >= 1 and seen == [(stats["policy_examples"], 1)]
    assert all(t.success for t in out.policy_data[0])


def test_prm_value_scores_nodes():
    env = gym.make("toolgym/Household-v0")
    env.reset(seed=0, options={"task_id": task_split(env, "test", 1)[0]})
    prm = build_prm("tiny", max_length=64)
    result = mcts_search(env, NoisyExpertProposer(0.5), PRMValue(prm), MCTSConfig(simulations=3, num_children=2))
    assert all(0.0 <= n.value <= 1.0 for n in result.nodes[1:] if n.value is not None)
    assert ConstantValue(0.5).evaluate(result.nodes, None) == [0.5] * len(result.nodes)


def test_the_sft_hook_trains_a_policy_on_the_trees_paths_and_proposes_with_it(tmp_path):
    from toolgym.agents import make_policy, rollout
    from toolgym.algorithms.fireact import TrainSettings
    from toolgym.algorithms.models import ModelSpec
    from toolgym.algorithms.rest_mcts import sft_hook

    tasks = ["L1-0", "L2-1", "L3-2"]
    paths = [e.trajectory for e in rollout(make_policy("calc-teacher"), ARITH_ID, task_ids=tasks)]
    hook = sft_hook(
        ModelSpec(n_layer=1, n_embd=32, n_head=2, n_positions=256),
        tmp_path,
        train=TrainSettings(max_steps=3, batch_size=2, save_steps=0),
        thoughts=True,
        max_tokens=8,
    )
    proposer = hook(paths, 1)
    assert (tmp_path / "iter-1" / "final").is_dir()
    env = gym.make(ARITH_ID)
    env.reset(options={"task_id": "L1-0"})
    result = mcts_search(env, proposer, ConstantValue(0.0), MCTSConfig(simulations=2, num_children=2))
    assert result.completion_tokens > 0  # the trained policy was asked for proposals
