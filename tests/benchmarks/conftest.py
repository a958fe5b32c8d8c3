"""Fixtures for the benchmarks tests; the helpers live in bench_helpers.py (importable from these tests)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_helpers import mini_suite, write_suite  # noqa: E402


@pytest.fixture
def suite_file(tmp_path):
    """Write a mini suite (with overrides) to a YAML file and return its path."""

    def _make(**over) -> Path:
        return write_suite(tmp_path / f"{over.get('name', 'mini')}.yaml", mini_suite(**over))

    return _make
