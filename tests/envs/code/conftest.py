"""Fixtures for the code-sandbox and code-env tests: one parameter per sandbox backend."""

from __future__ import annotations

import os

import pytest
from toolgym.envs.code.sandbox import BACKENDS, Limits

#: Tight limits so hostile code ends quickly.
BATTERY_LIMITS = Limits(
    wall_s=1.5,
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


def processes_of_uid(uid: int) -> list[int]:
    """Host pids whose real uid is ``uid``."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            out.append(int(name))
                        break
        except OSError:
            continue
    return out


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


@pytest.fixture
def leftovers():
    """``leftovers(sb, holders=0)``: the sandbox's processes beyond its worker and session holders."""

    def check(sb, holders: int = 0) -> list[int]:
        uid = sb.info.get("drop_uid")
        if uid is not None:  # root host: every process of the code runs as the sandbox's own uid
            pids = processes_of_uid(uid)
            return pids if len(pids) > holders else []
        transport = sb._holder.transport
        below = descendants(transport.proc.pid) if transport is not None else []
        expected = holders + (1 if sb.name == "bwrap" else 0)  # bwrap: its init plus the worker
        return below if len(below) > expected else []

    return check


@pytest.fixture
def uid_processes():
    """``uid_processes(uid)``: the host pids running as ``uid``."""
    return processes_of_uid
