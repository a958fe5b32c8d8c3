"""The results store: atomic appends, torn lines, run-folder ownership, disk-full and permission errors."""

from __future__ import annotations

import errno
import json
import os
import shutil

import pytest
from bench_helpers import comparable, mini_suite, read_lines, run_cli

from toolgym.benchmarks import store as store_mod
from toolgym.benchmarks.runner import run_suite
from toolgym.benchmarks.store import (
    RESULTS,
    TRAJECTORIES,
    RunDirError,
    StoreError,
    append_line,
    read_jsonl_tolerant,
    read_records,
)


def test_append_rolls_back_a_partial_write(tmp_path, monkeypatch):
    path = tmp_path / "r.jsonl"
    append_line(path, json.dumps({"i": 0}))
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_mod.os, "write", half_then_full)
    with pytest.raises(StoreError, match=r"appending to .*r\.jsonl failed: the disk is full \[errno 28\]\. Free some"):
        append_line(path, json.dumps({"i": 1, "pad": "x" * 100}))
    monkeypatch.undo()
    assert path.read_text() == '{"i": 0}\n'  # the half line was truncated away


def test_torn_last_line_is_dropped_and_repaired(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": 3, "b"')
    rows, dropped = read_jsonl_tolerant(path)
    assert rows == [{"a": 1}, {"a": 2}] and dropped == len('{"a": 3, "b"')
    assert path.read_text().endswith('"b"')  # reading alone does not change the file
    read_jsonl_tolerant(path, repair=True)
    assert path.read_text() == '{"a": 1}\n{"a": 2}\n'


def test_corrupt_middle_line_is_an_error(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"a": 1}\nnot json\n{"a": 2}\n')
    with pytest.raises(StoreError, match=r"line 2 is not valid JSON .* changed by something other than toolgym"):
        read_jsonl_tolerant(path)


def test_resume_drops_torn_lines_and_orphan_trajectories(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    run_suite(mini_suite(), full, workers=1)
    run_suite(mini_suite(), part, workers=1)
    results = (part / RESULTS).read_text().splitlines(keepends=True)
    trajectories = (part / TRAJECTORIES).read_text().splitlines(keepends=True)
    # as if killed while writing: 5 results, a 6th trajectory (its result never written) and a torn 7th
    (part / RESULTS).write_text("".join(results[:5]) + results[5][:40])
    (part / TRAJECTORIES).write_text("".join(trajectories[:6]) + trajectories[6][:25])
    with pytest.raises(RunDirError, match="already holds a run of suite 'mini' .*Pass --resume"):
        run_suite(mini_suite(), part, workers=1)
    r = run_suite(mini_suite(), part, workers=1, resume=True)
    assert (r.resumed_from, r.ran, r.status) == (5, 13, "complete")
    assert comparable(read_records(part)) == comparable(read_records(full))
    keys = [t["key"] for t in read_lines(part / TRAJECTORIES)]
    assert sorted(keys) == sorted(r["key"] for r in read_records(part)) and len(set(keys)) == len(keys)


def test_resume_after_a_power_loss_keeps_only_complete_pairs(tmp_path):
    """The two files lost different tails (no fsync reached the disk): results without trajectories rerun."""
    full, part = tmp_path / "full", tmp_path / "part"
    run_suite(mini_suite(), full, workers=1)
    run_suite(mini_suite(), part, workers=1)
    results = (part / RESULTS).read_text().splitlines(keepends=True)
    trajectories = (part / TRAJECTORIES).read_text().splitlines(keepends=True)
    (part / RESULTS).write_text("".join(results[:12]))
    (part / TRAJECTORIES).write_text("".join(trajectories[:9]))
    r = run_suite(mini_suite(), part, workers=1, resume=True)
    assert (r.resumed_from, r.ran) == (9, 9)
    assert comparable(read_records(part)) == comparable(read_records(full))


def test_folder_of_another_suite_is_refused(tmp_path):
    run_suite(mini_suite(), tmp_path / "run", workers=1)
    before = (tmp_path / "run" / RESULTS).read_bytes()
    for resume in (False, True):
        with pytest.raises(RunDirError, match=r"holds a run of suite 'mini' \(hash .*\); you asked for suite 'other'"):
            run_suite(mini_suite(name="other"), tmp_path / "run", workers=1, resume=resume)
    with pytest.raises(RunDirError, match="A run folder belongs to one suite"):
        run_suite(mini_suite(episodes=4), tmp_path / "run", workers=1, resume=True)  # same name, other definition
    assert (tmp_path / "run" / RESULTS).read_bytes() == before


def test_non_run_folder_and_concurrent_writer_are_refused(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="expected an empty or new folder .*notes.txt"):
        run_suite(mini_suite(), tmp_path / "busy", workers=1)
    from toolgym.benchmarks.plan import resolve
    from toolgym.benchmarks.suite import Suite

    suite = Suite.from_dict(mini_suite())
    plan = resolve(suite)
    kwargs = {"suite_text": suite.to_yaml(), "suite_dict": suite.to_dict(), "provenance": {}}
    with store_mod.ResultStore.open(tmp_path / "run", plan, **kwargs):
        with pytest.raises(RunDirError, match="another toolgym process is writing to this run folder"):
            store_mod.ResultStore.open(tmp_path / "run", plan, resume=True, **kwargs)


def test_disk_full_mid_run_keeps_the_file_valid_and_resume_completes(tmp_path, monkeypatch):
    full, run = tmp_path / "full", tmp_path / "run"
    run_suite(mini_suite(), full, workers=1)
    real_write = os.write
    calls = {"n": 0}

    def flaky(fd, data):
        calls["n"] += 1
        if calls["n"] == 15:  # the 8th episode's trajectory line: write part of it, then the disk is full
            real_write(fd, bytes(data[:10]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(store_mod.os, "write", flaky)
    with pytest.raises(StoreError, match="the disk is full"):
        run_suite(mini_suite(), run, workers=1)
    monkeypatch.undo()
    rows = read_lines(run / RESULTS)  # every line parses: nothing half-written
    assert len(rows) == 7 and read_jsonl_tolerant(run / TRAJECTORIES)[1] == 0
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    run_suite(mini_suite(), run, workers=1, resume=True)
    assert comparable(read_records(run)) == comparable(read_records(full))


def test_disk_full_message_from_the_cli(tmp_path, monkeypatch, suite_file):
    from typer.testing import CliRunner

    from toolgym.benchmarks.cli import app

    def no_space(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_mod.os, "write", no_space)
    result = CliRunner().invoke(app, ["bench", str(suite_file()), "--out", str(tmp_path / "o"), "-w", "1"])
    assert result.exit_code == 1, result.output
    assert "error:" in result.output and "the disk is full" in result.output and "--resume" in result.output
    assert not (tmp_path / "o" / RESULTS).exists()  # the trajectory comes first: its append failed, rolled back
    assert (tmp_path / "o" / TRAJECTORIES).read_bytes() == b""


def _as_unprivileged() -> tuple[str, ...]:
    """A command prefix under which permission bits apply (root ignores them unless it drops the capability)."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop CAP_DAC_OVERRIDE to test permission errors")
    caps = "-dac_override,-dac_read_search,-fowner"
    return ("setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}")


def test_permission_errors_for_real(tmp_path, suite_file):
    prefix = _as_unprivileged()
    suite = str(suite_file())
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        out = run_cli("bench", suite, "--out", str(locked / "run"), "-w", "1", "--no-progress", prefix=prefix)
        assert out.returncode == 1, out.stdout + out.stderr
        assert "creating the output folder" in out.stderr and "permission denied" in out.stderr
        assert "Choose an output folder you can write to" in out.stderr and "Traceback" not in out.stderr
    finally:
        locked.chmod(0o755)
    # A finished run made read-only: resuming it fails clearly and leaves the results untouched.
    run = tmp_path / "run"
    done = run_cli("bench", suite, "--out", str(run), "-w", "1", "--no-progress", "--no-html", prefix=prefix)
    assert done.returncode == 0, done.stderr
    lines = (run / RESULTS).read_text().splitlines()
    (run / RESULTS).write_text("\n".join(lines[:4]) + "\n")
    before = (run / RESULTS).read_bytes()
    for p in [run, *run.iterdir()]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        out = run_cli("bench", suite, "--out", str(run), "--resume", "-w", "1", "--no-progress", prefix=prefix)
        assert out.returncode == 1, out.stdout + out.stderr
        assert "permission denied" in out.stderr and "Traceback" not in out.stderr
    finally:
        for p in [run, *run.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)
    assert (run / RESULTS).read_bytes() == before
