"""The sandbox's public API: results, sessions, limits, bad input, restarts, factory, docker stream."""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from toolgym.error import ConfigError
from toolgym.sandbox import (
    BACKENDS,
    ISOLATION,
    ExecResult,
    Limits,
    ProcessSandbox,
    SandboxError,
    available_backends,
    best_backend,
    create_sandbox,
    render_isolation_table,
    run,
)
from toolgym.sandbox.base import PipeTransport
from toolgym.sandbox.container import DockerSandbox, DockerStream
from toolgym.sandbox.paths import collapse
from toolgym.sandbox.process import private_parents

LIMITS = Limits(wall_s=5.0, cpu_s=3.0)


@pytest.fixture
def sb(backend):
    sandbox = BACKENDS[backend](limits=LIMITS)
    yield sandbox
    sandbox.close()


def test_result_fields(sb):
    r = sb.run("print('out'); import sys; print('err', file=sys.stderr); 6 * 7")
    assert r.ok and r.status == "ok" and r.stdout == "out\n" and r.stderr == "err\n"
    assert r.value == "42" and r.exception is None and r.exit_code == 0 and r.backend == sb.name
    assert 0 < r.wall_s < 5 and r.cpu_s >= 0 and r.stdout_bytes == 4 and not r.truncated
    assert r.to_dict()["status"] == "ok" and r.summary() == "ok"


def test_exception_and_traceback(sb):
    r = sb.run("def f(x):\n    return 1 / x\n\nf(0)")
    assert r.status == "error" and r.exception == "ZeroDivisionError" and r.message == "division by zero"
    assert 'File "<code>", line 4' in r.traceback and "return 1 / x" in r.traceback
    assert r.traceback.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "_worker" not in r.traceback and "<string>" not in r.traceback
    assert r.summary() == "ZeroDivisionError: division by zero"


def test_system_exit_and_os_exit(sb):
    r = sb.run("import sys; print('a'); sys.exit(3)")
    assert r.status == "error" and r.exception == "SystemExit" and r.exit_code == 3 and r.stdout == "a\n"
    r = sb.run("import os; print('partial', flush=True); os._exit(4)")
    assert r.status == "exited" and r.exit_code == 4 and r.stdout == "partial\n" and not r.traceback


def test_host_packages_are_importable(sb):
    code = "import numpy as np, toolgym\nfrom toolgym.envs.calculator import evaluate\n"
    r = sb.run(code + "print(np.arange(5).sum(), evaluate('6*7'))")
    assert r.ok, r.traceback
    assert r.stdout == "10 42\n"


def test_host_folders_under_tmp_stay_visible(backend):
    """A checkout or virtual environment under /tmp is visible although /tmp is the sandbox's scratch."""
    folder = tempfile.mkdtemp(prefix="toolgym-bind-", dir="/tmp")
    os.chmod(folder, 0o755)
    pkg = Path(folder) / "tg_bind_probe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("VALUE = 42\n")
    sandbox = BACKENDS[backend](limits=LIMITS, extra_paths=[folder])
    try:
        r = sandbox.run("import tg_bind_probe\nprint(tg_bind_probe.VALUE)")
        assert r.ok, r.traceback
        assert r.stdout == "42\n"
        assert sandbox.run("print(1)").ok  # the sweep between runs leaves the bound folder alone
    finally:
        sandbox.close()
    assert (pkg / "__init__.py").read_text() == "VALUE = 42\n"
    shutil.rmtree(folder)


def test_runs_do_not_share_state(sb):
    assert sb.run("import math; math.pi = 3; x = 1").ok
    r = sb.run("import math; print(math.pi); print(x)")
    assert r.stdout.startswith("3.14159") and r.exception == "NameError"


def test_scratch_folder_is_private_and_fresh(sb):
    r = sb.run("import os; open('f.txt', 'w').write('hi'); print(os.getcwd() == os.environ['HOME'])")
    assert r.stdout == "True\n"
    assert sb.run("import os; print(os.path.exists('f.txt'))").stdout == "False\n"


