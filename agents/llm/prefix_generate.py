"""Generation with prefix reuse for :class:`~toolgym.agents.llm.hf.HFLLM`.

Prefill comes in two ways. Batched (:meth:`Decoder.prefill_batched`, the default of
:class:`~toolgym.agents.llm.hf.HFLLM`): the prompts are laid left-padded in one buffer, each takes the longest
prefix found in the :class:`~toolgym.agents.llm.prefix_cache.PrefixCache`, and the columns some prompt still
needs are computed for all of them together, a few forward calls per batch; results agree with the one-by-one
path within floating-point tolerance. One by one (:meth:`Decoder.prefill`): each prompt is prefilled on its own,
without padding, in canonical chunks (:func:`~toolgym.agents.llm.prefix_cache.chunk_cuts`), starting from the
longest stored prefix, and the key/values up to its last cut are stored for the next call; this path is bit for
bit the same with the cache as without it. Then all prompts of the batch decode together: their key/values
are laid side by side in one preallocated buffer, left-padded, with an attention mask and explicit position
ids, and every new token is written in place (no copy of the cache per token). Rows stop at their own stop
strings or end-of-sequence token; when half of the rows have finished, the batch is compacted.

Supported models (:func:`unsupported_reason`) have full-attention layers, and possibly sliding-window ones
(Gemma, Mistral): those keep every key/value here, and the model's sliding-window mask does the rest. Others
(recurrent or chunked layers, encoder-decoders, prompt-learning adapters) use transformers' ``generate``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer, DynamicSlidingWindowLayer
from transformers.generation.logits_process import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

from toolgym.agents.base import SamplingParams
from toolgym.agents.llm.prefix_cache import PrefixCache, chunk_cuts
from toolgym.agents.llm.sampling import call_seeds, row_generators, sample_rows, sampling_warpers

logger = logging.getLogger(__name__)

__all__ = ["CACHE_KEYWORDS", "Decoder", "line_breaks", "probe_cache_keyword", "unsupported_reason"]


class BufferLayer(DynamicLayer):
    """A full-attention cache layer over a preallocated ``[batch, heads, capacity, head_dim]`` buffer.

    New key/values are written in place after the first ``length`` positions (a ``DynamicLayer``
    concatenates, copying the whole cache at every token); ``keys`` / ``values`` are views of the filled part.
    """

    def __init__(self, capacity: int, keys: Any = None, values: Any = None, length: int = 0) -> None:
        """Wrap ``keys`` / ``values`` (filled up to ``length``), or allocate on the first update."""
        super().__init__()
        self.capacity = int(capacity)
        self.length = int(length)
        self._kbuf, self._vbuf = keys, values
        if keys is not None:
            self.dtype, self.device = keys.dtype, keys.device
            self.is_initialized = True
            self._views()

    def _views(self) -> None:
        self.keys = self._kbuf[:, :, : self.length]
        self.values = self._vbuf[:, :, : self.length]

    def lazy_initialization(self, key_states: Any, value_states: Any) -> None:  # noqa: D102 (transformers API)
        b, h, _, dk = key_states.shape
        self._kbuf = key_states.new_empty((b, h, self.capacity, dk))
        self._vbuf = value_states.new_empty((b, h, self.capacity, value_states.shape[-1]))
        self.dtype, self.device = key_states.dtype, key_states.device
        self.is_initialized = True
        self._views()

    def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        """Write the new key/values after the filled part; return the filled part."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > min(self.capacity, self._kbuf.shape[-2]):
            raise RuntimeError(f"BufferLayer: {end} positions needed, capacity {self.capacity}")
        self._kbuf[:, :, self.length : end] = key_states
        self._vbuf[:, :, self.length : end] = value_states
        self.length = end
        self._views()
        return self.keys, self.values

    def get_seq_length(self) -> int:  # noqa: D102
        return self.length

    def crop(self, tokens_to_remove: int) -> None:  # noqa: D102
        if tokens_to_remove < 0:
            self.length = max(0, self.length + tokens_to_remove)
            self._views()

    def batch_select_indices(self, indices: Any) -> None:  # noqa: D102
        self._kbuf = self._kbuf[indices]
        self._vbuf = self._vbuf[indices]
        self._views()

    def batch_repeat_interleave(self, repeats: int) -> None:  # noqa: D102
        self._kbuf = self._kbuf.repeat_interleave(repeats, dim=0)
        self._vbuf = self._vbuf.repeat_interleave(repeats, dim=0)
        self._views()


