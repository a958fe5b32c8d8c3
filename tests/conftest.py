"""Shared fixtures and helpers for toolgym's tests."""

from __future__ import annotations

import os
import shutil

import gymnasium as gym
import pytest

import toolgym  # noqa: F401  (registers the environments)


def pytest_configure(config: pytest.Config) -> None:
    # Tests measure nothing about threading; one torch thread keeps them fast on a shared 2-core machine.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def make_env():
    """Build envs with gym.make and close them after the test."""
    made = []

    def _make(env_id: str, **kwargs):
        env = gym.make(env_id, **kwargs)
        made.append(env)
        return env

    yield _make
    for env in made:
        env.close()


def calc_then_finish(text: str) -> str:
    """A scripted ReAct step on ToolChoice-Arithmetic: calc the question's expression, then finish with its value."""
    episode = text.rsplit("Question:", 1)[1]
    if "Observation 1:" in episode:
        value = episode.split("Observation 1: ", 1)[1].split("\n", 1)[0]
        return f" The calculator says {value}.\nAction 2: finish[{value}]"
    task = text.rsplit("Question: What is ", 1)[1].split("?", 1)[0]
    return f" I will compute it.\nAction 1: calc[{task}]"


@pytest.fixture
def calc_step():
    """:func:`calc_then_finish`, for scripted models that solve arithmetic when their prompt says they should."""
    return calc_then_finish


def require_binary(name: str) -> pytest.MarkDecorator:
    """Skip unless an executable is on PATH."""
    return pytest.mark.skipif(shutil.which(name) is None, reason=f"{name} is not installed")