def test_environment_is_scrubbed(sb, monkeypatch):
    monkeypatch.setenv("TOOLGYM_TEST_SECRET", "s3cr3t")
    sb.close()
    sandbox = BACKENDS[sb.name](limits=LIMITS, env={"MY_VAR": "given"})
    try:
        r = sandbox.run("import os; print(sorted(os.environ)); print(os.environ['MY_VAR'])")
        assert "TOOLGYM_TEST_SECRET" not in r.stdout and "s3cr3t" not in r.stdout and r.stdout.endswith("given\n")
        assert "PYTHONHASHSEED" in r.stdout
    finally:
        sandbox.close()


def test_session_state_persists_and_rolls_back(sb):
    s = sb.session()
    assert s.run("x = 1").persisted
    assert s.run("x += 1\nx").value == "2"
    r = s.run("x = 100\nwhile True: pass", timeout=1.0)
    assert r.status in ("timeout", "killed") and not r.persisted
    assert s.run("x").value == "2"  # the timed-out execution left no trace
    r = s.run("x = 200\nimport os; os._exit(1)")
    assert r.status == "exited" and s.run("x").value == "2"
    r = s.run("x = 300\n1/0")
    assert r.exception == "ZeroDivisionError" and r.persisted and s.run("x").value == "300"
    assert s.history == ("x = 1", "x += 1\nx", "x", "x", "x = 300\n1/0", "x")
    s.close()


def test_session_throwaway_runs_and_tracebacks_across_cells(sb):
    s = sb.session()
    s.run("def f(v):\n    return 10 // v")
    r = s.run("y = 5\nf(0)", persist=False)
    assert r.exception == "ZeroDivisionError" and not r.persisted
    assert 'File "<exec-1>", line 2, in f' in r.traceback and "return 10 // v" in r.traceback
    assert s.run("y").exception == "NameError"
    assert s.history == ("def f(v):\n    return 10 // v", "y")


def test_session_replay_and_reset(sb):
    s = sb.session()
    s.run("import random\nitems = []")
    s.run("items.append(len(items))")
    s.run("items.append(len(items))")
    hist = s.history
    s2 = sb.session()
    results = s2.replay(hist)
    assert all(r.persisted for r in results) and s2.history == hist
    assert s2.run("items").value == "[0, 1]"
    s2.reset()
    assert s2.history == () and s2.run("items").exception == "NameError"
    s.close()
    s2.close()


def test_sessions_are_isolated_from_each_other(sb):
    a, b = sb.session(), sb.session()
    a.run("v = 'a'")
    b.run("v = 'b'")
    assert a.run("v").value == "'a'" and b.run("v").value == "'b'"
    a.close()
    assert b.run("v").value == "'b'"
    with pytest.raises(SandboxError):
        a._ensure_open()
    b.close()


def test_limits_cpu_memory_output(backend):
    limits = Limits(wall_s=4.0, cpu_s=1.0, memory_mb=400, output_bytes=1000, output_limit_bytes=100_000)
    with BACKENDS[backend](limits=limits) as sb:
        r = sb.run("while True: pass")
        assert r.status in ("killed", "timeout") and r.limit in ("cpu_time", "wall_time")
        r = sb.run("x = bytearray(2 << 30)")
        assert r.status == "error" and r.limit == "memory" and r.exception == "MemoryError"
        r = sb.run("while True: print('y' * 999)")
        assert r.status == "killed" and r.limit == "output" and len(r.stdout) == 1000 and r.truncated
        r = sb.run("print('z' * 5000)")
        assert r.ok and len(r.stdout) == 1000 and r.stdout_bytes == 5001 and r.truncated
        r = sb.run("import time; time.sleep(30)", timeout=0.5)
        assert r.status == "timeout" and r.limit == "wall_time" and r.wall_s < 3.0


