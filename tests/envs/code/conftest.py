"""Fixtures for the code-sandbox and code-env tests: one parameter per sandbox backend."""

from __future__ import annotations

import os
import time

import pytest

from toolgym.sandbox import BACKENDS, Limits

#: Tight limits so hostile code ends quickly.
BATTERY_LIMITS = Limits(
    wall_s=1.0,
    cpu_s=1.0,
    memory_mb=512,
    processes=16,
    file_size_mb=8,
    output_limit_bytes=1 << 20,
    output_bytes=4096,
    scratch_mb=16,
    shm_mb=4,
)


def _backend_params():
    params = []
    for name in ("process", "bwrap", "docker"):
        ok, reason = BACKENDS[name].availability()
        marks = [pytest.mark.docker] if name == "docker" else []
        if not ok:
            marks.append(pytest.mark.skip(reason=f"sandbox backend {name!r} unavailable: {reason}"))
        params.append(pytest.param(name, id=name, marks=marks))
    return params


BACKEND_PARAMS = _backend_params()


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request):
    """The name of each available backend in turn (docker tests are marked and skip without an engine)."""
    return request.param


CANARY = "toolgym-canary-7f3a9c"


@pytest.fixture
def battery_sandbox(backend, monkeypatch):
    """A started sandbox of each backend with the battery's tight limits, closed after the test.

    The host's environment holds ``TOOLGYM_CANARY`` when the sandbox starts (it must never be visible).
    """
    monkeypatch.setenv("TOOLGYM_CANARY", CANARY)
    sb = BACKENDS[backend](limits=BATTERY_LIMITS)
    sb.start()
    yield sb
    sb.close()


def _live_processes_of_uid(uid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "-1").split()[0]) == uid and fields.get("State", "").strip()[:1] not in ("Z", "X"):
            out.append(int(name))
    return out


def processes_of_uid(uid: int, at_most: int = 0, wait_s: float = 5.0) -> list[int]:
    """Host pids running as ``uid`` (zombies excluded), once there are at most ``at_most`` or ``wait_s`` passed.

    Killed processes take a moment to exit (longer on a loaded machine, or under ``nice``): a process is "left
    behind" when it is still alive seconds later.
    """
    deadline = time.monotonic() + wait_s
    while True:
        pids = _live_processes_of_uid(uid)
        if len(pids) <= at_most or time.monotonic() > deadline:
            return pids
        time.sleep(0.02)


def descendants(pid: int) -> list[int]:
    """Host pids below ``pid`` (by parent pid), zombies excluded."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2 :].split()
        if rest[0] in ("Z", "X"):
            continue
        children.setdefault(int(rest[1]), []).append(int(name))
    out, stack = [], [pid]
    while stack:
        for c in children.get(stack.pop(), []):
            out.append(c)
            stack.append(c)
    return out


def _ns_pid(pid: int) -> int:
    """The pid as seen inside the innermost PID namespace of the process (bwrap's own namespace)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        pass
    return pid


@pytest.fixture
def leftovers():
    """``leftovers(sb, holders=0)``: processes of the sandbox beyond its worker, factory, spare and holders.

    A process counts as left behind when it is still there after ``settle_s`` seconds: right after an attack
    that kills every process it may signal, the factory is forking a new spare and the killed ones are being
    reaped, and on a loaded machine the snapshots can catch either in between (seen in CI: one pid, gone a
    moment later).
    """

    def check(sb, holders: int = 0, settle_s: float = 3.0) -> list[int]:
        deadline = time.monotonic() + settle_s
        while True:
            found = _check_once(sb, holders)
            if not found or time.monotonic() >= deadline:
                return found
            time.sleep(0.1)

    def _check_once(sb, holders: int) -> list[int]:
        known = sb.processes()
        allowed = {p for p in [known["spare"], known["factory"], *known["holders"], *known["session_spares"]] if p}
        assert len(known["holders"]) == holders, known
        uid = sb.info.get("drop_uid")
        if uid is not None:  # root host: every process of the code runs as the sandbox's own uid
            as_uid = {p for p in [known["spare"], *known["holders"], *known["session_spares"]] if p}  # not the factory
            pids = processes_of_uid(uid, at_most=len(as_uid))
            # The factory may fork a new spare after the first snapshot: the sandbox's own processes, read
            # again after listing the uid's, are not leftovers.
            again = sb.processes()
            as_uid |= {p for p in [again["spare"], *again["holders"], *again["session_spares"]] if p}
            return [p for p in pids if _ns_pid(p) not in as_uid]
        transport = sb._holder.transport
        below = descendants(transport.proc.pid) if transport is not None else []
        expected = len(allowed) + (1 if sb.name == "bwrap" else 0)  # bwrap: its init plus the worker
        return below if len(below) > expected else []

    return check


@pytest.fixture
def uid_processes():
    """``uid_processes(uid)``: the host pids running as ``uid``."""
    return processes_of_uid
