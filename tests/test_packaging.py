"""Guards for the package layout: every subpackage listed in setup.cfg, and a real non-editable install."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _options():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    mapping = {}
    for line in cfg["options"]["package_dir"].strip().splitlines():
        name, folder = (p.strip() for p in line.split("="))
        mapping[name] = folder
    packages = {p.strip() for p in cfg["options"]["packages"].strip().splitlines()}
    return mapping, packages


def test_every_subpackage_is_listed_in_setup_cfg():
    mapping, packages = _options()
    found = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    missing = sorted(found - packages)
    assert not missing, f"add these to setup.cfg [options] packages: {missing}"
    stale = sorted(packages - found)
    assert not stale, f"setup.cfg lists packages with no __init__.py: {stale}"


def test_top_level_folders_are_mapped():
    mapping, _ = _options()
    assert mapping == {
        "toolgym": "toolgym",
        "toolgym.envs": "envs",
        "toolgym.agents": "agents",
        "toolgym.algorithms": "algorithms",
        "toolgym.benchmarks": "benchmarks",
    }


def test_imported_from_the_checkout_or_an_install():
    import toolgym
    import toolgym.envs

    assert Path(toolgym.envs.__file__).parent.name in {"envs"}


@pytest.mark.slow
def test_non_editable_install(tmp_path):
    """`pip install .` builds a wheel with every subpackage; it imports and makes an env from elsewhere."""
    target = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(ROOT)],
        check=True,
        env=env,
        cwd=tmp_path,
    )
    code = (
        "import gymnasium as gym, toolgym, pathlib;"
        f"assert pathlib.Path(toolgym.__file__).is_relative_to(pathlib.Path(r'{target}')), toolgym.__file__;"
        "import toolgym.envs.arithmetic, toolgym.agents, toolgym.algorithms, toolgym.benchmarks.cli, toolgym.sandbox;"
        "env = gym.make('toolgym/ToolChoice-Arithmetic-v0'); print(env.reset(seed=0))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(target)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "Question: What is" in out.stdout
    assert (target / "toolgym" / "py.typed").is_file()
    assert (target / "toolgym" / "sandbox" / "_worker.py").is_file()  # read as source, never imported
