"""Household fidelity: does the native engine say exactly what ALFWorld's official engine says?

Three checks, each printed as a table row and written to ``--out``:

* ``replay``: the official handcoded expert's recorded trajectories (every command and the official
  observation) replayed through ``toolgym/ALFWorld-v0`` (:func:`toolgym.benchmarks.fidelity.replay_trajectories`),
  per split: observations identical byte for byte, identical after whitespace normalisation, and games with the
  same ``won`` flag.
* ``--record SPLIT``: first *record* the official expert's trajectories with the official engine
  (``AlfredExpert`` handcoded, at most 200 steps, as ALFWorld's ``AlfredTWEnv`` runs it in training mode)
  for ``--games`` games of SPLIT, write them as JSON lines (``--record-out``), and replay those too.
* ``--direct N``: play N games on both engines side by side with a mixed policy (expert, random admissible
  and malformed commands) and compare observation, admissible commands and ``won`` at every step.

Usage::

    TOOLGYM_DATA_DIR=/path/to/data python benchmarks/perf/household_fidelity.py [--splits valid_unseen valid_seen]
        [--record valid_seen --games 140 --record-out FILE] [--direct 20 [--direct-splits train]
        [--direct-steps 40] [--expert-share 0.3] [--bad-share 0.15]] [--out FILE]
"""

from __future__ import annotations

import argparse
import gzip
import json
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

import toolgym  # noqa: F401
from toolgym.benchmarks.fidelity import replay_trajectories
from toolgym.data import fetch
from toolgym.envs.household import engine as E
from toolgym.envs.household.expert import command, plan
from toolgym.envs.household.games import game_file, load_split, load_world, read_trajectories, split_file
from toolgym.rng import rand_elem


def record(split: str, games: int, out: Path) -> list[dict]:
    """Record the official handcoded expert with the official engine (needs alfworld)."""
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredExpert, AlfredInfos

    records = load_split(split)[:games]
    wanted = {r.path for r in records}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fetch(split_file(split), download=False), "r:gz") as tar:
            members = [m for m in tar if m.isfile() and m.name.rsplit("/", 1)[0] in wanted]
            tar.extractall(tmp, members=members, filter="data")
        for rec in records:
            path = str(Path(tmp) / rec.path / "game.tw-pddl")
            infos = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile", "expert_plan"])
            env = AlfredExpert(AlfredInfos(AlfredDemangler(textworld.envs.pddl.PddlEnv(infos))), "handcoded")
            env.load(path)
            gs = env.reset()
            row = {
                "split": split,
                "path": rec.path,
                "initial_observation": gs.feedback,
                "initial_admissible_commands": list(gs["admissible_commands"]),
                "steps": [],
            }
            done = False
            while not done and len(row["steps"]) < 200:
                action = gs["extra.expert_plan"][0]
                gs, _, done = env.step(action)
                row["steps"].append({"action": action, "observation": gs.feedback})
            row["won"] = bool(gs["won"])
            row["num_steps"] = len(row["steps"])
            rows.append(row)
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wt", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return rows


def direct(count: int, splits: list[str], steps: int, expert_share: float, bad_share: float) -> dict:
    """Both engines side by side with a mixed policy on ``count`` games of ``splits``."""
    from toolgym.envs.household.official import OfficialEngine

    eng = OfficialEngine(accelerate=True)
    compared = same = 0
    try:
        pool = [r for split in splits for r in load_split(split)]
        rng = np.random.default_rng(0)
        for i in rng.choice(len(pool), size=min(count, len(pool)), replace=False):
            rec = pool[int(i)]
            world = load_world(rec)
            reply = eng.reset(rec.task_id, game_file(rec))
            state = world.initial
            names = list(world.obj_names) + list(world.rec_names)
            for _ in range(steps):
                adm = E.admissible(world, state)
                ok = list(reply.admissible) == adm
                u = rng.random()
                if u < expert_share:
                    p = plan(world, state)
                    cmd = command(world, p[0]) if p else "look"
                elif u < 1.0 - bad_share:
                    cmd = rand_elem(rng, adm)
                else:
                    a, b = rand_elem(rng, names), rand_elem(rng, names)
                    cmd = rand_elem(rng, [f"take {a} from {b}", f"put {a} in {b}", f"examine {a}", f"open {a}"])
                reply = eng.step(cmd)
                act = E.options(world, state).get(cmd)
                text = E.NOTHING_HAPPENS
                if act is not None:
                    state, text = E.apply(world, state, act)
                compared += 1
                same += ok and text == reply.feedback and reply.won == world.won(state)
                if reply.won:
                    break
    finally:
        eng.close()
    return {"games": count, "splits": splits, "steps": compared, "identical": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", nargs="*", default=["valid_unseen", "valid_seen"])
    parser.add_argument("--record", default=None, help="record the official expert on this split first")
    parser.add_argument("--games", type=int, default=5, help="games to record")
    parser.add_argument("--record-out", default="benchmarks/perf/results/expert_trajectories_recorded.jsonl.gz")
    parser.add_argument("--direct", type=int, default=0, help="games to compare side by side with the official engine")
    parser.add_argument("--direct-splits", nargs="*", default=["valid_unseen", "valid_seen", "train"])
    parser.add_argument("--direct-steps", type=int, default=40, help="steps per game (fewer when the game is won)")
    parser.add_argument("--expert-share", type=float, default=0.3, help="share of the planner's commands")
    parser.add_argument("--bad-share", type=float, default=0.15, help="share of malformed commands")
    parser.add_argument("--out", default="benchmarks/perf/results/household_fidelity.json")
    args = parser.parse_args()

    result: dict = {}
    print(f"{'':28} {'games':>6} {'obs':>7} {'identical':>10} {'ws-norm':>8} {'won agree':>10} {'won':>5}")

    def show(name: str, r: dict) -> None:
        print(
            f"{name:28} {r['games']:6d} {r['observations']:7d} {r['identical']:10d} "
            f"{r['identical_after_whitespace']:8d} {r['won_agree']:10d} {r['won']:5d}"
        )

    for split in args.splits:
        result[f"replay/{split}"] = r = replay_trajectories(split, read_trajectories(split)).to_dict()
        show(f"replay {split}", r)
    if args.record:
        t0 = time.perf_counter()
        rows = record(args.record, args.games, Path(args.record_out))
        result["record_seconds"] = time.perf_counter() - t0
        result[f"recorded/{args.record}"] = r = replay_trajectories(args.record, rows).to_dict()
        show(f"recorded {args.record}", r)
    if args.direct:
        result["direct"] = r = direct(
            args.direct, args.direct_splits, args.direct_steps, args.expert_share, args.bad_share
        )
        print(f"direct comparison: {r['games']} games, {r['identical']}/{r['steps']} steps identical")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
