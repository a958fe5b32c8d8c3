"""Statistics, leaderboard, HTML report, compare and experiment tracking."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from bench_helpers import ARITH, mini_suite
from scipy import stats as sps

from toolgym.benchmarks.compare import compare_records, compare_runs
from toolgym.benchmarks.leaderboard import format_estimate, leaderboard
from toolgym.benchmarks.report import render_report, write_report
from toolgym.benchmarks.runner import run_suite
from toolgym.benchmarks.stats import Estimate, estimate, summarize, summarize_policies
from toolgym.benchmarks.store import read_meta, read_records


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "run"
    run_suite(mini_suite(seeds=[0, 1, 2], episodes=4), out, workers=1)
    return out


def test_t_interval_over_seed_means():
    per_seed = {0: [1, 1, 0, 1], 1: [0, 1, 0, 0], 2: [1, 1, 1, 0]}
    e = estimate(per_seed)
    means = np.array([0.75, 0.25, 0.75])
    half = sps.t.ppf(0.975, 2) * means.std(ddof=1) / np.sqrt(3)
    assert e.method == "t" and e.n == 3
    assert e.mean == pytest.approx(means.mean()) and e.hi - e.mean == pytest.approx(half)
    clipped = estimate(per_seed, bounds=(0.0, 1.0))
    assert (clipped.lo, clipped.hi) == (0.0, 1.0)  # the t interval (-0.13, 1.30) clipped to [0, 1]
    assert e.lo == pytest.approx(means.mean() - half)


def test_bootstrap_with_one_seed_is_reproducible():
    a = estimate({0: [1, 0, 1, 1, 0, 1, 1, 1]})
    b = estimate({0: [1, 0, 1, 1, 0, 1, 1, 1]})
    assert a == b and a.method == "bootstrap" and a.lo < a.mean < a.hi
    assert estimate({0: [1.0]}).method == "none" and estimate({}).method == "none"


def test_summaries_rank_policies_and_count_errors():
    records = [{"env": "e1", "policy": "good", "seed": s, "success": True, "score": 1.0} for s in range(3)] + [
        {"env": "e1", "policy": "bad", "seed": s, "success": True, "score": 1.0, "error": "boom"} for s in range(3)
    ]
    rows = summarize(records)
    assert [r.policy for r in rows] == ["good", "bad"]
    assert rows[1].errors == 3 and rows[1].metrics["success"].mean == 0.0  # an error is a failure
    overall = summarize_policies(
        records + [{"env": "e2", "policy": "good", "seed": s, "success": False} for s in range(3)]
    )
    assert overall[0].policy == "good" and overall[0].metrics["success"].mean == pytest.approx(0.5)  # macro average


def test_format_estimate():
    assert format_estimate("success", Estimate(0.5, 0.25, 0.75, 3, "t")) == "50% [25-75]"
    assert format_estimate("tokens_total", Estimate(2500, 2000, 3000, 3, "t")) == "2.5k ±500"
    assert format_estimate("wall_s", Estimate(float("nan"), float("nan"), float("nan"), 0, "none")) == "-"


def test_leaderboard_text(run_dir):
    text = leaderboard(run_dir)
    assert "mini - 36/36 episodes, status complete" in text
    assert "overall (macro-average over envs)" in text and "per environment" in text
    for policy in ("expert", "heuristic", "random"):
        assert policy in text
    for column in ("success", "score", "tool cost", "steps", "tokens", "time (s)", "errors"):
        assert column in text
    assert re.search(r"random\s+12\s+0%", text)
    assert "Student t over seeds" in text


def test_html_report_is_self_contained_with_three_figures(run_dir):
    path = write_report(run_dir)
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert not re.search(r"""(src|href)=["'](https?:|//)""", html)  # nothing fetched from elsewhere
    assert "<script" not in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 3
    from PIL import Image

    for data in images:
        img = Image.open(io.BytesIO(base64.b64decode(data)))
        assert img.format == "PNG" and img.width > 300 and img.height > 200
    for text in ("Leaderboard", "Per environment", "ToolChoice-Arithmetic-v0", "heuristic", "status-complete"):
        assert text in html