def test_bad_input_is_an_observation(sb):
    r = sb.run("def f(:\n  pass")
    assert r.status == "error" and r.exception == "SyntaxError" and "line 1" in r.traceback
    r = sb.run("x = 1\x00")
    assert r.status == "error" and r.exception in ("SyntaxError", "ValueError") and "null" in r.message
    r = sb.run(b"print('\xff\xfe')")  # non-UTF-8 bytes are decoded with replacement characters
    assert r.ok and r.stdout == "\ufffd\ufffd\n"
    r = sb.run("s = '\udcff'")  # a lone surrogate cannot be compiled: a clear error, not a crash
    assert r.status == "error" and r.exception == "UnicodeEncodeError" and "surrogate" in r.message
    r = sb.run("s = chr(0xDCFF)\nprint(len(s))\ns")  # one made at run time survives the round trip
    assert r.ok and r.stdout == "1\n" and r.value == "'\\udcff'"
    assert sb.run("").ok and sb.run("   \n\n").ok and sb.run("# only a comment").ok
    r = sb.run("x = 1\n" * 5_000_000)  # 30 MB: rejected before it runs
    assert r.status == "rejected" and r.limit == "code_size" and "limit" in r.message
    r = sb.run("x = '" + "a" * 1_500_000 + "'\nprint(len(x))")  # large but under the limit
    assert r.ok and r.stdout == "1500000\n"
    assert sb.run(None).status == "rejected"  # type: ignore[arg-type]


def test_worker_death_is_reported_then_recovered(sb):
    s = sb.session()
    s.run("k = 41")
    sb._holder.transport.kill()  # the worker dies (as if killed from outside)
    r = sb.run("print(1)")
    assert r.ok and r.stdout == "1\n"  # a fresh worker
    assert s.run("k + 1").value == "42"  # the session was replayed into the new worker
    assert s.history == ("k = 41", "k + 1")
    s.close()


def test_close_is_idempotent_and_final(backend, uid_processes):
    sb = BACKENDS[backend](limits=LIMITS)
    s = sb.session()
    s.run("import subprocess; p = subprocess.Popen(['sleep', '60'])")
    s.run("x = 1")
    uid = sb.info.get("drop_uid")
    worker = sb._holder.transport.proc.pid
    sb.close()
    sb.close()
    if uid is not None:
        assert uid_processes(uid) == []
    assert not __import__("os").path.exists(f"/proc/{worker}/status")
    assert not sb.alive
    with pytest.raises(SandboxError):
        sb.start()


def test_factory_and_availability(monkeypatch):
    backends = available_backends()
    assert set(backends) == {"docker", "bwrap", "process"} and backends["process"] == ""
    assert best_backend() in [n for n, why in backends.items() if not why]
    monkeypatch.setenv("TOOLGYM_SANDBOX", "process")
    assert best_backend() == "process"
    assert isinstance(create_sandbox(), ProcessSandbox)
    monkeypatch.setenv("TOOLGYM_SANDBOX", "proces")
    with pytest.raises(ConfigError, match="Did you mean: process"):
        best_backend()
    with pytest.raises(ConfigError, match="expected one of"):
        create_sandbox("firecracker")
    with pytest.raises(ConfigError):
        Limits.coerce({"wall": 3})
    with pytest.raises(ConfigError):
        Limits(wall_s=0)
    with pytest.raises(ConfigError):
        ProcessSandbox(user="root")
    assert run("print(7)", backend="process").stdout == "7\n"


def test_sandbox_is_not_picklable():
    import pickle

    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(ProcessSandbox())


def test_paths_helpers():
    import shutil
    import tempfile
    from pathlib import Path

    assert collapse(["/a/b/c", "/a/b", "/a/bc"]) == ["/a/b", "/a/bc"]
    base = Path(tempfile.mkdtemp())
    base.chmod(0o755)
    private = base / "private"
    (private / "inner").mkdir(parents=True)
    private.chmod(0o700)
    assert private_parents([str(private / "inner")]) == {str(private): [str(private / "inner")]}
    private.chmod(0o755)
    assert private_parents([str(private / "inner")]) == {}
    shutil.rmtree(base)