def _base_model(model: Any) -> Any:
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


def unsupported_reason(model: Any) -> str | None:
    """Why prefix reuse cannot run on ``model`` (``None`` when it can), from its configuration alone.

    It needs a decoder-only model whose transformers cache has one full-attention or sliding-window layer per
    model layer. Whether its forward really takes and fills such a cache, and honours explicit positions and
    padding masks, is checked by running it (:func:`probe_cache_keyword`), not by reading its signature: the
    keywords change between transformers releases (``past_key_values`` became ``cache`` in 5.25).
    """
    config = getattr(model, "config", None)
    if config is None:
        return "the model has no config"
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder models are not supported"
    peft_config = getattr(model, "active_peft_config", None)
    if peft_config is not None and getattr(peft_config, "is_prompt_learning", False):
        return "prompt-learning (prefix/prompt tuning) adapters add virtual tokens to the cache"
    try:
        probe = DynamicCache(config=config)
    except Exception as exc:
        return f"transformers could not build the model's cache ({type(exc).__name__}: {exc})"
    kinds = {type(layer).__name__ for layer in probe.layers if type(layer) not in _LAYERS}
    if kinds:
        return f"its cache has {sorted(kinds)} layers (recurrent or other state), not only attention"
    text = getattr(config, "get_text_config", lambda **_: config)(decoder=True)
    if getattr(text, "attention_chunk_size", None) is not None:
        return "chunked attention layers are not supported"
    return None


#: The keywords under which transformers' forward methods have taken the key/value cache, newest first.
CACHE_KEYWORDS = ("cache", "past_key_values")


def probe_cache_keyword(model: Any, device: Any, vocab_size: int) -> tuple[str | None, str]:
    """Find, by running the model, the keyword its forward takes a cache under; check what the decoder relies on.

    Three tiny forward calls on three token ids: the whole sequence without a cache (the reference), then the
    first two tokens into a cache passed under each keyword of :data:`CACHE_KEYWORDS` and the third on top of it,
    and a left-padded copy of the sequence with its padding masked and explicit position ids. A keyword is taken
    when the cache was filled and both the cached and the padded logits equal the reference.

    Args:
        model: The causal LM (in eval mode, on ``device``).
        device: Where it is.
        vocab_size: Token ids are drawn below this.

    Returns:
        ``(keyword, "")``, or ``(None, why not)``.
    """
    ids = torch.as_tensor([[1 % vocab_size, 2 % vocab_size, 3 % vocab_size]], device=device)
    ones = torch.ones((1, 3), dtype=torch.bool, device=device)
    pos = torch.arange(3, device=device)[None]
    problems = []
    with torch.inference_mode():
        try:
            ref = model(input_ids=ids, attention_mask=ones, position_ids=pos, use_cache=False).logits[0, -1].float()
        except Exception as exc:
            return None, f"a plain forward call failed ({type(exc).__name__}: {exc})"
        tol = 1e-3 + 2e-2 * float(ref.abs().max())
        for keyword in CACHE_KEYWORDS:
            cache = Cache(layer_class_to_replicate=functools.partial(BufferLayer, 4))
            try:
                model(
                    input_ids=ids[:, :2],
                    attention_mask=ones[:, :2],
                    position_ids=pos[:, :2],
                    use_cache=True,
                    **{keyword: cache},
                )
                if cache.get_seq_length() != 2:
                    problems.append(f"{keyword}=: the cache was not filled")
                    continue
                out = model(
                    input_ids=ids[:, 2:],
                    attention_mask=ones,
                    position_ids=pos[:, 2:],
                    use_cache=True,
                    **{keyword: cache},
                )
            except Exception as exc:
                problems.append(f"{keyword}=: {type(exc).__name__}: {exc}")
                continue
            if float((out.logits[0, -1].float() - ref).abs().max()) > tol:
                problems.append(f"{keyword}=: logits after the cache differ from a full forward")
                continue
            padded = torch.cat([ids[:, :1], ids], dim=1)
            mask = torch.tensor([[False, True, True, True]], device=device)
            try:
                out = model(
                    input_ids=padded, attention_mask=mask, position_ids=torch.cat([pos[:, :1], pos], 1), use_cache=False
                )
            except Exception as exc:
                return None, f"a left-padded forward call failed ({type(exc).__name__}: {exc})"
            if float((out.logits[0, -1].float() - ref).abs().max()) > tol:
                return None, "explicit position ids with a padding mask do not give the unpadded logits"
            return keyword, ""
    return None, "no cache keyword works (" + "; ".join(problems) + ")"