def test_report_escapes_and_lists_errors():
    meta = {"suite": "<x>", "status": "complete", "plan": {"skipped": [["toolgym/A-v0", "data <missing>"]]}}
    records = [
        {"env": "e", "policy": "p", "seed": 0, "success": False, "steps": 1, "error": "Boom: <b>bad</b>"},
        {"env": "e", "policy": "p", "seed": 1, "success": True, "steps": 2, "error": None},
    ]
    html = render_report(meta, records)
    assert "<x>" not in html and "&lt;x&gt;" in html
    assert "Errors (1 episodes)" in html and "Boom: &lt;b&gt;bad&lt;/b&gt;" in html
    assert "data &lt;missing&gt;" in html
    assert "No episodes recorded yet" in render_report(meta, [])


def test_compare_identical_and_different_runs(tmp_path, run_dir):
    same = compare_runs(run_dir, run_dir)
    assert same.same_suite and not same.only_a and not same.only_b
    for deltas in same.cells.values():
        assert all(d.diff.mean == 0 and not d.significant for d in deltas.values())
    other = tmp_path / "other"
    run_suite(mini_suite(seeds=[0, 1, 2], episodes=4, policies=[{"name": "expert"}, {"name": "scripted",
        "config": {"actions": ["finish[0]"]}}]), other, workers=1)  # fmt: skip
    c = compare_runs(run_dir, other)
    assert not c.same_suite
    assert c.only_a == [
        (ARITH, "heuristic"),
        (ARITH, "random"),
    ]
    assert c.only_b == [(ARITH, "scripted")]
    d = c.cells[(ARITH, "expert")]["success"]
    assert d.a == d.b == 1.0


def test_compare_detects_a_real_difference():
    a = [{"env": "e", "policy": "p", "seed": s, "success": i < 2} for s in range(4) for i in range(10)]
    b = [{"env": "e", "policy": "p", "seed": s, "success": i < 8} for s in range(4) for i in range(10)]
    d = compare_records(a, b).cells[("e", "p")]["success"]
    assert d.diff.mean == pytest.approx(0.6) and d.significant and d.diff.method == "t"


def test_tensorboard_logging(run_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from toolgym.benchmarks.tracking import log_tensorboard

    folder = log_tensorboard(run_dir, tmp_path / "tb")
    acc = EventAccumulator(str(folder))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    tag = "success/ToolChoice-Arithmetic-v0/expert"
    assert tag in tags and "mean/success/ToolChoice-Arithmetic-v0/random" in tags
    assert [e.step for e in acc.Scalars(tag)] == [0, 1, 2] and all(e.value == 1.0 for e in acc.Scalars(tag))


def test_mlflow_logging_to_a_local_file_store(run_dir, tmp_path):
    from mlflow.tracking import MlflowClient

    from toolgym.benchmarks.tracking import log_mlflow

    uri = (tmp_path / "mlruns").as_uri()
    parent = log_mlflow(run_dir, uri, experiment="bench-test")
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("bench-test")
    runs = client.search_runs([exp.experiment_id])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent]
    assert len(children) == 3
    expert = next(r for r in children if r.data.params["policy"] == "expert")
    assert expert.data.metrics["success"] == 1.0 and expert.data.params["env"] == ARITH
    history = client.get_metric_history(expert.info.run_id, "success.per_seed")
    assert sorted(m.step for m in history) == [0, 1, 2]
    top = client.get_run(parent)
    assert top.data.params["suite"] == "mini" and top.data.metrics["success.expert"] == 1.0
    assert read_meta(run_dir)["suite"] == "mini" and len(read_records(run_dir)) == 36
