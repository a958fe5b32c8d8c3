"""toolgym.benchmarks: benchmark suites, the sweep runner, results, reports and the ``toolgym`` CLI.

::

    from toolgym.benchmarks import run_suite, leaderboard, write_report
    result = run_suite("quick", "runs/quick")          # or a YAML path, a dict, a Suite
    print(leaderboard(result.out))
    write_report(result.out)                            # runs/quick/report.html

``HeuristicPolicy``, the rule-based baseline, lives in :mod:`toolgym.agents.heuristic` (``make_policy("heuristic")``);
it is re-exported here.
"""

from toolgym.agents.heuristic import HeuristicPolicy
from toolgym.benchmarks.plan import Cell, EpisodeRef, Plan, resolve
from toolgym.benchmarks.runner import RunResult, plan_suite, run_suite
from toolgym.benchmarks.store import ResultStore, RunDirError, StoreError, read_meta, read_records
from toolgym.benchmarks.suite import EnvEntry, PolicyEntry, Suite, builtin_suites, load_suite, suite_hash

__all__ = [
    "Cell",
    "EnvEntry",
    "EpisodeRef",
    "HeuristicPolicy",
    "Plan",
    "PolicyEntry",
    "ResultStore",
    "RunDirError",
    "RunResult",
    "StoreError",
    "Suite",
    "builtin_suites",
    "load_suite",
    "plan_suite",
    "read_meta",
    "read_records",
    "resolve",
    "run_suite",
    "suite_hash",
]
