"""The `bench`, `report` and `compare` commands (the `envs` and `play` ones are tested in tests/test_cli.py)."""

from __future__ import annotations

import json

from bench_helpers import mini_suite, write_suite
from typer.testing import CliRunner

from toolgym.benchmarks.cli import app
from toolgym.benchmarks.store import read_meta, read_records

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def test_bench_smoke_runs_and_prints_leaderboard_and_report(tmp_path):
    out = tmp_path / "smoke"
    result = runner.invoke(app, ["bench", "smoke", "--out", str(out), "--workers", "1"], env=WIDE)
    assert result.exit_code == 0, result.output
    meta = read_meta(out)
    assert meta["status"] == "complete" and meta["suite"] == "smoke"
    records = read_records(out)
    assert len(records) == meta["episodes_planned"] > 0 and not any(r["error"] for r in records)
    assert all(r["success"] for r in records if r["policy"] == "expert")
    assert "complete:" in result.output and "overall (macro-average over envs)" in result.output
    assert f"report: {out / 'report.html'}" in result.output.replace("\n", "")
    assert (out / "report.html").is_file() and (out / "results.parquet").is_file()


def test_bench_list_and_dry_run():
    listed = runner.invoke(app, ["bench", "--list"], env=WIDE)
    assert listed.exit_code == 0 and "smoke" in listed.output and "quick" in listed.output and "paper" in listed.output
    plan = runner.invoke(app, ["bench", "quick", "--dry-run"], env=WIDE)
    assert plan.exit_code == 0, plan.output
    assert "plan of suite quick" in plan.output and "react-tiny" in plan.output and "heuristic" in plan.output


def test_bench_bad_inputs_exit_2_with_clear_messages(tmp_path):
    unknown = runner.invoke(app, ["bench", "quik"])
    assert unknown.exit_code == 2 and "Did you mean: quick?" in unknown.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nenvs:\n  - id: toolgym/ToolChoice-Arithmetic-v0\n   policies: [\n")
    malformed = runner.invoke(app, ["bench", str(bad)])
    assert malformed.exit_code == 2 and f"{bad} line 4" in malformed.output.replace("\n", "")
    assert "expected valid YAML" in malformed.output and "Traceback" not in malformed.output


def test_bench_into_another_suites_folder_is_refused(tmp_path):
    a = write_suite(tmp_path / "a.yaml", mini_suite(name="a", seeds=[0], episodes=1))
    b = write_suite(tmp_path / "b.yaml", mini_suite(name="b", seeds=[0], episodes=1))
    out = str(tmp_path / "run")
    assert runner.invoke(app, ["bench", str(a), "--out", out, "-w", "1", "--no-html"]).exit_code == 0
    before = (tmp_path / "run" / "results.jsonl").read_bytes()
    other = runner.invoke(app, ["bench", str(b), "--out", out, "-w", "1", "--resume"], env=WIDE)
    assert other.exit_code == 2
    assert "holds a run of suite 'a'" in other.output and "you asked for suite 'b'" in other.output
    again = runner.invoke(app, ["bench", str(a), "--out", out, "-w", "1"], env=WIDE)
    assert again.exit_code == 2 and "Pass --resume to finish it" in again.output
    assert (tmp_path / "run" / "results.jsonl").read_bytes() == before
    resumed = runner.invoke(app, ["bench", str(a), "--out", out, "-w", "1", "--resume", "--no-html"], env=WIDE)
    assert resumed.exit_code == 0 and "0 run now, 3 resumed" in resumed.output


def test_report_and_compare_commands(tmp_path):
    a = write_suite(tmp_path / "a.yaml", mini_suite(name="a"))
    run_a, run_b = str(tmp_path / "ra"), str(tmp_path / "rb")
    assert runner.invoke(app, ["bench", str(a), "--out", run_a, "-w", "1", "--no-html"]).exit_code == 0
    assert runner.invoke(app, ["bench", str(a), "--out", run_b, "-w", "1", "--no-html"]).exit_code == 0
    report = runner.invoke(app, ["report", run_a, "--parquet", "--tensorboard"], env=WIDE)
    assert report.exit_code == 0, report.output
    assert "per environment" in report.output and "report.html" in report.output and "results.parquet" in report.output
    assert (tmp_path / "ra" / "report.html").is_file() and any((tmp_path / "ra" / "tensorboard").iterdir())
    compare = runner.invoke(app, ["compare", run_a, run_b], env=WIDE)
    assert compare.exit_code == 0, compare.output
    assert "Δ success" in compare.output and "expert" in compare.output and "different suite" not in compare.output
    missing = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "expected a toolgym run folder" in missing.output


def test_incomplete_run_exits_3_and_says_how_to_resume(tmp_path):
    suite = write_suite(tmp_path / "s.yaml", mini_suite(time_budget_s=1e-9))
    result = runner.invoke(app, ["bench", str(suite), "--out", str(tmp_path / "r"), "-w", "1", "--no-html"], env=WIDE)
    assert result.exit_code == 3 and "--resume" in result.output
    assert json.loads((tmp_path / "r" / "run.json").read_text())["status"] == "stopped"
