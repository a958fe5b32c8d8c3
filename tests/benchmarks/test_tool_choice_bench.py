"""The tool-choice recipe: a small sweep writes its table, plot and results with splits, budgets and claims."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from toolgym.benchmarks.cli import app
from toolgym.benchmarks.tool_choice import ArithmeticBenchConfig, MultiHopBenchConfig, run_arithmetic, run_multihop


def test_arithmetic_recipe_writes_results(tmp_path):
    config = ArithmeticBenchConfig(
        lambdas=(2.0,), seeds=(0, 1), budget=600, train_tasks=80, test_tasks=60, learners=("q_learning",)
    )
    result = run_arithmetic(config, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"results.json", "table.md", "pareto.png"}
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["overlap"]["disjoint"] and not set(saved["train_tasks"]) & set(saved["test_tasks"])
    q = [r for r in result["runs"] if r["policy"] == "q_learning"]
    assert len(q) == 2 and all(r["budget_decisions"] >= 600 for r in q)
    policies = {r["policy"] for r in result["rows"]}
    assert policies == {"q_learning", "optimal_rule", "always_call", "never_call", "random"}
    row = next(r for r in result["rows"] if r["policy"] == "q_learning")
    assert row["return"]["n"] == 2 and row["return"]["lo"] <= row["return"]["mean"] <= row["return"]["hi"]
    assert any(c["claim"].startswith("q_learning within") for c in result["claims"])
    assert any(c["claim"] == "q_learning above always_call at λ=2" for c in result["claims"])
    assert all(isinstance(c["holds"], bool) for c in saved["claims"])  # not the string "False" (truthy)
    assert "| 2 | q_learning (learned) |" in (tmp_path / "table.md").read_text()


@pytest.mark.slow
def test_multihop_recipe_writes_results(tmp_path):
    config = MultiHopBenchConfig(
        lambdas=(1.0,), seeds=(0,), budget=600, train_tasks=30, test_tasks=20, learners=("maskable_ppo", "bc", "bc_rl")
    )
    result = run_multihop(config, tmp_path)
    assert result["overlap"]["disjoint"] and (tmp_path / "pareto.png").is_file()
    assert result["best_fixed"]["1"] in {"never_call", "flat_react", "always_research", "random"}


def test_cli_rejects_an_unknown_experiment():
    res = CliRunner().invoke(app, ["tool-choice", "nope"])
    assert res.exit_code == 2 and "arithmetic" in res.output
