"""Which held-out test tasks one Re-ReST iteration kept and which it changed, per arm and seed.

For each seed and arm of a finished ``toolgym train`` Re-ReST run folder: how many of M0's solved test tasks
M_1 still solves, and how many it solves that M0 did not. Quoted in docs/RESULTS.md section 8 (Household).

Usage::

    python scripts/rerest_churn.py RUN_FOLDER
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def churn(run: Path) -> list[str]:
    """One line per seed: ``arm: solved (kept k/m0, +gained)`` for every arm of the run."""
    recipe = json.loads((run / "recipe.json").read_text())
    arms, seeds = list(recipe["arms"]), recipe["seeds"]
    lines = []
    for seed in seeds:
        m0 = json.loads((run / arms[0] / f"seed-{seed}" / "iter-0" / "eval.json").read_text())["test"]["success"]
        cells = []
        for arm in arms:
            m1 = json.loads((run / arm / f"seed-{seed}" / "iter-1" / "eval.json").read_text())["test"]["success"]
            kept = sum(a and b for a, b in zip(m0, m1))
            gained = sum(b and not a for a, b in zip(m0, m1))
            cells.append(f"{arm}: {sum(m1)} (kept {kept}/{sum(m0)}, +{gained})")
        lines.append(f"seed {seed}: " + "; ".join(cells))
    return lines


if __name__ == "__main__":
    sys.stdout.write("\n".join(churn(Path(sys.argv[1]))) + "\n")
