"""The worker's non-root code paths (CI runs as root, so they are exercised here as ``nobody``).

As an unprivileged user the worker does not switch uids; ``RLIMIT_NPROC`` counts the user's processes
and bubblewrap uses an unprivileged user namespace. The worker program is driven directly over its
protocol by a small standard-library client running as ``nobody`` with the system Python.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from toolgym.sandbox import BwrapSandbox, Limits
from toolgym.sandbox.base import worker_source
from toolgym.sandbox.bwrap import bwrap_args
from toolgym.sandbox.process import worker_env

SYSTEM_PYTHON = "/usr/bin/python3"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not os.path.exists(SYSTEM_PYTHON),
    reason="needs root (to switch to nobody), setpriv and /usr/bin/python3",
)

CLIENT = r"""
import json, struct, subprocess, sys
HDR = struct.Struct(">I")
PIPE = subprocess.PIPE
p = subprocess.Popen(json.loads(sys.argv[1]), stdin=PIPE, stdout=PIPE, stderr=PIPE)
def req(msg):
    body = json.dumps(msg).encode()
    p.stdin.write(HDR.pack(len(body)) + body)
    p.stdin.flush()
    head = p.stdout.read(4)
    if len(head) < 4:
        raise SystemExit("the worker did not answer: " + p.stderr.read().decode()[-500:])
    return json.loads(p.stdout.read(HDR.unpack(head)[0]))
out = {"hello": req({"op": "hello", "id": 1})}
out["run"] = req({"op": "run", "id": 2, "code": "import os; print(os.getuid())", "timeout": 5})
bomb = "import os\nn = 0\nwhile True:\n    try:\n        os.fork(); n += 1\n"
bomb += "    except OSError:\n        break\nprint(n)"
out["fork"] = req({"op": "run", "id": 3, "code": bomb, "timeout": 3})
req({"op": "open", "id": 4, "session": "s"})
out["s1"] = req({"op": "run", "id": 5, "code": "x = 41", "timeout": 5, "session": "s", "persist": True})
loop = "import time\nx = 0\nwhile True: time.sleep(0.01)"  # no CPU: only the wall limit can stop it
out["loop"] = req({"op": "run", "id": 6, "code": loop, "timeout": 1, "session": "s", "persist": True})
out["s2"] = req({"op": "run", "id": 7, "code": "x + 1", "timeout": 5, "session": "s", "persist": False})
out["shutdown"] = req({"op": "shutdown", "id": 8})
p.wait(10)
print(json.dumps(out))
"""


def _drive(cmd: list[str]) -> dict:
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        client = folder / "client.py"
        client.write_text(CLIENT)
        client.chmod(0o644)
        r = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                SYSTEM_PYTHON,
                str(client),
                json.dumps(cmd),
            ],
            capture_output=True,
            text=True,
            cwd=str(folder),
            timeout=120,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        return json.loads(r.stdout)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _processes_of(uid: int) -> int:
    n = 0
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and os.stat(f"/proc/{name}").st_uid == uid:
                n += 1
        except OSError:
            pass
    return n


def _wait_for_no_processes(uid: int, timeout_s: float = 15.0) -> None:
    """RLIMIT_NPROC counts every process of the uid: let a previous test's killed processes finish exiting."""
    deadline = time.monotonic() + timeout_s
    while _processes_of(uid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _config(scratch_root: str, **extra) -> dict:
    _wait_for_no_processes(65534)
    cfg = {
        "uid": None,
        "gid": None,
        "limits": Limits(processes=16, cpu_s=2).to_worker(),
        "scratch_root": scratch_root,
        "preload": ["json"],
        "sys_path": [],
        "sweep_dirs": [],
        "nproc_base": _processes_of(65534),  # RLIMIT_NPROC counts nobody's other processes too
    }
    cfg.update(extra)
    return cfg


def _check(out: dict) -> None:
    assert out["hello"]["uid"] == 65534 and out["hello"]["drop_uid"] is None
    assert out["run"]["stdout"] == "65534\n"
    counts = [int(n) for n in out["fork"]["stdout"].split()]  # each process of the bomb prints its count
    assert out["fork"]["completed"] and counts and max(counts) < 16, json.dumps(out["fork"])  # RLIMIT_NPROC stopped it
    assert out["s1"]["persisted"] and out["loop"]["limit"] == "wall_time" and not out["loop"]["persisted"], out["loop"]
    assert out["s2"]["value"] == "42"  # the timed-out execution left the session unchanged
    assert out["shutdown"]["ok"]


def test_process_worker_as_an_unprivileged_user():
    scratch = tempfile.mkdtemp()
    try:
        os.chmod(scratch, 0o777)
        cfg = _config(scratch)
        _check(_drive([SYSTEM_PYTHON, "-s", "-B", "-c", worker_source(), json.dumps(cfg)]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.skipif(not BwrapSandbox.available(), reason="bubblewrap is not available")
def test_bwrap_worker_in_an_unprivileged_user_namespace():
    cfg = _config("/tmp", sweep_dirs=["/dev/shm", "/tmp"], sweep_any_owner=True)
    args = bwrap_args([], privileged=False, scratch_mb=16, shm_mb=4, env=worker_env({}, "/tmp"))
    _check(_drive([*args, SYSTEM_PYTHON, "-s", "-B", "-c", worker_source(), json.dumps(cfg)]))
