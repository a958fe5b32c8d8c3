"""`toolgym bench` killed with SIGKILL at several moments, then resumed: exactly the uninterrupted run's records."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from bench_helpers import cli_command, cli_env, comparable, mini_suite, read_lines, write_suite

from toolgym.benchmarks.store import RESULTS, TRAJECTORIES, read_records


def _suite(tmp_path: Path, episodes: int) -> Path:
    return write_suite(tmp_path / "kill.yaml", mini_suite(name="kill", seeds=[0, 1, 2], episodes=episodes))


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _start(suite: Path, out: Path, workers: int, resume: bool) -> subprocess.Popen:
    args = ["bench", str(suite), "--out", str(out), "-w", str(workers), "--no-progress", "--no-html"]
    return subprocess.Popen(
        cli_command(*args, *(["--resume"] if resume else [])),
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _kill_when(proc: subprocess.Popen, out: Path, *, records: int | None = None, after_s: float | None = None) -> list:
    """SIGKILL ``proc`` once ``records`` results are written (or ``after_s`` seconds passed); return its children."""
    start = time.monotonic()
    children: list[psutil.Process] = []
    while proc.poll() is None:
        try:
            children = psutil.Process(proc.pid).children(recursive=True) or children
        except psutil.NoSuchProcess:
            break
        if records is not None and _lines(out / RESULTS) >= records:
            break
        if after_s is not None and time.monotonic() - start >= after_s:
            break
        time.sleep(0.002)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return children


def _finish(suite: Path, out: Path, workers: int) -> None:
    proc = _start(suite, out, workers, resume=True)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()


def _check(out: Path, reference: Path) -> None:
    records = read_records(out)
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)), "duplicate records"
    assert comparable(records) == comparable(read_records(reference))
    trajectory_keys = [t["key"] for t in read_lines(out / TRAJECTORIES)]
    assert sorted(trajectory_keys) == sorted(keys)


@pytest.fixture
def reference(tmp_path):
    def _make(suite: Path) -> Path:
        out = tmp_path / "reference"
        proc = _start(suite, out, 1, resume=False)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
        return out

    return _make


def test_kill_9_and_resume_in_process(tmp_path, reference):
    suite = _suite(tmp_path, episodes=20)  # 180 episodes
    ref = reference(suite)
    out = tmp_path / "run"
    was_killed = 0
    for target in (1, 90):
        proc = _start(suite, out, 1, resume=target > 1)
        _kill_when(proc, out, records=target)
        was_killed += proc.returncode == -signal.SIGKILL
        assert 0 < _lines(out / RESULTS) < 180
    assert was_killed == 2
    _finish(suite, out, 1)
    _check(out, ref)


@pytest.mark.slow
def test_kill_9_at_many_moments_then_resume(tmp_path, reference):
    """Kill at record counts and at arbitrary times (during start-up, writes, fsyncs), five times in a row."""
    suite = _suite(tmp_path, episodes=40)  # 360 episodes
    ref = reference(suite)
    out = tmp_path / "run"
    kills = [{"after_s": 0.3}, {"records": 1}, {"after_s": 1.2}, {"records": 200}, {"records": 330}]
    killed = 0
    for i, when in enumerate(kills):
        proc = _start(suite, out, 1, resume=i > 0)
        _kill_when(proc, out, **when)
        killed += proc.returncode == -signal.SIGKILL
    assert killed >= 4  # a time-based kill may come after the run finished on a fast machine
    _finish(suite, out, 1)
    _check(out, ref)


@pytest.mark.slow
def test_kill_9_with_a_process_pool(tmp_path, reference):
    """The runner of a 2-worker pool is killed: its workers exit on their own, and resuming completes the run."""
    suite = _suite(tmp_path, episodes=40)
    ref = reference(suite)
    out = tmp_path / "run"
    for target in (30, 200):
        proc = _start(suite, out, 2, resume=target > 30)
        children = _kill_when(proc, out, records=target)
        assert proc.returncode == -signal.SIGKILL
        assert children, "the pool's worker processes were not seen"
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"orphaned workers still running: {alive}"
    _finish(suite, out, 2)
    _check(out, ref)
