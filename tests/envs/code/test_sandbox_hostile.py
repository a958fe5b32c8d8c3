"""The hostile-code battery, run against every available sandbox backend.

Each attack must end within its limits with a clear result, leave no process behind, leave the host
unaffected, and leave the next execution (one-shot and in a session) working. Where a backend does not
stop an attack, the outcome must match the verdict of the isolation table (``ISOLATION``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from toolgym.sandbox import ISOLATION

# Host-side slack on top of the sandbox's wall limit (worker kill wait, start-up, a busy machine).
SLACK_S = 8.0


def verdict(attack_prefix: str, backend: str) -> str:
    row = next(v for k, v in ISOLATION.items() if k.startswith(attack_prefix))
    return row[backend][0]


def run_attack(sb, code, leftovers, *, session=None):
    t0 = time.monotonic()
    r = (session or sb).run(code)
    elapsed = time.monotonic() - t0
    assert elapsed < sb.limits.wall_s + SLACK_S, f"the attack took {elapsed:.1f}s"
    assert r.status != "sandbox_error" or "worker" in r.message, r
    assert r.summary()  # a clear one-line description exists
    assert leftovers(sb, holders=1 if session is not None else 0) == [], "processes were left behind"
    after = sb.run("print(1 + 1)")
    assert after.ok and after.stdout == "2\n", f"the next execution is affected: {after}"
    return r


def test_infinite_loop(battery_sandbox, leftovers):
    r = run_attack(battery_sandbox, "while True:\n    pass", leftovers)
    assert r.status in ("killed", "timeout") and r.limit in ("cpu_time", "wall_time")


def test_sleep_past_the_deadline(battery_sandbox, leftovers):
    r = run_attack(battery_sandbox, "import time\ntime.sleep(3600)", leftovers)
    assert r.status == "timeout" and r.limit == "wall_time"


def test_fork_bomb(battery_sandbox, leftovers):
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    r = run_attack(battery_sandbox, code, leftovers)
    assert r.status in ("timeout", "killed")
    assert subprocess.run(["true"]).returncode == 0  # the host still forks


def test_escaping_children_are_killed(battery_sandbox, leftovers):
    code = (
        "import os, subprocess\n"
        "subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    import time; time.sleep(600)\n"
        "print('parent done')"
    )
    r = run_attack(battery_sandbox, code, leftovers)
    assert r.ok and r.stdout == "parent done\n"


def test_memory_bomb(battery_sandbox, leftovers):
    r = run_attack(battery_sandbox, "x = bytearray(16 << 30)", leftovers)
    assert r.status == "error" and r.limit == "memory"
    r = run_attack(battery_sandbox, "blocks = []\nwhile True:\n    blocks.append(bytearray(32 << 20))", leftovers)
    # on a busy machine, touching 512 MiB can take longer than the wall-clock limit: also a clean stop
    assert r.status in ("error", "killed", "timeout") and r.limit in ("memory", "cpu_time", "wall_time")


def test_huge_print(battery_sandbox, leftovers):
    r = run_attack(battery_sandbox, "while True:\n    print('x' * 10_000)", leftovers)
    assert r.status == "killed" and r.limit == "output" and r.truncated
    assert len(r.stdout) <= battery_sandbox.limits.output_bytes
    r = run_attack(battery_sandbox, "print('y' * 50_000_000)", leftovers)
    assert r.limit in ("output", "memory") and len(r.stdout) <= battery_sandbox.limits.output_bytes


def test_write_outside_scratch(battery_sandbox, leftovers):
    name = f"toolgym-pwned-{uuid.uuid4().hex[:8]}"
    repo = Path(__file__).resolve().parents[3]
    host_dir = Path(tempfile.mkdtemp())
    host_dir.chmod(0o755)
    targets = [repo / name, host_dir / name, Path("/etc") / name, Path.home() / name, Path("/tmp") / name]
    code = (
        f"import os\nfor p in {[str(t) for t in targets]!r}:\n    try:\n        open(p, 'w').write('x')\n"
        "        print('WROTE', p)\n    except OSError as e:\n        print('DENIED', p, e.errno)\n"
    )
    try:
        r = run_attack(battery_sandbox, code, leftovers)
        assert r.ok
        for t in targets[:4]:
            assert f"DENIED {t}" in r.stdout
            assert not t.exists(), f"{t} was written on the host"
        # /tmp: world-writable on the host for `process` (the file is swept after the run), private otherwise
        tmp = targets[4]
        assert not tmp.exists(), "the sandbox's file in /tmp was not cleaned up"
        if verdict("filesystem: write", battery_sandbox.name) == "stopped":
            assert f"DENIED {tmp}" in r.stdout
    finally:
        for t in targets:
            if t.exists():
                t.unlink()
        host_dir.rmdir()


def test_read_host_files(battery_sandbox, leftovers):
    probe = Path(tempfile.mkdtemp()) / "secret.txt"
    probe.write_text("s3cr3t-file")
    probe.chmod(0o600)
    probe.parent.chmod(0o755)
    code = (
        f"for p in [{str(probe)!r}, '/etc/shadow']:\n    try:\n        print(open(p).read())\n"
        "    except OSError as e:\n        print('DENIED', e.errno)"
    )
    try:
        r = run_attack(battery_sandbox, code, leftovers)
        assert "s3cr3t-file" not in r.stdout and r.stdout.count("DENIED") == 2
        r = battery_sandbox.run("print(open('/etc/passwd').read()[:4])")
        if verdict("filesystem: read", battery_sandbox.name) == "stopped":
            assert r.exception == "FileNotFoundError"
    finally:
        probe.unlink()
        probe.parent.rmdir()


def test_read_parent_environment(battery_sandbox, leftovers):
    canary = os.environ["TOOLGYM_CANARY"]
    helper = subprocess.Popen(["sleep", "60"], env={"TOOLGYM_CANARY": canary, "PATH": os.environ["PATH"]})
    code = (
        "import os\n"
        "print(dict(os.environ))\n"
        "for pid in os.listdir('/proc'):\n"
        "    if pid.isdigit():\n"
        "        try:\n"
        "            print(open(f'/proc/{pid}/environ', 'rb').read())\n"
        "        except OSError:\n"
        "            pass\n"
    )
    try:
        r = run_attack(battery_sandbox, code, leftovers)
        assert r.ok and canary not in r.stdout and "PYTEST" not in r.stdout
    finally:
        helper.kill()
        helper.wait()


def test_socket_to_loopback_listener(battery_sandbox, leftovers):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))  # loopback only, never any other address
    listener.listen(1)
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    code = (
        "import socket\n"
        "try:\n"
        f"    s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        "    s.sendall(b'hello from the sandbox')\n"
        "    print('CONNECTED')\n"
        "except OSError as e:\n"
        "    print('BLOCKED', type(e).__name__, e.errno)\n"
    )
    try:
        r = run_attack(battery_sandbox, code, leftovers)
        connected = r.stdout.startswith("CONNECTED")
        try:
            conn, _ = listener.accept()
            conn.close()
            accepted = True
        except OSError:
            accepted = False
        if verdict("network", battery_sandbox.name) == "stopped":
            assert r.stdout.startswith("BLOCKED") and not connected and not accepted
        else:
            assert connected and accepted  # documented as open for this backend
    finally:
        listener.close()


def test_kill_the_parent(battery_sandbox, leftovers):
    host = os.getpid()
    code = (
        "import os, signal\n"
        f"for target in (os.getppid(), 1, {host}, -1):\n"
        "    try:\n"
        "        os.kill(target, signal.SIGKILL)\n"
        "        print('killed', target)\n"
        "    except OSError as e:\n"
        "        print('refused', target, e.errno)\n"
        "print('still here')\n"
    )
    r = run_attack(battery_sandbox, code, leftovers)
    assert r.ok and r.stdout.endswith("still here\n")
    assert battery_sandbox.alive or battery_sandbox.run("print(3)").stdout == "3\n"
    s = battery_sandbox.session()
    s.run("state = 'kept'")
    r = run_attack(battery_sandbox, code, leftovers, session=s)
    assert r.stdout.endswith("still here\n")
    assert s.run("state").value == "'kept'"  # the session survives its holder being killed
    s.close()


def test_os_exit(battery_sandbox, leftovers):
    r = run_attack(battery_sandbox, "import os\nos._exit(3)", leftovers)
    assert r.status == "exited" and r.exit_code == 3 and "exited with status 3" in r.summary()
    s = battery_sandbox.session()
    s.run("x = 1")
    r = run_attack(battery_sandbox, "x = 2\nimport os\nos._exit(0)", leftovers, session=s)
    assert r.status == "exited" and not r.persisted and s.run("x").value == "1"
    s.close()


def test_recursion_overflow(battery_sandbox, leftovers):
    r = run_attack(battery_sandbox, "def f(n):\n    return f(n + 1)\nf(0)", leftovers)
    assert r.status == "error" and r.exception == "RecursionError" and len(r.traceback) <= 8_000
    # With the recursion limit lifted, C-level recursion overflows the C stack (SIGSEGV) and Python-level
    # recursion runs into the memory or CPU limit: every variant ends with a clear result.
    code = "import sys\nsys.setrecursionlimit(10 ** 7)\nx = []\nfor _ in range(300_000):\n    x = [x]\nrepr(x)"
    r = run_attack(battery_sandbox, code, leftovers)
    assert r.status in ("killed", "error", "timeout"), r
    assert r.signal == "SIGSEGV" or r.exception in ("RecursionError", "MemoryError") or r.limit is not None


@pytest.mark.slow
def test_unbounded_python_recursion(battery_sandbox, leftovers):
    code = "import sys\nsys.setrecursionlimit(10 ** 7)\ndef f(n):\n    return f(n + 1)\nf(0)"
    r = run_attack(battery_sandbox, code, leftovers)
    assert r.status in ("killed", "error", "timeout") and (r.limit or r.signal or r.exception), r


def test_dev_shm_fill(battery_sandbox, leftovers):
    name = f"toolgym-fill-{uuid.uuid4().hex[:8]}"
    code = (
        "chunk = b'x' * (1 << 20)\n"
        f"with open('/dev/shm/{name}', 'wb') as f:\n"
        "    while True:\n"
        "        f.write(chunk)\n"
        "        f.flush()\n"
    )
    r = run_attack(battery_sandbox, code, leftovers)
    assert r.status == "error" and r.limit in ("file_size", "disk_space"), r
    assert not Path(f"/dev/shm/{name}").exists(), "the file was left in the host's /dev/shm"
    many = (
        "import os\n"
        "for i in range(40):\n"
        f"    with open(f'/dev/shm/{name}-{{i}}', 'wb') as f:\n"
        "        f.write(b'y' * (1 << 19))\n"
        "print('wrote')\n"
    )
    r = run_attack(battery_sandbox, many, leftovers)
    assert r.ok or r.limit == "disk_space"
    assert not any(p.name.startswith(name) for p in Path("/dev/shm").iterdir())


@pytest.mark.slow
def test_attacks_inside_a_session_leave_it_usable(battery_sandbox, leftovers):
    s = battery_sandbox.session()
    s.run("counter = 0")
    for code in ("while True: pass", "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass"):
        r = run_attack(battery_sandbox, "counter += 1\n" + code, leftovers, session=s)
        assert r.status in ("killed", "timeout") and not r.persisted
    assert s.run("counter").value == "0"
    s.close()
