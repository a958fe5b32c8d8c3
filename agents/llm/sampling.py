"""Sampling for the local backends: one random generator per prompt, and the logits warpers of ``generate``.

Every prompt of a :meth:`~toolgym.agents.base.LLM.generate` call samples from its own ``torch.Generator``,
seeded by :meth:`~toolgym.agents.base.SamplingParams.prompt_seeds` (or, without a seed, from a base seed drawn
from torch's global generator, which advances it). So k copies of one prompt give k independent samples, two
calls give different samples, and a seed gives the same samples however the prompts are split into batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers.generation.logits_process import (
    LogitsProcessor,
    LogitsProcessorList,
    MinPLogitsWarper,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from toolgym.agents.base import SamplingParams, mix_seed

__all__ = ["RowSampler", "call_seeds", "row_generators", "sample_rows", "sampling_warpers"]


def call_seeds(params: SamplingParams, n: int) -> list[int] | None:
    """The seed of each of ``n`` prompts (``None`` for greedy decoding).

    With neither ``seeds`` nor ``seed`` set, a base seed is drawn from torch's global generator (advancing it,
    so that the next call samples differently and ``torch.manual_seed`` makes a run repeatable).
    """
    if params.temperature <= 0:
        return None
    seeds = params.prompt_seeds(n)
    if seeds is None:
        base = int(torch.randint(0, 2**62, (1,)).item())
        seeds = [mix_seed(base, i) for i in range(n)]
    return seeds


def row_generators(seeds: Sequence[int], device: Any) -> list[torch.Generator]:
    """One generator per prompt, on ``device``."""
    out = []
    for seed in seeds:
        gen = torch.Generator(device=device)
        gen.manual_seed(int(seed))
        out.append(gen)
    return out


def sampling_warpers(generation_config: Any, params: SamplingParams) -> LogitsProcessorList:
    """Temperature, top-k, top-p and min-p, in the order and with the defaults of transformers' ``generate``.

    ``top_k`` and ``min_p`` come from the model's generation config (transformers' default top-k is 50).
    """
    procs = LogitsProcessorList()
    if params.temperature <= 0:
        return procs
    if float(params.temperature) != 1.0:
        procs.append(TemperatureLogitsWarper(float(params.temperature)))
    top_k = getattr(generation_config, "top_k", None)
    top_k = 50 if top_k is None else int(top_k)
    if top_k > 0:
        procs.append(TopKLogitsWarper(top_k))
    if float(params.top_p) < 1.0:
        procs.append(TopPLogitsWarper(float(params.top_p)))
    min_p = getattr(generation_config, "min_p", None)
    if min_p:
        procs.append(MinPLogitsWarper(float(min_p)))
    return procs


def sample_rows(logits: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """One token per row of ``logits``, row ``b`` drawn with ``generators[b]``."""
    probs = torch.softmax(logits.float(), dim=-1)
    picks = [torch.multinomial(probs[b], 1, generator=g) for b, g in enumerate(generators)]
    return torch.cat(picks)


class RowSampler(LogitsProcessor):
    """A logits processor that samples each row with its own generator and leaves only that token possible.

    Put last in the processor list of a *greedy* ``generate`` call (after :func:`sampling_warpers`), it turns the
    argmax into a per-row seeded sample, which ``generate``'s own sampling (one global generator) cannot give.

    Args:
        generators: One generator per row of the batch.
    """

    def __init__(self, generators: Sequence[torch.Generator]) -> None:
        """Keep the generators (one per row)."""
        self.generators = list(generators)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Return scores that are ``-inf`` except at each row's sampled token."""
        if scores.shape[0] != len(self.generators):
            raise ValueError(f"RowSampler: expected {len(self.generators)} rows, got {scores.shape[0]}.")
        chosen = sample_rows(scores, self.generators)
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, chosen[:, None], 0.0)
        return out
