"""GRPO through TRL on ToolChoice-Arithmetic: the shortened recipe, end to end on CPU."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("trl")


def _config(control, steps):
    from toolgym.algorithms.fireact import TrainSettings
    from toolgym.algorithms.grpo import GRPORunConfig
    from toolgym.algorithms.models import ModelSpec

    return GRPORunConfig(
        env_kwargs={"difficulty": 1},
        demo_tasks=40,
        train_tasks=40,
        eval_tasks=20,
        model=ModelSpec(arch="llama", n_layer=2, n_embd=64, n_positions=512, init_seed=0),
        train=TrainSettings(max_steps=60, batch_size=16, learning_rate=2e-3, save_steps=0, max_length=256),
        grpo={"steps": steps, "tasks_per_step": 4, "generations": 4, "learning_rate": 1e-4, "max_new_tokens": 16},
        control=control,
        seed=0,
    )


@pytest.mark.slow
def test_grpo_and_its_shuffled_control_run_end_to_end(tmp_path):
    """Both arms: same warm start, same step count; TRL's reward is the env's return, costs included."""
    import torch

    from toolgym.algorithms.grpo import run_grpo

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    torch.set_num_threads(1)
    results = {
        arm: run_grpo(_config(control, 6), tmp_path / arm)
        for arm, control in (("grpo", None), ("shuffled", "shuffled"))
    }
    g, s = results["grpo"], results["shuffled"]
    assert g["grpo_steps"] == s["grpo_steps"] == 6 and len(g["curve"]) == len(s["curve"]) == 6
    assert g["reward_before"] == s["reward_before"] and g["success_before"] == s["success_before"]  # same M0
    assert g["held_out"]["held_out"] and s["held_out"]["held_out"]
    for res in (g, s):
        logged = [r["reward"] for r in res["trl_log"] if "reward" in r]
        # what TRL optimised is the env's return (a permutation of it in the control: the same batch mean)
        assert logged == pytest.approx([c["reward"] for c in res["curve"]], abs=1e-5)
        assert all(-1.0 <= c["reward"] <= 1.0 for c in res["curve"])
        assert res["ledger"]["phases"]["grpo"]["episodes"] >= 6 * 16 and res["eval_after"]["episodes"] > 0
    # sampled steps whose text the policy renders differently are counted (the ids trained stay the model's)
    assert all(isinstance(c["drift_steps"], int) and c["drift_steps"] >= 0 for c in g["curve"])


def test_grpo_config_rejects_unknown_settings():
    from toolgym.algorithms.grpo import GRPORunConfig
    from toolgym.error import ConfigError

    with pytest.raises(ConfigError, match="expected keys among"):
        GRPORunConfig(grpo={"stepz": 3})
    with pytest.raises(ConfigError, match="control"):
        GRPORunConfig(control="random")


def test_grpo_recipe_loads():
    from toolgym.benchmarks.training import builtin_recipes, load_recipe

    assert "grpo-arithmetic" in builtin_recipes()
    recipe = load_recipe("grpo-arithmetic")
    assert set(recipe.arms) == {"grpo", "shuffled"} and len(recipe.seeds) >= 3
    cfg = recipe.method_config("shuffled", 1)
    assert cfg.control == "shuffled" and cfg.seed == 1 and cfg.model.init_seed == 1
