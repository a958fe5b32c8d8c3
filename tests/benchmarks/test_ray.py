"""`--backend ray` on a local Ray instance gives the same records as the local backend."""

from __future__ import annotations

import pytest
from bench_helpers import comparable, mini_suite

from toolgym.benchmarks.runner import run_suite
from toolgym.benchmarks.store import read_records


@pytest.mark.slow
def test_ray_backend_matches_local(tmp_path):
    ray = pytest.importorskip("ray")
    suite = mini_suite(chunk_size=2)
    local = run_suite(suite, tmp_path / "local", workers=2, backend="local")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = run_suite(suite, tmp_path / "ray", workers=2, backend="ray")
    finally:
        ray.shutdown()
    assert local.status == remote.status == "complete"
    assert comparable(read_records(remote.out)) == comparable(read_records(local.out))
    assert read_records(remote.out)[0]["finished"]


@pytest.mark.slow
def test_ray_backend_starts_and_stops_its_own_instance(tmp_path):
    ray = pytest.importorskip("ray")
    result = run_suite(mini_suite(seeds=[0], episodes=2), tmp_path / "run", workers=2, backend="ray")
    assert result.status == "complete" and result.recorded == 6
    assert not ray.is_initialized()