def test_docker_stream_demultiplexes_frames():
    s = DockerStream()
    frame = struct.pack(">BxxxI", 1, 5) + b"hello" + struct.pack(">BxxxI", 2, 3) + b"oops"[:3]
    s.feed(frame[:7])
    assert s.take(1) is None
    s.feed(frame[7:])
    assert s.take(5) == b"hello" and bytes(s.stderr) == b"oop" and s.take(1) is None


def test_docker_container_arguments():
    sb = DockerSandbox(limits=Limits(memory_mb=512, processes=20, scratch_mb=32, shm_mb=8), cpus=0.5)
    kw = sb.container_kwargs({"uid": 2_000_000_001, "limits": {}})
    assert kw["network_mode"] == "none" and kw["network_disabled"] and kw["read_only"]
    assert kw["mem_limit"] == "1280m" and kw["pids_limit"] == 36 and kw["nano_cpus"] == 500_000_000
    assert "size=32m" in kw["tmpfs"]["/tmp"] and "size=8m" in kw["tmpfs"]["/dev/shm"]
    assert kw["cap_drop"] == ["ALL"] and "no-new-privileges" in kw["security_opt"]
    assert all(v["mode"] == "ro" for v in kw["volumes"].values()) and kw["command"][0] == sb.python
    assert "TOOLGYM" not in str(kw["environment"])


@pytest.mark.docker
def test_docker_backend_runs_code():
    ok, reason = DockerSandbox.availability()
    if not ok:
        pytest.skip(f"no usable Docker engine: {reason}")
    with DockerSandbox(limits=LIMITS) as sb:
        code = "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=1)\n"
        r = sb.run(code + "except OSError as e:\n    print('blocked')")
        assert r.stdout == "blocked\n"


def test_isolation_table_is_documented():
    from pathlib import Path

    doc = Path(__file__).resolve().parents[3] / "docs" / "code.md"
    assert render_isolation_table() in doc.read_text(encoding="utf-8")
    assert all(set(row) == {"process", "bwrap", "docker"} for row in ISOLATION.values())


def test_exec_result_failure_and_summary():
    r = ExecResult.failure("process", "boom")
    assert r.status == "sandbox_error" and not r.ok and r.summary() == "sandbox error: boom"
    assert ExecResult(status="timeout").summary().startswith("stopped")
    assert time.monotonic() > 0


def test_a_forked_host_process_does_not_touch_the_original_worker():
    import os

    sb = ProcessSandbox(limits=LIMITS)
    s = sb.session()
    s.run("v = 7")
    worker = sb._holder.transport.proc.pid
    pid = os.fork()
    if pid == 0:  # the forked copy gets its own worker (and session, replayed); the original is untouched
        try:
            ok = sb.run("print(5)").stdout == "5\n" and s.run("v").value == "7"
            ok = ok and sb._holder.transport.proc.pid != worker
            sb.close()
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert sb.alive and sb._holder.transport.proc.pid == worker
    assert s.run("v + 1").value == "8"
    sb.close()


class _SweptScratchSandbox(ProcessSandbox):
    """A process sandbox whose scratch root is also swept after each run, as ``/tmp`` of an unprivileged bwrap."""

    factory = True  # whether the worker's spare factory makes the spares (else the worker forks them itself)

    def _sweep_dirs(self) -> list[str]:
        return [self._scratch_root()]

    def _private_dirs(self) -> bool:
        return True

    def _spawn(self, config: dict[str, Any]) -> PipeTransport:
        return super()._spawn(dict(config, factory=self.factory))


