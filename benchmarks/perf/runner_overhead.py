"""Runner overhead: what recording every episode durably costs, and what a process pool buys.

Side by side in one run, on the same episodes (expert, random and heuristic on an env, seeds 0..S-1 with E
episodes each):

* ``rollout``: :func:`toolgym.agents.rollout` directly, results kept in memory (the floor);
* ``run_suite workers=1``: the runner in this process, every episode appended to results.jsonl and
  trajectories.jsonl (fsync every 0.5 s, the default);
* ``run_suite workers=1 (fsync each)``: the same with an fsync after every episode, the most durable setting;
* ``run_suite workers=2``: a pool of two spawned processes (start-up included).

Prints episodes/s and the ratio to ``rollout``; writes JSON to ``--out``. Usage::

    python benchmarks/perf/runner_overhead.py [--env toolgym/MultiHop-v0] [--seeds 3] [--episodes 40]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from toolgym.agents import make_policy, rollout  # noqa: E402
from toolgym.benchmarks import store  # noqa: E402
from toolgym.benchmarks.runner import run_suite  # noqa: E402

POLICIES = ("expert", "random", "heuristic")


def suite(env: str, seeds: int, episodes: int) -> dict:
    return {
        "name": "overhead",
        "seeds": list(range(seeds)),
        "episodes": episodes,
        "envs": [{"id": env}],
        "policies": [{"name": p} for p in POLICIES],
    }


def time_rollout(env: str, seeds: int, episodes: int) -> tuple[float, int]:
    start = time.perf_counter()
    n = 0
    for name in POLICIES:
        for s in range(seeds):
            policy = make_policy(name, seed=s) if name == "random" else make_policy(name)
            n += len(rollout(policy, env, seeds=[s * 100_000 + i for i in range(episodes)]))
    return time.perf_counter() - start, n


def time_runner(env: str, seeds: int, episodes: int, workers: int, interval: float) -> tuple[float, int]:
    default = store.ResultStore.sync_interval_s
    store.ResultStore.sync_interval_s = interval
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = run_suite(suite(env, seeds, episodes), Path(tmp) / "run", workers=workers)
            elapsed = time.perf_counter() - start
    finally:
        store.ResultStore.sync_interval_s = default
    return elapsed, result.recorded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--env", default="toolgym/ToolChoice-Arithmetic-v0")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--episodes", type=int, default=40)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "runner_overhead.json"))
    args = ap.parse_args()
    rows = []
    base, n = time_rollout(args.env, args.seeds, args.episodes)  # also warms the env's caches
    base, n = time_rollout(args.env, args.seeds, args.episodes)
    rows.append(("rollout (in memory)", base, n))
    default = store.ResultStore.sync_interval_s
    for label, workers, interval in (
        ("run_suite workers=1", 1, default),
        ("run_suite workers=1 (fsync each)", 1, 0.0),
        ("run_suite workers=2", 2, default),
    ):
        t, m = time_runner(args.env, args.seeds, args.episodes, workers, interval)
        rows.append((label, t, m))
    print(f"{args.env}: {n} episodes ({', '.join(POLICIES)}; {args.seeds} seeds x {args.episodes})")
    print(f"{'configuration':34s} {'seconds':>8s} {'episodes/s':>11s} {'vs rollout':>11s}")
    out = []
    for label, t, m in rows:
        print(f"{label:34s} {t:8.2f} {m / t:11.1f} {base / t:10.2f}x")
        out.append(
            {"configuration": label, "seconds": t, "episodes": m, "episodes_per_s": m / t, "vs_rollout": base / t}
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"env": args.env, "rows": out}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
