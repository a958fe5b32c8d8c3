"""Retrain M of a finished ``rerest-multihop`` run at another learning rate, on each arm's own iteration-1 data.

A diagnostic kept with docs/RESULTS.md section 8 (plan: docs/results/training/rerest-multihop-lr/plan.md): for
one seed and each arm (``rerest``, ``rest_em_more``, ``oracle``) M0 of that seed is fine-tuned ``steps`` steps
at ``lr`` (the recipe's other SFT settings, SFT seed ``seed + 1`` as the recipe's iteration 1) on the arm's saved
``iter-1/data`` (D_M + D_R as the run produced them), then evaluated greedily on the recipe's valid and test
tasks. The samples, the reflector and its repairs are the run's, so its equal-compute match still holds.

Usage::

    python scripts/rerest_retrain.py RUN_FOLDER OUT_FOLDER SEED LR STEPS
    python scripts/rerest_retrain.py RUN_FOLDER OUT_FOLDER --summary   # after seeds 0-2: claims, intervals
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

ARMS = ("rerest", "rest_em_more", "oracle")


def retrain(runs: Path, out: Path, seed: int, lr: float, steps: int) -> None:
    """Retrain and evaluate every arm of ``seed``; ``out/<arm>/seed-<seed>/result.json`` (skipped when present)."""
    import gymnasium as gym

    from toolgym.algorithms.ledger import Ledger
    from toolgym.algorithms.models import load_trained
    from toolgym.algorithms.runio import write_json
    from toolgym.algorithms.selftrain import agent_policy, assess_agent, sft_phase, task_sets
    from toolgym.algorithms.trajectories import load_dataset
    from toolgym.benchmarks.training import load_recipe

    c = load_recipe("rerest-multihop", []).method_config("rerest", seed)
    sets = task_sets(c, caller="rerest_retrain")
    env = gym.make(c.env, **dict(c.env_kwargs))
    m0 = json.loads((runs / "rerest" / f"seed-{seed}" / "result.json").read_text())["curve"][0]
    for arm in ARMS:
        folder = out / arm / f"seed-{seed}"
        if (folder / "result.json").exists():
            continue
        data, _ = load_dataset(runs / arm / f"seed-{seed}" / "iter-1" / "data")
        model, tok = load_trained(c.model, runs / "rerest" / f"seed-{seed}" / "iter-0" / "sft" / "final")
        ledger = Ledger()
        model, tok, summary = sft_phase(
            c.model,
            replace(c.train, learning_rate=lr),
            data,
            renderer=lambda m, t: agent_policy(c, m, t, sample=False),
            folder=folder,
            steps=steps,
            seed=seed + 1,
            ledger=ledger,
            phase="iter1/train",
            start=(model, tok),
            env=env,
        )
        row = assess_agent(c, model, tok, sets, ledger=ledger, phase="iter1/eval")
        write_json(
            folder / "result.json",
            {
                "arm": arm,
                "seed": seed,
                "lr": lr,
                "steps": summary["steps"],
                "data": len(data),
                "test_success": row["test"]["success_rate"],
                "valid_success": row["valid"]["success_rate"],
                "m0_test_success": m0["test_success"],
                "m0_valid_success": m0["valid_success"],
                "held_out": sets.report,
                "ledger": ledger.to_dict(),
            },
        )


def summarize(out: Path, seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    """Per arm: test success with a 95% t interval over seeds; the plan's three claims as paired differences."""
    from toolgym.benchmarks.stats import estimate

    def fmt(e) -> str:
        return f"{e.mean:.3f} [{e.lo:.3f}, {e.hi:.3f}]"

    r = {a: {s: json.loads((out / a / f"seed-{s}" / "result.json").read_text()) for s in seeds} for a in ARMS}
    m0 = {s: r["rerest"][s]["m0_test_success"] for s in seeds}
    result: dict = {"m0": fmt(estimate({s: [v] for s, v in m0.items()}, bounds=(0, 1))), "arms": {}, "claims": []}
    for a, by in r.items():
        result["arms"][a] = {
            "test": fmt(estimate({s: [v["test_success"]] for s, v in by.items()}, bounds=(0, 1))),
            "per_seed_test": [by[s]["test_success"] for s in seeds],
            "valid_mean": round(sum(v["valid_success"] for v in by.values()) / len(seeds), 3),
            "data": [by[s]["data"] for s in seeds],
            "held_out": all(v["held_out"]["held_out"] for v in by.values()),
        }
    for name, a, b in (
        ("oracle > rest_em_more", "oracle", "rest_em_more"),
        ("rerest > rest_em_more", "rerest", "rest_em_more"),
        ("rerest > M0", "rerest", None),
    ):
        e = estimate({s: [r[a][s]["test_success"] - (m0[s] if b is None else r[b][s]["test_success"])] for s in seeds})
        result["claims"].append({"claim": name, "paired_difference": fmt(e), "held": bool(e.lo > 0)})
    (out / "summary.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    runs_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    if sys.argv[3:] == ["--summary"]:
        sys.stdout.write(json.dumps(summarize(out_dir), indent=1) + "\n")
    else:
        retrain(runs_dir, out_dir, int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
