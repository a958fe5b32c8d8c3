"""Household speed: the native engine vs ALFWorld's official engine, side by side on the same games.

Workload: the first ``--games`` games of a split and, for each, the official handcoded expert's recorded
commands (``TOOLGYM_DATA_DIR/alfworld/expert_trajectories_<split>.jsonl.gz``), so both engines execute the
same command stream. Every step's observation is compared, so the figures are for identical work.

Measured in one run:

* ``official``: ALFWorld's engine as ``AlfredTWEnv`` plays it (TextWorld's ``PddlEnv`` wrapped in ALFWorld's
  ``AlfredDemangler``, requesting ``won`` and ``admissible_commands``), in this process: load (PDDL
  translation), reset, and steps per second.
* ``native engine``: toolgym's engine doing the same work per step (observation, sorted admissible commands,
  ``won``), and its first-load time (parse + compile of the game file) and reset time.
* ``native env``: the same commands through ``gym.make("toolgym/ALFWorld-v0")`` (command parsing, the full
  ``info`` dict, the step limit).
* ``Household-v0``: steps per second with random admissible commands, and reset time (generation included).
* ``set_state`` / ``get_state`` latency of both native envs (median over many calls).

Usage::

    TOOLGYM_DATA_DIR=/path/to/data python benchmarks/perf/household_speed.py [--games 10] [--split valid_unseen]
        [--accelerated] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import toolgym  # noqa: F401
from toolgym.envs.household import engine as E
from toolgym.envs.household.games import game_file, load_split, load_world, read_trajectories
from toolgym.envs.household.world import World
from toolgym.rng import rand_elem


def norm(text: str) -> str:
    return " ".join(text.split())


def official_run(workload, records) -> dict:
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
    from textworld.envs.pddl import PddlEnv

    infos = textworld.EnvInfos(won=True, admissible_commands=True)
    load_s, reset_s, step_s, steps = [], [], 0.0, 0
    outputs = []
    for traj in workload:
        data = game_file(records[traj["path"]])
        t0 = time.perf_counter()
        env = AlfredDemangler(PddlEnv(infos))
        env.load(data)
        t1 = time.perf_counter()
        gs = env.reset()
        t2 = time.perf_counter()
        load_s.append(t1 - t0)
        reset_s.append(t2 - t1)
        out = [gs.feedback]
        t0 = time.perf_counter()
        for step in traj["steps"]:
            gs, _, _ = env.step(step["action"])
            out.append(gs.feedback)
        step_s += time.perf_counter() - t0
        steps += len(traj["steps"])
        outputs.append(out)
    return {
        "steps": steps,
        "steps_per_s": steps / step_s,
        "load_s_mean": statistics.mean(load_s),
        "reset_s_mean": statistics.mean(reset_s),
        "outputs": outputs,
    }


def official_worker_run(workload, records) -> dict:
    from toolgym.envs.household.official import OfficialEngine

    eng = OfficialEngine(accelerate=True)
    steps, step_s, reset_s = 0, 0.0, []
    try:
        for traj in workload:
            rec = records[traj["path"]]
            eng.reset(rec.task_id, game_file(rec))  # first load: translation (cached afterwards)
            t0 = time.perf_counter()
            eng.reset(rec.task_id, game_file(rec))
            reset_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for step in traj["steps"]:
                eng.step(step["action"])
            step_s += time.perf_counter() - t0
            steps += len(traj["steps"])
    finally:
        eng.close()
    return {"steps": steps, "steps_per_s": steps / step_s, "reset_s_mean": statistics.mean(reset_s)}


def native_engine_run(workload, records, min_s: float) -> dict:
    compile_s = []
    for traj in workload:  # first load: parse the game file and compile it (uncached)
        rec = records[traj["path"]]
        t0 = time.perf_counter()
        World.compile(rec.spec())
        compile_s.append(time.perf_counter() - t0)
    worlds = [load_world(records[t["path"]]) for t in workload]
    outputs = []
    for world, traj in zip(worlds, workload):
        state, out = world.initial, [E.intro(world, world.initial)]
        for step in traj["steps"]:
            act = E.options(world, state).get(step["action"])
            text = E.NOTHING_HAPPENS
            if act is not None:
                state, text = E.apply(world, state, act)
            out.append(text)
        outputs.append(out)
    steps, reps, elapsed = 0, 0, 0.0
    while elapsed < min_s:
        t0 = time.perf_counter()
        for world, traj in zip(worlds, workload):
            state = world.initial
            for step in traj["steps"]:
                opts = E.options(world, state)
                sorted(opts)  # the admissible list, in the official order
                act = opts.get(step["action"])
                if act is not None:
                    state, _ = E.apply(world, state, act)
                    world.won(state)
            steps += len(traj["steps"])
        elapsed += time.perf_counter() - t0
        reps += 1
    reset_s = []
    for world in worlds:
        t0 = time.perf_counter()
        E.intro(world, world.initial)
        E.admissible(world, world.initial)
        world.won(world.initial)
        reset_s.append(time.perf_counter() - t0)
    return {
        "steps_per_s": steps / elapsed,
        "load_s_mean": statistics.mean(compile_s),
        "reset_s_mean": statistics.mean(reset_s),
        "outputs": outputs,
    }


def native_env_run(workload, min_s: float) -> dict:
    env = gym.make("toolgym/ALFWorld-v0", max_steps=1000).unwrapped
    steps, elapsed, resets = 0, 0.0, []
    while elapsed < min_s:
        for traj in workload:
            t0 = time.perf_counter()
            env.reset(options={"task_id": traj["path"]})
            resets.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for step in traj["steps"]:
                _, _, terminated, _, _ = env.step(step["action"])
                steps += 1
                if terminated:
                    break
            elapsed += time.perf_counter() - t0
    env.reset(options={"task_id": workload[0]["path"]})
    env.step(workload[0]["steps"][0]["action"])
    return {"steps_per_s": steps / elapsed, "reset_s_mean": statistics.mean(resets), **latency(env)}


def household_run(min_s: float) -> dict:
    env = gym.make("toolgym/Household-v0").unwrapped
    rng = np.random.default_rng(0)
    steps, elapsed, resets, seed = 0, 0.0, [], 0
    while elapsed < min_s:
        t0 = time.perf_counter()
        _, info = env.reset(seed=seed)
        resets.append(time.perf_counter() - t0)
        seed += 1
        done = False
        t0 = time.perf_counter()
        while not done:
            adm = info["admissible_actions"]
            _, _, terminated, truncated, info = env.step(rand_elem(rng, adm))
            steps += 1
            done = terminated or truncated
        elapsed += time.perf_counter() - t0
    env.reset(seed=0)
    env.step(env.expert_action())  # type: ignore[attr-defined]
    return {"steps_per_s": steps / elapsed, "reset_s_mean": statistics.mean(resets), **latency(env)}


def latency(env, n: int = 50_000) -> dict:
    state = env.get_state()
    t_set, t_get = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        env.set_state(state)
        t1 = time.perf_counter()
        env.get_state()
        t2 = time.perf_counter()
        t_set.append(t1 - t0)
        t_get.append(t2 - t1)
    t_set.sort()
    return {
        "set_state_us_median": statistics.median(t_set) * 1e6,
        "set_state_us_p99": t_set[int(0.99 * n)] * 1e6,
        "get_state_us_median": statistics.median(t_get) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=10)
    parser.add_argument("--split", default="valid_unseen", choices=["valid_unseen", "valid_seen"])
    parser.add_argument("--min-seconds", type=float, default=3.0, help="minimum timed seconds per native run")
    parser.add_argument("--accelerated", action="store_true", help="also time toolgym's accelerated official worker")
    parser.add_argument("--out", default="benchmarks/perf/results/household_speed.json")
    args = parser.parse_args()

    records = {r.path: r for r in load_split(args.split)}
    workload = list(read_trajectories(args.split))[: args.games]
    official = official_run(workload, records)
    worker = official_worker_run(workload, records) if args.accelerated else None
    engine = native_engine_run(workload, records, args.min_seconds)
    env = native_env_run(workload, args.min_seconds)
    house = household_run(args.min_seconds)

    compared = identical = 0
    for a, b in zip(official.pop("outputs"), engine.pop("outputs")):
        for x, y in zip(a, b):
            compared += 1
            identical += norm(x) == norm(y)

    rows = [
        (
            "official engine (alfworld 0.4.2)",
            official["steps_per_s"],
            official["load_s_mean"],
            official["reset_s_mean"],
        ),
        ("native engine", engine["steps_per_s"], engine["load_s_mean"], engine["reset_s_mean"]),
        ("native env (ALFWorld-v0)", env["steps_per_s"], None, env["reset_s_mean"]),
        ("Household-v0 (procedural)", house["steps_per_s"], None, house["reset_s_mean"]),
    ]
    if worker is not None:
        rows.insert(1, ("official, accelerated worker", worker["steps_per_s"], None, worker["reset_s_mean"]))
    print(
        f"{args.split}: {len(workload)} games, {official['steps']} steps; identical observations {identical}/{compared}"
    )
    print(f"{'':34} {'steps/s':>12} {'first load':>12} {'reset':>12}")
    for name, sps, load, reset in rows:
        load_txt = f"{load * 1e3:10.2f}ms" if load is not None else f"{'-':>12}"
        print(f"{name:34} {sps:12,.1f} {load_txt} {reset * 1e3:10.3f}ms")
    ratios = {
        "engine_steps_per_s_vs_official": engine["steps_per_s"] / official["steps_per_s"],
        "env_steps_per_s_vs_official": env["steps_per_s"] / official["steps_per_s"],
        "engine_first_load_vs_official_load": official["load_s_mean"] / engine["load_s_mean"],
        "env_reset_vs_official_reset": official["reset_s_mean"] / env["reset_s_mean"],
    }
    print("speed-ups: " + ", ".join(f"{k} {v:,.0f}x" for k, v in ratios.items()))
    for name, res in (("ALFWorld-v0", env), ("Household-v0", house)):
        print(
            f"{name}: set_state median {res['set_state_us_median']:.2f} us (p99 {res['set_state_us_p99']:.2f} us), "
            f"get_state median {res['get_state_us_median']:.2f} us"
        )
    result = {
        "split": args.split,
        "games": len(workload),
        "identical_observations": [identical, compared],
        "official": official,
        "official_accelerated_worker": worker,
        "native_engine": engine,
        "native_env": env,
        "household": house,
        "ratios": ratios,
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
