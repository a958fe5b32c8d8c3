"""Fixtures for the algorithms tests: the tiny model behind the LLM protocol."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_llm():
    import torch

    torch.set_num_threads(1)
    from toolgym.agents.llm.tiny import TinyLM

    return TinyLM(seed=0)
