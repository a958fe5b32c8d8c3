"""Training recipes: validation, claims that can fail, summaries with CIs, reports, and `toolgym train` end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from toolgym.benchmarks.training import builtin_recipes, load_recipe, report_markdown, summarize
from toolgym.error import ConfigError


def test_builtin_recipes_parse_into_method_configs():
    names = builtin_recipes()
    assert {"demo", "fireact-arithmetic", "rest-em-arithmetic"} <= set(names)
    for name in names:
        recipe = load_recipe(name)
        for arm in recipe.arms:
            config = recipe.method_config(arm, recipe.seeds[-1])
            assert config.seed == recipe.seeds[-1]


def test_bad_recipes_name_the_problem():
    with pytest.raises(ConfigError, match="method"):
        load_recipe({"method": "fireactt", "config": {}})
    with pytest.raises(ConfigError, match="Did you mean: train_tasks"):
        load_recipe({"method": "fireact", "config": {"train_task": 3}})
    with pytest.raises(ConfigError, match="claims"):
        load_recipe({"method": "fireact", "claims": [{"arm": "fireact", "metric": "success_after", "op": "=="}]})
    with pytest.raises(ConfigError, match="built-in recipe"):
        load_recipe("fireact-arithmatic")
    r = load_recipe("fireact-arithmetic", ["config.train.max_steps=7", "seeds=[4]"])
    assert r.seeds == [4] and r.method_config("fireact", 4).train.max_steps == 7


def _fireact(before, after):
    return {
        "success_before": before,
        "success_after": after,
        "eval_tasks": 150,
        "held_out": {"held_out": True},
        "ledger": {"total": {"episodes": 10, "train_steps": 5}},
    }


def test_claims_hold_only_when_the_interval_clears_the_threshold():
    recipe = load_recipe(
        {
            "method": "fireact",
            "seeds": [0, 1, 2],
            "arms": {"fireact": {}, "shuffled": {"control": "shuffled"}},
            "claims": [
                {"arm": "fireact", "metric": "success_after", "op": ">=", "value": 0.95},
                {"arm": "shuffled", "metric": "success_after", "op": "<=", "value": 0.1},
                {"arm": "fireact", "metric": "success_after", "op": ">", "than_arm": "shuffled"},
            ],
        }
    )
    good = {"fireact": {s: _fireact(0.0, v) for s, v in zip((0, 1, 2), (1.0, 0.99, 1.0))},
            "shuffled": {s: _fireact(0.0, v) for s, v in zip((0, 1, 2), (0.0, 0.02, 0.01))}}  # fmt: skip
    summary = summarize(recipe, good)
    assert [c["held"] for c in summary["claims"]] == [True, True, True]
    assert summary["arms"]["fireact"]["success_after"]["n"] == 3
    # a mean above the threshold whose interval is not: the claim fails
    noisy = {**good, "fireact": {s: _fireact(0.0, v) for s, v in zip((0, 1, 2), (1.0, 0.8, 1.0))}}
    claims = summarize(recipe, noisy)["claims"]
    assert claims[0]["held"] is False and claims[2]["held"] is True
    assert claims[2]["paired_difference"]["mean"] == pytest.approx((1.0 - 0.0 + 0.8 - 0.02 + 1.0 - 0.01) / 3)
    text = report_markdown(summarize(recipe, noisy))
    assert "did NOT hold: fireact success_after >= 0.95" in text and "paired difference" in text
    # one seed has no interval: nothing is claimed from it, and the report says so
    single = {"fireact": {0: _fireact(0.0, 1.0)}, "shuffled": {0: _fireact(0.0, 0.0)}}
    one = summarize(recipe, single)
    assert [c["held"] for c in one["claims"]] == [False, False, False]
    assert all("one seed" in c["why"] for c in one["claims"])
    assert "1.000 (1 seed, no interval)" in report_markdown(one)


def test_rest_em_summaries_give_a_curve_per_arm(tmp_path):
    from toolgym.benchmarks.training import plot_summary

    recipe = load_recipe("rest-em-arithmetic", ["seeds=[0,1]"])

    def run(values):
        curve = [{"iteration": i, "data": 10, "test_success": v, "valid_success": v, "test_episodes": 150}
                 for i, v in enumerate(values)]  # fmt: skip
        return {"curve": curve, "base": None, "held_out": {"held_out": True}, "ledger": {"total": {}}}

    results = {
        "rest_em": {0: run([0.2, 0.5, 0.6]), 1: run([0.3, 0.6, 0.7])},
        "demos": {0: run([0.2, 0.2, 0.2]), 1: run([0.3, 0.3, 0.3])},
        "unfiltered": {0: run([0.2, 0.1, 0.1]), 1: run([0.3, 0.1, 0.0])},
    }
    summary = summarize(recipe, results)
    assert [c["iteration"] for c in summary["arms"]["rest_em"]["curve"]] == [0, 1, 2]
    assert summary["arms"]["rest_em"]["curve"][1]["test_success"]["mean"] == pytest.approx(0.55)
    assert "| rest_em |" in report_markdown(summary)
    assert plot_summary(summary, tmp_path / "curve.png").stat().st_size > 1000


def test_grpo_summaries_give_sampled_metrics_a_reward_curve_and_claims_across_metrics(tmp_path):
    from toolgym.benchmarks.training import plot_summary

    recipe = load_recipe("grpo-tool-choice", ["seeds=[1,2,3]"])

    def run(before, after, rewards):
        out = {"eval_tasks": 37, "grpo_steps": len(rewards), "held_out": {"held_out": True}, "ledger": {"total": {}}}
        for key, value in (("reward", after), ("success", after)):
            out |= {f"{key}_before": before, f"{key}_after": value}
            out |= {f"sampled_{key}_before": before, f"sampled_{key}_after": value}
        return out | {"curve": [{"step": i + 1, "reward": r} for i, r in enumerate(rewards)]}

    rising, flat = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8], [0.3, 0.3, 0.2, 0.3, 0.3, 0.3]
    results = {
        "grpo": {s: run(0.3, 0.8 + 0.01 * s, rising) for s in (1, 2, 3)},
        "shuffled": {s: run(0.3, 0.25 + 0.01 * s, flat) for s in (1, 2, 3)},
        "rft": {s: run(0.3, 0.82 + 0.01 * s, rising) for s in (1, 2, 3)},
    }
    summary = summarize(recipe, results)
    grpo = summary["arms"]["grpo"]
    assert grpo["sampled_reward_after"]["mean"] == pytest.approx(0.82) and grpo["sampled_reward_after"]["n"] == 3
    # the curve: each seed's trailing 5-step mean, then the mean over seeds
    assert [c["step"] for c in grpo["reward_curve"]] == [1, 2, 3, 4, 5, 6]
    assert grpo["reward_curve"][-1]["mean"] == pytest.approx(np.mean(rising[1:]))
    held = [c["held"] for c in summary["claims"]]
    # above the control (both metrics), above M0, rft above the control; not above rft (it is higher)
    assert held == [True, True, True, True, False]
    text = report_markdown(summary)
    assert "Sampled at the rollouts' temperature" in text and "Training reward" in text
    assert plot_summary(summary, tmp_path / "curve.png").stat().st_size > 0


def test_rerest_summaries_report_the_equal_compute_match():
    recipe = load_recipe("rerest-arithmetic", ["seeds=[0,1]"])
    assert recipe.method_config("rest_em_more", 0).budget_from == "rerest"  # an arm name, resolved per seed

    def run(values, match=None):
        curve = [{"iteration": i, "data": 10, "test_success": v, "valid_success": v, "test_episodes": 150}
                 for i, v in enumerate(values)]  # fmt: skip
        out = {"curve": curve, "base": None, "held_out": {"held_out": True}, "ledger": {"total": {}}}
        if match is not None:
            ratios = {"tokens": {"ratio": match}, "env_steps": {"ratio": 1.4}}
            out["budget_match"] = [{"iteration": 1, "match_on": "tokens", "matched": abs(match - 1) <= 0.05, **ratios}]
        return out

    results = {
        "rerest": {0: run([0.2, 0.6]), 1: run([0.3, 0.7])},
        "rest_em_more": {0: run([0.2, 0.4], 0.98), 1: run([0.3, 0.5], 1.07)},
    }
    summary = summarize(recipe, results)
    assert set(summary["arms"]["rest_em_more"]["budget_match"]) == {0, 1}
    text = report_markdown(summary)
    assert "## Equal-compute match" in text
    assert "| rest_em_more | 0 | 1 | tokens | 0.980 | 1.400 | yes |" in text
    assert "| rest_em_more | 1 | 1 | tokens | 1.070 | 1.400 | NO |" in text


def test_a_control_listed_before_the_arm_it_matches_is_a_clear_error(tmp_path):
    from toolgym.benchmarks.training import run_recipe

    recipe = load_recipe("rerest-arithmetic", ["seeds=[0]"])
    recipe.arms = {"rest_em_more": recipe.arms["rest_em_more"], "rerest": recipe.arms["rerest"]}
    with pytest.raises(ConfigError, match="list 'rerest' before 'rest_em_more'"):
        run_recipe(recipe, tmp_path / "run")


def test_an_arm_reusing_m0_listed_before_its_source_is_a_clear_error(tmp_path):
    from toolgym.benchmarks.training import run_recipe

    recipe = load_recipe("rerest-multihop", ["seeds=[0]"])
    assert recipe.method_config("oracle", 0).m0_from == "rerest"  # an arm name, resolved per seed
    recipe.arms = {"oracle": recipe.arms["oracle"], "rerest": recipe.arms["rerest"]}
    with pytest.raises(ConfigError, match=r"\(m0_from\).*list 'rerest' before 'oracle'"):
        run_recipe(recipe, tmp_path / "run")


@pytest.mark.slow
def test_toolgym_train_resumes_after_kill_9(tmp_path):
    """`toolgym train` killed with SIGKILL mid-training continues with --resume to the same final weights."""
    from toolgym.algorithms.models import ModelSpec, load_trained
    from toolgym.algorithms.sft import state_hash

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: tiny\nmethod: fireact\nseeds: [0]\nconfig:\n"
        "  env_kwargs: {difficulty: 1}\n  train_tasks: 40\n  eval_tasks: 5\n  thoughts: false\n"
        "  max_tokens: 16\n  max_steps: 4\n"
        "  model: {n_layer: 1, n_embd: 32, n_head: 2, n_positions: 256}\n"
        "  train: {max_steps: 400, batch_size: 4, save_steps: 20}\n"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "toolgym.benchmarks.cli", "train", str(recipe)]
    whole = subprocess.run([*cmd, "--out", str(tmp_path / "whole")], env=env, capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr[-2000:]
    proc = subprocess.Popen([*cmd, "--out", str(tmp_path / "killed")], env=env)
    sft = tmp_path / "killed" / "fireact" / "seed-0" / "sft"
    deadline = time.time() + 300
    # Killed at the first checkpoint: the 380 steps still to go take seconds, far longer than one poll.
    while time.time() < deadline and not any(sft.glob("checkpoint-*")):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (sft / "final").exists()
    again = subprocess.run(
        [*cmd, "--out", str(tmp_path / "killed"), "--resume"], env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr[-2000:]
    spec = ModelSpec(n_layer=1, n_embd=32, n_head=2, n_positions=256)
    a, _ = load_trained(spec, tmp_path / "whole" / "fireact" / "seed-0" / "sft" / "final")
    b, _ = load_trained(spec, sft / "final")
    assert state_hash(a) == state_hash(b)
    summary = json.loads((tmp_path / "killed" / "summary.json").read_text())
    assert summary["arms"]["fireact"]["held_out"] is True
    assert Path(tmp_path / "killed" / "learning_curve.png").is_file()
