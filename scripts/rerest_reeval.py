"""Re-evaluate a finished Re-ReST run's M0 and M_1 checkpoints on more held-out test tasks.

A diagnostic kept with docs/RESULTS.md section 8 (plan: docs/results/training/rerest-household/plan.md, "more
test tasks"): for one seed, M0 and every arm's M_1 (their saved ``sft/final`` checkpoints, unchanged) are
evaluated greedily, as the run evaluated them, on the first ``N`` tasks of the env's test split (the run's
100 are the first of them) and the run's valid tasks. The held-out check is redone for the larger set.

Usage::

    python scripts/rerest_reeval.py RECIPE RUN_FOLDER OUT_FOLDER SEED N
    python scripts/rerest_reeval.py RECIPE RUN_FOLDER OUT_FOLDER --summary   # after seeds 0-2: claims, intervals
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path


def reevaluate(recipe: str, runs: Path, out: Path, seed: int, n: int) -> None:
    """``out/<arm>/seed-<seed>.json`` for M0 (arm ``m0``) and each arm's M_1 (skipped when present)."""
    from toolgym.algorithms.ledger import Ledger
    from toolgym.algorithms.models import load_trained
    from toolgym.algorithms.runio import write_json
    from toolgym.algorithms.selftrain import assess_agent, task_sets
    from toolgym.benchmarks.training import load_recipe

    r = load_recipe(recipe, [])
    base = r.method_config(next(iter(r.arms)), seed)
    c = replace(base, eval_tasks=n)
    sets = task_sets(c, caller="rerest_reeval")
    checkpoints = {"m0": runs / next(iter(r.arms)) / f"seed-{seed}" / "iter-0" / "sft" / "final"}
    checkpoints.update({arm: runs / arm / f"seed-{seed}" / "iter-1" / "sft" / "final" for arm in r.arms})
    for arm, path in checkpoints.items():
        target = out / arm / f"seed-{seed}.json"
        if target.exists():
            continue
        model, tok = load_trained(c.model, path)
        ledger = Ledger()
        row = assess_agent(c, model, tok, sets, ledger=ledger, phase="reeval")
        write_json(
            target,
            {
                "arm": arm,
                "seed": seed,
                "checkpoint": str(path),
                "test_tasks": n,
                "test_success": row["test"]["success_rate"],
                "test_success_first_100": sum(row["test"]["success"][:100]) / min(100, n),
                "valid_success": row["valid"]["success_rate"],
                "held_out": sets.report["held_out"],
                "ledger": ledger.to_dict(),
            },
        )


def summarize(recipe: str, out: Path, seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    """Per arm: test success with a 95% t interval over seeds; the recipe's claims as paired differences."""
    from toolgym.benchmarks.stats import estimate
    from toolgym.benchmarks.training import load_recipe

    def fmt(e) -> str:
        return f"{e.mean:.3f} [{e.lo:.3f}, {e.hi:.3f}]"

    r = load_recipe(recipe, [])
    arms = ["m0", *r.arms]
    res = {a: {s: json.loads((out / a / f"seed-{s}.json").read_text()) for s in seeds} for a in arms}
    result: dict = {"arms": {}, "claims": []}
    for a, by in res.items():
        result["arms"][a] = {
            "test": fmt(estimate({s: [v["test_success"]] for s, v in by.items()}, bounds=(0, 1))),
            "per_seed_test": [by[s]["test_success"] for s in seeds],
            "per_seed_first_100": [by[s]["test_success_first_100"] for s in seeds],
            "held_out": all(v["held_out"] for v in by.values()),
        }
    for claim in r.claims:
        other = "m0" if claim.get("than_metric", "").endswith("@0") else claim["than_arm"]
        diff = {s: [res[claim["arm"]][s]["test_success"] - res[other][s]["test_success"]] for s in seeds}
        e = estimate(diff)
        result["claims"].append(
            {"claim": f"{claim['arm']} > {other}", "paired_difference": fmt(e), "held": bool(e.lo > 0)}
        )
    (out / "summary.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    name, runs_dir, out_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if sys.argv[4:] == ["--summary"]:
        sys.stdout.write(json.dumps(summarize(name, out_dir), indent=1) + "\n")
    else:
        reevaluate(name, runs_dir, out_dir, int(sys.argv[4]), int(sys.argv[5]))
