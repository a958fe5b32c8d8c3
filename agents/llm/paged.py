"""Paged continuous batching for :class:`~toolgym.agents.llm.hf.HFLLM` (``engine="paged"``).

transformers' continuous-batching manager (``model.init_continuous_batching``, the engine behind
``model.generate_batch``) keeps the key/values in fixed-size pages, schedules prefill and decoding of many
requests in one varlen batch, and shares the pages of common prompt prefixes between requests (block sharing).
:class:`PagedEngine` drives one manager per model: started on the first call and kept running between calls
(its shared pages are the prefix cache), restarted when the sampling settings or the model's weights change,
and stopped by :meth:`PagedEngine.close`. Its pages stay allocated while it runs: in a training loop, call
``llm.clear_cache()`` (which stops it) before a training step that needs the memory.

What differs from the default engine (:mod:`toolgym.agents.llm.prefix_generate`):

* stop strings: each request streams its tokens and is cancelled once its text holds a stop string; the
  completion is cut there as usual (the manager may have computed a few more tokens, which are dropped);
* sampling: one seed per manager (``params.seed``, or the first of ``params.seeds``), not one generator per
  prompt, so a sample depends on the batch it ran in; greedy decoding does not;
* the model's repetition penalty and other logits processors of its generation config are applied by
  transformers' own continuous-batching processors (unsupported ones are dropped);
* a half-precision model may be switched to a flash-attention implementation while the manager runs, and an
  ``eager`` one to ``paged|eager``; the original is restored when the manager stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from toolgym.agents.base import LLMError, SamplingParams

__all__ = ["PagedEngine", "paged_unavailable_reason"]

#: Continuous-batching settings used on a CPU unless given: transformers sizes the cache from free GPU memory.
CPU_DEFAULTS: dict[str, Any] = {"num_blocks": 1024, "max_batch_tokens": 2048, "page_size": 32, "use_cuda_graph": False}
#: Used on a GPU unless given: the page pool takes 30% of the free memory (transformers' default, 80-90%, leaves
#: nothing for a trainer sharing the GPU).
GPU_DEFAULTS: dict[str, Any] = {"max_memory_percent": 0.3}


def paged_unavailable_reason(model: Any) -> str | None:
    """Why ``model`` cannot run with paged continuous batching (``None`` when it can)."""
    if not callable(getattr(model, "init_continuous_batching", None)):
        return (
            f"{type(model).__name__} has no init_continuous_batching (transformers >= 5 with continuous batching, and "
            "a transformers PreTrainedModel rather than a PEFT wrapper, are needed)"
        )
    cfg = getattr(model, "config", None)
    if cfg is not None and getattr(cfg, "is_encoder_decoder", False):
        return "encoder-decoder models are not supported by continuous batching"
    return None


class PagedEngine:
    """One continuous-batching manager over a model, behind a ``generate``-like call.

    Args:
        model: A transformers causal LM (see :func:`paged_unavailable_reason`).
        tokenizer: Its tokenizer (decodes the streamed tokens to find stop strings).
        device: Where the model is (a CPU gets :data:`CPU_DEFAULTS`).
        options: ``ContinuousBatchingConfig`` fields (e.g. ``num_blocks``, ``max_batch_tokens``, ``page_size``).
        timeout_s: The most seconds one call may wait for a result before failing.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        device: Any,
        options: Mapping[str, Any] | None = None,
        *,
        timeout_s: float = 600.0,
    ) -> None:
        """Create the engine; the manager starts on the first :meth:`generate`."""
        reason = paged_unavailable_reason(model)
        if reason is not None:
            raise LLMError(f"engine='paged': {reason}.")
        self.model = model
        self.tokenizer = tokenizer
        self.options = dict(options or {})
        cpu = getattr(device, "type", str(device)) == "cpu"
        self.options = {**(CPU_DEFAULTS if cpu else GPU_DEFAULTS), **self.options}
        self.timeout_s = timeout_s
        self._manager: Any = None
        self._key: tuple[Any, ...] | None = None

    # ------------------------------------------------------------------------------------------ manager
    def _weights_version(self) -> int:
        return sum(p._version for p in self.model.parameters())

    def _ensure(self, params: SamplingParams, eos_id: int | None, pad_id: int | None) -> Any:
        seed = params.seed if params.seed is not None else (params.seeds[0] if params.seeds else None)
        key = (params.temperature, params.top_p, seed if params.temperature > 0 else None, self._weights_version())
        if self._manager is not None and key == self._key:
            return self._manager
        self.close()
        from transformers import ContinuousBatchingConfig, GenerationConfig

        base = getattr(self.model, "generation_config", None)
        gen = GenerationConfig.from_dict(base.to_dict()) if base is not None else GenerationConfig()
        sample = params.temperature > 0
        gen.update(
            do_sample=sample,
            temperature=params.temperature if sample else None,
            top_p=params.top_p if sample else None,
            top_k=None if not sample else getattr(base, "top_k", None),
            eos_token_id=eos_id if eos_id is not None else -1,
            pad_token_id=pad_id,
            max_new_tokens=params.max_tokens,
        )
        try:
            cb = ContinuousBatchingConfig(**{**self.options, **({"seed": seed} if sample and seed is not None else {})})
        except TypeError as exc:
            raise LLMError(f"engine='paged': bad continuous-batching option: {exc}.") from exc
        manager = self.model.init_continuous_batching(generation_config=gen, continuous_batching_config=cb)
        manager.start()
        self._manager, self._key = manager, key
        return manager

    def close(self) -> None:
        """Stop the manager (its pages are freed; the model's attention implementation is restored)."""
        manager, self._manager, self._key = self._manager, None, None
        if manager is not None:
            manager.stop(block=True, timeout=10)
            manager.destroy()

    # ------------------------------------------------------------------------------------------ generation
    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        params: SamplingParams,
        *,
        eos_id: int | None,
        pad_id: int | None,
        is_stopped: Callable[[list[int]], bool] | None,
    ) -> list[tuple[list[int], str]]:
        """Complete tokenised prompts (the contract of :meth:`~toolgym.agents.llm.prefix_generate.Decoder.generate`).

        Returns:
            Per prompt, the new token ids (an end-of-sequence token included) and ``"stop"`` or ``"length"``.
        """
        manager = self._ensure(params, eos_id, pad_id)
        streaming = is_stopped is not None
        ids = manager.add_requests(
            inputs=[list(map(int, p)) for p in prompts], max_new_tokens=params.max_tokens, streaming=streaming
        )
        index = {rid: i for i, rid in enumerate(ids)}
        results: list[tuple[list[int], str] | None] = [None] * len(ids)
        pending = len(ids)
        deadline = time.monotonic() + self.timeout_s
        while pending:
            out = manager.get_result(timeout=0.05)
            if out is None:
                if not manager.is_running():
                    raise LLMError("engine='paged': the continuous-batching loop stopped unexpectedly.")
                if time.monotonic() > deadline:
                    raise LLMError(f"engine='paged': no result within {self.timeout_s} s.")
                continue
            i = index.get(out.request_id)
            if i is None or results[i] is not None:  # a cancelled or earlier request's late output
                continue
            if out.error is not None:
                raise LLMError(f"engine='paged': request failed: {out.error}")
            tokens = list(out.generated_tokens)
            finish = None
            if eos_id is not None and eos_id in tokens:
                tokens = tokens[: tokens.index(eos_id) + 1]
                finish = "stop"
            elif streaming and tokens:
                cut = _first_stop(tokens, is_stopped)
                if cut is not None:
                    tokens, finish = tokens[:cut], "stop"
                    if not out.is_finished():
                        manager.cancel_request(out.request_id)
            if finish is None and out.is_finished():
                tokens = tokens[: params.max_tokens]
                finish = "length" if len(tokens) >= params.max_tokens else "stop"
            if finish is not None:
                results[i] = (tokens, finish)
                pending -= 1
        return [r for r in results if r is not None]


def _first_stop(tokens: list[int], is_stopped: Callable[[list[int]], bool] | None) -> int | None:
    """The fewest leading tokens whose text holds a stop string (``None`` when none does)."""
    if is_stopped is None or not is_stopped(tokens):
        return None
    n = len(tokens)
    while n > 1 and is_stopped(tokens[: n - 1]):
        n -= 1
    return n
