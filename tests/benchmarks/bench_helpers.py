"""Helpers for the benchmarks tests: small suites, CLI subprocesses, record comparison."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from toolgym.benchmarks.records import TIMING_FIELDS

ARITH = "toolgym/ToolChoice-Arithmetic-v0"


def mini_suite(name: str = "mini", **over) -> dict:
    """A fast deterministic suite: the arithmetic env, expert/random/heuristic, two seeds of three episodes."""
    suite = {
        "name": name,
        "seeds": [0, 1],
        "episodes": 3,
        "envs": [{"id": ARITH}],
        "policies": [{"name": "expert"}, {"name": "random"}, {"name": "heuristic"}],
    }
    suite.update(over)
    return suite


def write_suite(path: Path, suite: dict) -> Path:
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


def comparable(records: list[dict]) -> list[dict]:
    """Records without timing fields, sorted by key (what two runs of a deterministic suite share)."""
    return sorted(({k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records), key=lambda r: r["key"])


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cli_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS",)}
    env.update(OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "toolgym.benchmarks.cli", *args]


def run_cli(*args: str, prefix: tuple[str, ...] = (), timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, *cli_command(*args)], capture_output=True, text=True, env=cli_env(), timeout=timeout
    )