@pytest.mark.parametrize("factory", [True, False], ids=["factory", "no-factory"])
def test_the_sweep_leaves_the_spares_scratch_folders_alone(factory):
    """A spare's scratch folder made during a run (or just before a session's run) is not the code's leftover.

    Before the fix the sweep after a run removed the next spare's folder: that spare then died while it set up
    (status 70, no output) or ran its code in a deleted working directory.
    """
    probe = "import os, time\ntime.sleep(0.05)\nprint(os.path.isdir(os.getcwd()))"  # the next spare is made meanwhile
    sb = _SweptScratchSandbox(limits=LIMITS)
    sb.factory = factory
    with sb:
        for _ in range(3):
            r = sb.run(probe)
            assert r.ok and r.stdout == "True\n", r
        s = sb.session()
        assert s.run("x = 1").persisted  # its sweep: the ready spare's folder is younger than a second
        r = sb.run(probe)
        assert r.ok and r.stdout == "True\n", r
        s.close()  # its sweep covers everything since the session opened
        r = sb.run(probe)
        assert r.ok and r.stdout == "True\n", r


@pytest.fixture
def spare_factory(tmp_path):
    """A worker's :class:`SpareFactory` over a real janitor, its factory process played through a socket pair.

    Yields ``(spares, factory_end)``: what is sent on ``factory_end`` is what the factory would send.
    """
    import socket

    from toolgym.sandbox._worker import Janitor, SpareFactory

    spares = SpareFactory(child=None, janitor=Janitor({"scratch_root": str(tmp_path)}, None, None))
    worker_end, factory_end = socket.socketpair()
    spares.factory = {"pid": 0, "sock": worker_end, "pending": 0}
    yield spares, factory_end
    worker_end.close()
    factory_end.close()


def test_a_discarded_spare_is_killed_and_its_scratch_folder_removed(spare_factory):
    """A spare that arrives while another is ready is dropped: its process killed, its scratch folder removed."""
    import socket
    import subprocess

    from toolgym.sandbox._worker import SpareFactory, _frame

    spares, factory_end = spare_factory
    ready = {"pid": 0, "go": -1, "fds": [], "scratch": spares.janitor.new_scratch("ready"), "parent": "factory"}
    spares.spare, spares.factory["pending"] = ready, 1
    extra = subprocess.Popen(["sleep", "30"], start_new_session=True)
    scratch = spares.janitor.new_scratch(SpareFactory.scratch_name(extra.pid))
    Path(scratch, "left.txt").write_text("by the spare's setup")
    pipes = [os.pipe() for _ in range(4)]
    try:
        socket.send_fds(factory_end, [_frame({"pid": extra.pid, "scratch": scratch})], [r for r, _ in pipes])
        spares.pump(5.0)
        assert spares.spare is ready and os.path.isdir(ready["scratch"])
        assert extra.wait(timeout=10) == -9
        assert not os.path.exists(scratch)
    finally:
        extra.kill()
        for r, w in pipes:  # the worker closed the copies it received, not these
            os.close(r)
            os.close(w)


def test_a_factory_that_cannot_fork_gets_the_worker_to_fork_the_spare_at_once(spare_factory, monkeypatch):
    """The factory reports a failed fork; the worker then forks the spare itself instead of waiting out the timeout."""
    from toolgym.sandbox._worker import _frame

    spares, factory_end = spare_factory
    forked_here = []

    def make_spare() -> None:
        forked_here.append(1)
        spares.spare = {"pid": 0, "go": -1, "fds": [], "scratch": "", "parent": "worker"}

    monkeypatch.setattr(spares, "make_spare", make_spare)
    for _ in range(2):  # each run orders a spare; the factory fails to fork each time
        factory_end.sendall(_frame({"fork_failed": 11}))
        start = time.monotonic()
        spare = spares.take(timeout=30.0)
        assert time.monotonic() - start < 10.0  # not the 30 s timeout
        assert spare["parent"] == "worker" and spares.factory is not None and spares.factory["pending"] == 0
        assert factory_end.recv(1) == b"f"  # the order was placed (and will be retried next time)
    assert len(forked_here) == 2
