"""The sweep runner: records, backends, resume, budgets, errors, exports."""

from __future__ import annotations

import json

import pytest
from bench_helpers import ARITH, comparable, mini_suite, read_lines

from toolgym.benchmarks.export import export_parquet
from toolgym.benchmarks.runner import run_suite
from toolgym.benchmarks.store import RESULTS, TRAJECTORIES, read_meta, read_records

#: What the issue asks every record to carry.
REQUIRED = {
    "env_id": str,
    "task_id": str,
    "policy": str,
    "config_hash": str,
    "seed": int,
    "success": bool,
    "score": float,
    "reward": float,
    "cost_total": float,
    "cost_breakdown": dict,
    "steps": int,
    "tokens": dict,
    "wall_s": float,
    "git_commit": (str, type(None)),
    "versions": dict,
}


def test_records_carry_every_field_and_trajectories_match(tmp_path):
    r = run_suite(mini_suite(), tmp_path / "run", workers=1)
    assert (r.status, r.recorded, r.ran) == ("complete", 18, 18)
    records = read_records(r.out)
    for rec in records:
        for name, typ in REQUIRED.items():
            assert isinstance(rec[name], typ), (name, rec[name])
        assert "error" in rec and rec["error"] is None
        assert {"gymnasium", "numpy", "python", "toolgym"} <= set(rec["versions"])
    expert = [x for x in records if x["policy"] == "expert"]
    assert all(x["success"] and x["score"] == 1.0 for x in expert)
    heuristic = [x for x in records if x["policy"] == "heuristic"]
    assert all(x["cost_breakdown"] == {"calc": pytest.approx(0.1)} for x in heuristic)  # one calculator call each
    trajectories = {t["key"]: t for t in read_lines(r.out / TRAJECTORIES)}
    assert set(trajectories) == {x["key"] for x in records}
    for rec in records:
        traj = trajectories[rec["key"]]["trajectory"]
        assert traj["task_id"] == rec["task_id"] and len(traj["steps"]) == rec["steps"]
    meta = read_meta(r.out)
    assert meta["status"] == "complete" and meta["episodes_planned"] == 18 and meta["suite"] == "mini"
    assert (r.out / "suite.yaml").read_text().startswith("name: mini")


def test_same_records_in_process_and_in_a_process_pool(tmp_path):
    a = run_suite(mini_suite(), tmp_path / "a", workers=1)
    b = run_suite(mini_suite(chunk_size=2), tmp_path / "b", workers=2)
    assert a.status == b.status == "complete"
    ra = comparable(read_records(a.out))
    rb = comparable(read_records(b.out))
    for r in ra + rb:  # the suite hash differs (chunk_size is part of the definition)
        r.pop("suite_hash")
    assert ra == rb


def test_stop_and_resume_yield_the_same_records(tmp_path):
    full = run_suite(mini_suite(), tmp_path / "full", workers=1)
    seen = []
    partial = run_suite(
        mini_suite(), tmp_path / "part", workers=1, should_stop=lambda: len(seen) >= 1, observers=[_Count(seen)]
    )
    assert partial.status == "stopped" and 0 < partial.recorded < 18
    assert read_meta(partial.out)["status"] == "stopped"
    done = run_suite(mini_suite(), tmp_path / "part", workers=1, resume=True)
    assert (done.status, done.resumed_from, done.ran) == ("complete", partial.recorded, 18 - partial.recorded)
    assert comparable(read_records(done.out)) == comparable(read_records(full.out))
    again = run_suite(mini_suite(), tmp_path / "part", workers=1, resume=True)  # nothing left: a no-op
    assert (again.ran, again.recorded) == (0, 18)


def test_time_budget_stops_the_run_each_call(tmp_path):
    suite = mini_suite(time_budget_s=1e-9)
    first = run_suite(suite, tmp_path / "run", workers=1)
    assert first.status == "stopped" and first.recorded == 0
    meta = read_meta(first.out)
    assert meta["stopped_by"] == "time_budget" and meta["plan"]["time_budget_s"] == 1e-9
    again = run_suite(suite, tmp_path / "run", workers=1, resume=True)  # the budget applies to each call
    assert again.status == "stopped" and again.recorded == 0


def test_env_that_cannot_be_built_is_recorded_as_errors_and_retried(tmp_path):
    suite = mini_suite(envs=[{"id": ARITH, "kwargs": {"difficulty": 9}}], policies=[{"name": "expert"}])
    r = run_suite(suite, tmp_path / "run", workers=1)
    assert r.status == "complete" and r.recorded == 6
    records = read_records(r.out)
    assert all(x["error"].startswith("ConfigError: difficulty: expected levels") for x in records)
    assert all(x["success"] is False and x["steps"] == 0 for x in records)
    finished = {x["key"]: x["finished"] for x in records}
    again = run_suite(suite, tmp_path / "run", workers=1, resume=True, retry_errors=True)
    assert (again.resumed_from, again.ran) == (0, 6)
    records = read_records(r.out)
    assert len(records) == 6 and len({x["key"] for x in records}) == 6
    assert len(read_lines(r.out / TRAJECTORIES)) == 6
    assert set(finished) == {x["key"] for x in records}


def test_parquet_export_round_trips(tmp_path):
    import pyarrow.parquet as pq

    r = run_suite(mini_suite(), tmp_path / "run", workers=1)
    table = pq.read_table(r.out / "results.parquet")  # written at completion
    assert table.num_rows == 18
    rows = table.to_pylist()
    records = {x["key"]: x for x in read_records(r.out)}
    for row in rows:
        rec = records[row["key"]]
        assert row["success"] == rec["success"] and row["steps"] == rec["steps"]
        assert dict(row["cost_breakdown"]) == rec["cost_breakdown"]
        assert json.loads(row["versions"]) == rec["versions"]
    path = export_parquet(r.out, tmp_path / "copy.parquet")
    assert pq.read_table(path).num_rows == 18


@pytest.mark.slow
def test_tiny_llm_policy_records_tokens(tmp_path):
    suite = mini_suite(
        seeds=[0],
        episodes=2,
        num_envs=2,
        policies=[{"name": "react", "label": "react-tiny", "config": {"llm": "tiny", "max_tokens": 8}, "max_steps": 2}],
    )
    r = run_suite(suite, tmp_path / "run", workers=1)
    records = read_records(r.out)
    assert r.status == "complete" and len(records) == 2
    for rec in records:
        assert rec["error"] is None and rec["steps"] == 2 and rec["policy"] == "react-tiny"
        assert rec["tokens"]["prompt"] > 0 and rec["tokens"]["completion"] > 0
        assert rec["tokens_total"] == rec["tokens"]["prompt"] + rec["tokens"]["completion"]
        assert rec["policy_config"] == {"llm": "tiny", "max_tokens": 8, "seed": 0}


class _Count:
    def __init__(self, seen):
        self.seen = seen

    def start(self, plan, done):
        pass

    def record(self, record):
        self.seen.append(record["key"])

    def finish(self, status):
        pass


def test_results_file_is_append_only_json_lines(tmp_path):
    r = run_suite(mini_suite(), tmp_path / "run", workers=1)
    text = (r.out / RESULTS).read_text()
    assert text.endswith("\n") and all(json.loads(line) for line in text.splitlines())