_LAYERS = (DynamicLayer, DynamicSlidingWindowLayer)


def _only_full_attention(model: Any) -> bool:
    return all(type(layer) is DynamicLayer for layer in DynamicCache(config=model.config).layers)


def line_breaks(tokenizer: Any) -> np.ndarray:
    """A boolean per vocabulary id: the token's text ends a line (where canonical chunks may be cut)."""
    n = len(tokenizer)
    texts = tokenizer.batch_decode([[i] for i in range(n)], skip_special_tokens=False)
    return np.array([t.endswith("\n") for t in texts], dtype=bool)


@dataclass
class _Row:
    """One prompt after prefill: its cache layers (filled up to ``length``) and the logits of its last token."""

    layers: list[BufferLayer]
    length: int
    logits: Any
    generated: list[int] = field(default_factory=list)
    finish: str | None = None


class Decoder:
    """Prefill with prefix reuse and batched decoding over one model (see the module docstring).

    Args:
        model: A transformers causal LM (checked with :func:`unsupported_reason`).
        tokenizer: Its tokenizer (decodes the stop-string windows, finds line ends).
        store: The prefix store (a disabled one computes every prompt in full, through the same chunks).
        device: Where the model is.
        min_chunk: The fewest tokens of a prefill chunk cut at a line end.
        max_chunk: The most tokens of a prefill chunk.
        cache_keyword: The keyword the model's forward takes the cache under (see :func:`probe_cache_keyword`).
        batched_prefill: Compute the new tokens of all prompts of a call together (:meth:`prefill_batched`)
            instead of one prompt after another in canonical chunks (:meth:`prefill`).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        store: PrefixCache,
        device: Any,
        *,
        min_chunk: int,
        max_chunk: int,
        cache_keyword: str = "past_key_values",
        batched_prefill: bool = False,
    ) -> None:
        """Create the decoder; reads the tokenizer's vocabulary once."""
        self.model = model
        self.tokenizer = tokenizer
        self.store = store
        self.device = device
        self.min_chunk = min_chunk
        self.max_chunk = max_chunk
        self.breaks = line_breaks(tokenizer)
        params = inspect.signature(_base_model(model).forward).parameters
        self.cache_keyword = cache_keyword
        self.batched_prefill = batched_prefill
        self._forward_kwargs: dict[str, Any] = {"use_cache": True}
        if "logits_to_keep" in params:
            self._forward_kwargs["logits_to_keep"] = 1
        # with SDPA, the decoding steps pass the boolean 4D mask directly (transformers would rebuild the same one
        # from the 2D padding mask at every step)
        # (only without sliding-window layers: those get their own mask from the same 2D one)
        sdpa = getattr(getattr(model, "config", None), "_attn_implementation", None) == "sdpa"
        self._mask_4d = sdpa and _only_full_attention(model)
        self._fingerprint = self._weights_fingerprint()

    # ------------------------------------------------------------------------------------------ store safety
    def _weights_fingerprint(self) -> tuple[Any, ...]:
        """A value that changes when the weights change.

        In-place changes (an optimiser step, ``load_state_dict``) bump the parameters' version counters; a
        switch of PEFT adapter changes ``active_adapters``. Either makes the stored key/values stale.
        """
        versions = sum(p._version for p in self.model.parameters())
        return versions, id(self.model), str(getattr(self.model, "active_adapters", ""))

    def check_weights(self) -> None:
        """Clear the store if the model's weights changed since the last call."""
        fp = self._weights_fingerprint()
        if fp != self._fingerprint:
            self.store.clear()
            self._fingerprint = fp

    # ------------------------------------------------------------------------------------------ prefill
    def prefill(self, ids: np.ndarray, capacity: int, into: Sequence[tuple[Any, Any]] | None = None) -> _Row:
        """Compute one prompt's key/values (reusing the store) and its last token's logits.

        Args:
            ids: The prompt's token ids (at least one).
            capacity: The positions of the prompt's cache (at least ``len(ids)``; a batch of one decodes into
                the rest).
            into: Per layer, ``[1, heads, >= capacity, head_dim]`` key and value buffers to write into (a row of
                the batch's buffers); allocated when not given.
        """
        store = self.store
        n = len(ids)
        start, cuts = 0, [0]
        entry = None
        if store.enabled:
            store.stats.lookups += 1
            lcp, entry = store.lookup(ids)
            if entry is not None:
                cuts = [c for c in entry.cuts if c <= min(lcp, n - 1)]
                start = cuts[-1]
        cuts = cuts + chunk_cuts(ids, self.breaks, min_chunk=self.min_chunk, max_chunk=self.max_chunk, start=start)
        if start > 0 and entry is not None:
            store.stats.hits += 1
            store.stats.reused_tokens += start
            layers = []
            for i, (k, v) in enumerate(entry.kv):
                if into is not None:
                    kb, vb = into[i]
                else:
                    kb = k.new_empty((1, k.shape[1], capacity, k.shape[-1]))
                    vb = v.new_empty((1, v.shape[1], capacity, v.shape[-1]))
                kb[:, :, :start] = k[:, :, :start]
                vb[:, :, :start] = v[:, :, :start]
                layers.append(BufferLayer(capacity, kb, vb, start))
            cache = Cache(layers=layers)
        elif into is not None:
            cache = Cache(layers=[BufferLayer(capacity, kb, vb, 0) for kb, vb in into])
        else:
            cache = Cache(layer_class_to_replicate=functools.partial(BufferLayer, capacity))
        store.stats.computed_tokens += n - start
        bounds = [start] + [c for c in cuts if start < c < n] + [n]
        tokens = torch.as_tensor(ids, dtype=torch.long, device=self.device)[None]
        # an all-ones padding mask changes nothing (transformers drops it) but says the input is not padded
        ones = torch.ones((1, n), dtype=torch.bool, device=self.device)
        out = None
        for s, e in zip(bounds, bounds[1:]):
            out = self.model(
                input_ids=tokens[:, s:e],
                attention_mask=ones[:, :e],
                position_ids=torch.arange(s, e, device=self.device)[None],
                **{self.cache_keyword: cache},
                **self._forward_kwargs,
            )
        layers = list(cache.layers)
        last_cut = max(c for c in cuts if c <= n)
        if store.enabled and last_cut > start:
            kv = [(la.keys[:, :, :last_cut].clone(), la.values[:, :, :last_cut].clone()) for la in layers]
            store.put(ids[:last_cut], kv, [c for c in cuts if c <= last_cut])
        return _Row(layers, n, out.logits[0, -1].float())

    # ------------------------------------------------------------------------------------------ decoding
    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        params: SamplingParams,
        *,
        eos_id: int | None,
        pad_id: int,
        is_stopped: Callable[[list[int]], bool] | None,
    ) -> list[tuple[list[int], str]]:
        """Complete a batch of tokenised prompts.

        Args:
            prompts: Token ids per prompt (each non-empty).
            params: Sampling parameters (``max_tokens``, ``temperature``, ``top_p``, and ``seeds``: one per prompt).
            eos_id: The end-of-sequence token (ends a row, not part of its text).
            pad_id: The id shown for left padding to the repetition penalty.
            is_stopped: Given a row's new tokens, whether its text now holds a stop string.

        Returns:
            Per prompt, the new token ids (an end-of-sequence token included) and ``"stop"`` or ``"length"``.
        """
        self.check_weights()
        max_new = params.max_tokens
        ids = [np.asarray(p, dtype=np.int64) for p in prompts]
        lengths = [len(p) for p in ids]
        width = max(lengths)
        t0 = time.perf_counter()
        batched = None
        if self.batched_prefill:
            batched = self.prefill_batched(ids, width + max_new - 1)
            if batched is None:  # non-finite numbers: this model/attention cannot take padded query rows
                logger.warning(
                    "batched prefill gave non-finite logits (padded query rows with this attention implementation); "
                    "prefilling one prompt at a time from now on"
                )
                self.batched_prefill = False
                self.store.clear()  # (its entries end at no canonical cut but their last token)
        if batched is not None:
            rows, layers = batched
            cache = Cache(layers=layers)
            mask = torch.zeros((len(ids), width + max_new), dtype=torch.bool, device=self.device)
            for i, n in enumerate(lengths):
                mask[i, width - n :] = True
        elif len(ids) == 1:  # no padding: the prompt's own buffer has room for the new tokens
            rows = [self.prefill(ids[0], capacity=width + max_new)]
            cache = Cache(layers=rows[0].layers)
            mask = torch.ones((1, width + max_new), dtype=torch.bool, device=self.device)
        else:
            rows, layers = self._prefill_batch(ids, width, width + max_new - 1)
            cache = Cache(layers=layers)
            mask = torch.zeros((len(ids), width + max_new), dtype=torch.bool, device=self.device)
            for i, n in enumerate(lengths):
                mask[i, width - n :] = True
        t1 = time.perf_counter()
        self.store.stats.prefill_s += t1 - t0

        processors = self._processors(params)
        generators = None
        if params.temperature > 0:
            seeds = call_seeds(params, len(rows))
            generators = row_generators(seeds or [], rows[0].logits.device)
        history = None
        if any(isinstance(p, RepetitionPenaltyLogitsProcessor) for p in processors):
            history = torch.full((len(rows), width + max_new), pad_id, dtype=torch.long, device=self.device)
            for i, p in enumerate(ids):
                history[i, width - len(p) : width] = torch.as_tensor(p, device=self.device)
        positions = torch.as_tensor(lengths, dtype=torch.long, device=self.device)
        logits = torch.stack([r.logits for r in rows])
        live = list(range(len(rows)))  # row index of each batch position
        for step in range(max_new):
            if history is not None:
                logits = processors(history[:, : width + step], logits)
            elif processors:
                logits = processors(None, logits)
            if generators is None:
                nxt = torch.argmax(logits, dim=-1)
            else:  # each row with its own generator: its samples do not depend on the other rows
                nxt = sample_rows(logits, [generators[i] for i in live])
            values = nxt.tolist()
            for b, i in enumerate(live):
                row = rows[i]
                if row.finish is not None:
                    continue
                row.generated.append(values[b])
                if eos_id is not None and values[b] == eos_id:
                    row.finish = "stop"
                elif is_stopped is not None and is_stopped(row.generated):
                    row.finish = "stop"
                elif len(row.generated) >= max_new:
                    row.finish = "length"
            if history is not None:
                history[:, width + step] = nxt
            keep = [b for b, i in enumerate(live) if rows[i].finish is None]
            if not keep:
                break
            if len(keep) <= len(live) // 2:  # compact: finished rows stop costing compute
                index = torch.as_tensor(keep, device=self.device)
                for layer in cache.layers:
                    layer.batch_select_indices(index)
                nxt, positions = nxt[index], positions[index]
                mask = mask[index]
                history = history[index] if history is not None else None
                live = [live[b] for b in keep]
            seen = cache.get_seq_length()
            if self._mask_4d and len(rows) > 1:
                step_mask = mask[:, None, None, : seen + 1]
            else:  # (one row: all ones, which transformers drops)
                step_mask = mask[:, : seen + 1]
            out = self.model(
                input_ids=nxt[:, None],
                attention_mask=step_mask,
                position_ids=positions[:, None],
                **{self.cache_keyword: cache},
                **self._forward_kwargs,
            )
            positions = positions + 1
            logits = out.logits[:, -1].float()
        self.store.stats.decode_s += time.perf_counter() - t1
        return [(r.generated, r.finish or "length") for r in rows]

    def prefill_batched(self, ids: Sequence[np.ndarray], capacity: int) -> tuple[list[_Row], list[BufferLayer]] | None:
        """Prefill every prompt together: one forward call per column window for the whole batch.

        The prompts are laid right-aligned at ``width`` (their longest length), left-padded, in one
        ``[rows, heads, capacity, head_dim]`` buffer per layer (the layout decoding continues in). Each prompt
        takes the longest prefix the store holds (any length, up to its last token but one); the columns from
        ``width - M`` on, where ``M`` is the most tokens any prompt has left to compute, are then computed for all
        rows at once, in windows of at most ``max_chunk`` columns. A row whose stored prefix reaches into those
        columns recomputes that part (it would be padding otherwise, so this costs nothing). Each row's whole
        prompt is stored afterwards.

        Unlike :meth:`prefill`, the forward calls depend on the other prompts of the batch, so the results equal
        the one-by-one path within floating-point tolerance (greedy completions agree except at near ties), not
        bit for bit.

        Args:
            ids: Token ids per prompt (each non-empty).
            capacity: The positions of the buffers (at least the longest prompt; decoding writes after it).

        Returns:
            The rows (logits of each prompt's last token) and the cache layers, filled up to ``width``; ``None``
            (nothing stored) when the logits are not finite: an attention implementation that gives NaN for a
            query row whose keys are all masked (the padding) spoils the other rows through it.
        """
        store = self.store
        lengths = [len(p) for p in ids]
        width, n_rows = max(lengths), len(ids)
        starts = [width - n for n in lengths]
        reused: list[tuple[int, Any]] = []
        for p in ids:
            r, entry = 0, None
            if store.enabled:
                store.stats.lookups += 1
                lcp, entry = store.lookup(p)
                r = min(lcp, len(p) - 1) if entry is not None else 0
            reused.append((r, entry if r > 0 else None))
        c0 = width - max(n - r for n, (r, _) in zip(lengths, reused))
        for (_, entry), start in zip(reused, starts):
            take = max(0, c0 - start)  # the stored tokens left of the computed columns
            if entry is not None and take > 0:
                store.stats.hits += 1
                store.stats.reused_tokens += take
        store.stats.computed_tokens += sum(width - max(s, c0) for s in starts)
        source = next((e for r, e in reused if e is not None and c0 > 0), None)
        if source is None:  # nothing to copy in: the buffers are allocated by the first forward call
            cache = Cache(layer_class_to_replicate=functools.partial(BufferLayer, capacity))
        else:
            layers = []
            for li, (k, v) in enumerate(source.kv):
                kb = k.new_zeros((n_rows, k.shape[1], capacity, k.shape[-1]))
                vb = v.new_zeros((n_rows, v.shape[1], capacity, v.shape[-1]))
                for i, ((_, entry), start) in enumerate(zip(reused, starts)):
                    take = c0 - start
                    if entry is not None and take > 0:
                        ek, ev = entry.kv[li]
                        kb[i, :, start:c0] = ek[0, :, :take]
                        vb[i, :, start:c0] = ev[0, :, :take]
                layers.append(BufferLayer(capacity, kb, vb, c0))
            cache = Cache(layers=layers)
        pad = int(ids[0][0])
        tokens = np.full((n_rows, width), pad, dtype=np.int64)
        for i, (p, start) in enumerate(zip(ids, starts)):
            tokens[i, start:] = p
        tokens_t = torch.as_tensor(tokens, device=self.device)
        cols = torch.arange(width, device=self.device)[None]
        start_t = torch.as_tensor(starts, dtype=torch.long, device=self.device)[:, None]
        mask = cols >= start_t
        positions = (cols - start_t).clamp(min=0)
        out = None
        bounds = list(range(c0, width, self.max_chunk)) + [width]
        for s, e in zip(bounds, bounds[1:]):
            out = self.model(
                input_ids=tokens_t[:, s:e],
                attention_mask=mask[:, :e],
                position_ids=positions[:, s:e],
                **{self.cache_keyword: cache},
                **self._forward_kwargs,
            )
        logits = out.logits[:, -1].float()
        if not bool(torch.isfinite(logits).all()):
            return None
        layers = list(cache.layers)
        # the padding is masked, but must hold finite numbers (0 x NaN is NaN in the attention's weighted sum)
        pad_mask = ~mask[:, None, :, None]
        for la in layers:
            la._kbuf[:, :, :width].masked_fill_(pad_mask, 0)
            la._vbuf[:, :, :width].masked_fill_(pad_mask, 0)
        if store.enabled:
            for i, (p, start) in enumerate(zip(ids, starts)):
                kv = [
                    (la._kbuf[i : i + 1, :, start:width].clone(), la._vbuf[i : i + 1, :, start:width].clone())
                    for la in layers
                ]
                store.put(p, kv, (0, len(p)))
        return [_Row([], n, logits[i]) for i, n in enumerate(lengths)], layers

    def prompt_logits(self, prompts: Sequence[Sequence[int]]) -> Any:
        """The logits after each prompt's last token, ``[prompts, vocab]``, through this decoder's prefill path.

        Stores prefixes like :meth:`generate` does (tests compare the batched and one-by-one paths with it).
        """
        ids = [np.asarray(p, dtype=np.int64) for p in prompts]
        with torch.inference_mode():
            batched = self.prefill_batched(ids, max(len(p) for p in ids)) if self.batched_prefill else None
            if batched is not None:
                rows = batched[0]
            else:
                rows = [self.prefill(p, capacity=len(p)) for p in ids]
        return torch.stack([r.logits for r in rows])

    def _prefill_batch(self, ids: list[np.ndarray], width: int, capacity: int) -> tuple[list[_Row], list[BufferLayer]]:
        """Prefill every prompt into its row of one left-padded buffer per layer.

        The ``[rows, heads, capacity, head_dim]`` buffers are allocated once the first prompt shows the layers'
        shapes; the others are computed in place.
        """
        first = self.prefill(ids[0], capacity=len(ids[0]))
        keys, values = [], []
        for layer in first.layers:
            k, v = layer.keys, layer.values
            kb = k.new_empty((len(ids), k.shape[1], capacity, k.shape[-1]))
            vb = v.new_empty((len(ids), v.shape[1], capacity, v.shape[-1]))
            for i, p in enumerate(ids):  # the padding is masked, but must hold finite numbers
                kb[i, :, : width - len(p)] = 0
                vb[i, :, : width - len(p)] = 0
            pad = width - len(ids[0])
            kb[0, :, pad:width] = k[0]
            vb[0, :, pad:width] = v[0]
            keys.append(kb)
            values.append(vb)
        first.layers = []
        rows = [first]
        for i in range(1, len(ids)):
            pad = width - len(ids[i])
            into = [(kb[i : i + 1, :, pad:], vb[i : i + 1, :, pad:]) for kb, vb in zip(keys, values)]
            row = self.prefill(ids[i], capacity=len(ids[i]), into=into)
            row.layers = []
            rows.append(row)
        return rows, [BufferLayer(capacity, kb, vb, width) for kb, vb in zip(keys, values)]

    def _processors(self, params: SamplingParams) -> LogitsProcessorList:
        """The model's repetition penalty, and for sampling: temperature, top-k, top-p, min-p (as ``generate``)."""
        cfg = getattr(self.model, "generation_config", None)
        procs = LogitsProcessorList()
        penalty = getattr(cfg, "repetition_penalty", None)
        if penalty is not None and float(penalty) != 1.0:
            procs.append(RepetitionPenaltyLogitsProcessor(float(penalty)))
        procs.extend(sampling_warpers(cfg, params))
        return procs
