"""Hugging Face transformers causal language models, with batched generation.

:class:`HFLLM` loads a model lazily (on the first :meth:`HFLLM.generate` or an explicit :meth:`HFLLM.load`,
never at import or construction) from a hub id or a local folder, optionally from a GGUF file
(``gguf_file=``, dequantised by transformers) and with a PEFT adapter (``adapter=``). Prompts are batched,
sorted by length so that padding is small; generation stops at the stop strings (for every row of the
batch) and the completions are cut before them. Chat prompts go through the tokenizer's chat template when
it has one (else a plain ``System:/User:/Assistant:`` rendering).

With the prefix cache (on by default where the model allows it), the key/values of earlier prompts are
kept, each prompt computes only what no stored prefix covers (each on its own in canonical chunks, or all prompts
of a batch together with ``batched_prefill=True``), and the batch decodes together
(:mod:`toolgym.agents.llm.prefix_cache`, :mod:`toolgym.agents.llm.prefix_generate`); the completions are
the same as without it. Otherwise transformers' ``generate`` runs over a left-padded batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from toolgym.agents.base import Completion, LLMError, LLMStats, Prompt, SamplingParams
from toolgym.agents.llm.common import Releasable, cut_at_stop, free_memory, normalize_prompts, render_with_template
from toolgym.agents.llm.prefix_cache import PrefixCache
from toolgym.error import ConfigError, require

__all__ = ["HFLLM"]

logger = logging.getLogger(__name__)

_DTYPES = ("auto", "float32", "bfloat16", "float16")


class HFLLM(Releasable):
    """A transformers causal LM behind the :class:`~toolgym.agents.base.LLM` protocol.

    Args:
        model: A hub id or local folder (loaded lazily), or an already built ``PreTrainedModel``.
        tokenizer: A tokenizer object, or a hub id / folder (default: the model's).
        gguf_file: The GGUF file name inside ``model`` (a folder), e.g. Gemma-3-270M Q4_K_M.
        adapter: A PEFT adapter folder to load on top of the model.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``"auto"`` (CUDA when available); default
            ``None``: where a given model object already is (a model trained on a GPU stays there), else the CPU.
        dtype: ``"auto"``, ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        batch_size: The most prompts per forward batch (larger batches are split).
        max_context: The most prompt + new tokens; longer prompts keep their end (default: the model's
            ``max_position_embeddings`` / ``n_positions``).
        chat_template: ``"auto"`` (use the tokenizer's template when it has one), ``"plain"`` (always the plain
            rendering), or a Jinja template string to set.
        prefix_cache: Reuse the key/values of earlier prompts (see :mod:`toolgym.agents.llm.prefix_cache`):
            ``"auto"`` (on for decoder-only models with full-attention and sliding-window layers, the common
            case; others use transformers' ``generate``), ``True`` (on; a model that cannot raises
            ``ConfigError`` at load), or ``False`` (off: transformers' ``generate`` as before). Completions are
            the same with it as without it; a ReAct step then computes only its new tokens.
        prefix_cache_entries: The most prompt prefixes kept (least recently used dropped first).
        prefix_cache_bytes: The most bytes of key/values kept (on the model's device).
        prefill_chunk: The most prompt tokens per forward call when prefilling with the prefix cache.
        prefill_min_chunk: With the prefix cache, prompts are computed in chunks cut at the first line end after
            ``prefill_min_chunk`` tokens (or at ``prefill_chunk``); a stored prefix is reused up to such a cut.
            Smaller chunks recompute less of the previous prompt, larger ones make fewer forward calls.
        batched_prefill: With the prefix cache, compute the new tokens of all prompts of a batch together, in
            one forward call per ``prefill_chunk`` columns (``True``: far fewer calls, which is what a GPU needs;
            the completions agree with the uncached ones within floating-point tolerance), or each prompt on its
            own in canonical chunks (``False``, the default: the completions are bit for bit the same with the
            cache as without it; on a CPU this path is also the faster, see benchmarks/perf/rollout_throughput.py).
        engine: ``"auto"`` (the prefix-cache decoder, or transformers' ``generate`` per ``prefix_cache``) or
            ``"paged"``: transformers' paged continuous batching (:mod:`toolgym.agents.llm.paged`, which lists what
            differs: stop strings end a streamed request, one sampling seed per call rather than per prompt). All
            prompts of a call then go to it at once (``batch_size`` does not split them).
        paged_options: With ``engine="paged"``, ``transformers.ContinuousBatchingConfig`` fields (``num_blocks``,
            ``max_batch_tokens``, ``page_size``, ...); a CPU gets small defaults.
        cache: Without the prefix cache, the key/value cache of transformers' ``generate``: ``"static"``
            (preallocated: no copy of the whole cache at each new token, much faster for batches),
            ``"dynamic"`` (transformers' default), or ``"auto"`` (static, falling back to dynamic for models
            that do not support it).
        trust_remote_code: Passed to ``from_pretrained``.
        name: The name recorded in results (default ``"hf:<model>"``).

    Example:
        >>> llm = HFLLM("Qwen/Qwen2.5-0.5B-Instruct")  # nothing is loaded yet
        >>> llm.name, llm.loaded
        ('hf:Qwen/Qwen2.5-0.5B-Instruct', False)
    """

    supports_images = False

    def __init__(
        self,
        model: Any,
        *,
        tokenizer: Any = None,
        gguf_file: str | None = None,
        adapter: str | None = None,
        device: str | None = None,
        dtype: str = "auto",
        batch_size: int = 16,
        max_context: int | None = None,
        chat_template: str = "auto",
        prefix_cache: bool | str = "auto",
        prefix_cache_entries: int = 64,
        prefix_cache_bytes: int = 1 << 30,
        prefill_chunk: int = 256,
        prefill_min_chunk: int = 32,
        batched_prefill: bool = False,
        engine: str = "auto",
        paged_options: dict[str, Any] | None = None,
        cache: str = "auto",
        trust_remote_code: bool = False,
        name: str | None = None,
    ) -> None:
        """Create the backend (see the class docstring); nothing is loaded here."""
        if dtype not in _DTYPES:
            raise ConfigError(f"HFLLM.dtype: expected one of {list(_DTYPES)}, got {dtype!r}.")
        if cache not in ("auto", "static", "dynamic"):
            raise ConfigError(f"HFLLM.cache: expected 'auto', 'static' or 'dynamic', got {cache!r}.")
        if prefix_cache not in (True, False, "auto"):
            raise ConfigError(f"HFLLM.prefix_cache: expected 'auto', True or False, got {prefix_cache!r}.")
        if not isinstance(prefill_min_chunk, int) or prefill_min_chunk < 1:
            raise ConfigError(f"HFLLM.prefill_min_chunk: expected an int >= 1, got {prefill_min_chunk!r}.")
        if not isinstance(prefill_chunk, int) or prefill_chunk < prefill_min_chunk:
            raise ConfigError(
                f"HFLLM.prefill_chunk: expected an int >= prefill_min_chunk ({prefill_min_chunk}), "
                f"got {prefill_chunk!r}."
            )
        if engine not in ("auto", "paged"):
            raise ConfigError(f"HFLLM.engine: expected 'auto' or 'paged', got {engine!r}.")
        if not isinstance(batched_prefill, bool):
            raise ConfigError(f"HFLLM.batched_prefill: expected True or False, got {batched_prefill!r}.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"HFLLM.batch_size: expected a positive int, got {batch_size!r}.")
        if isinstance(model, str) and not model.strip():
            raise ConfigError("HFLLM.model: expected a hub id, a local folder or a model object, got ''.")
        self._model_spec = model
        self._tokenizer_spec = tokenizer
        self.gguf_file = gguf_file
        self.adapter = adapter
        self.device_spec = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.max_context = max_context
        self.chat_template = chat_template
        self.cache = cache
        self._static_ok = cache != "dynamic"
        self.prefix_cache_mode = prefix_cache
        self.prefix_cache = PrefixCache(prefix_cache_entries, prefix_cache_bytes)
        self.prefill_chunk = prefill_chunk
        self.prefill_min_chunk = prefill_min_chunk
        self.batched_prefill = batched_prefill
        self.engine = engine
        self.paged_options = dict(paged_options or {})
        self._paged: Any = None
        self._decoder: Any = None
        self.trust_remote_code = trust_remote_code
        label = model if isinstance(model, str) else type(model).__name__
        self.name = name or f"hf:{label}"
        self.stats = LLMStats()
        self.model: Any = None if isinstance(model, str) else model
        self.tokenizer: Any = None if isinstance(tokenizer, str) or tokenizer is None else tokenizer
        self._lock = threading.Lock()
        self._gen_lock = threading.Lock()
        self._prepared = False
        self._bos: str | None = None
        self._warned_cut = False

    # ------------------------------------------------------------------------------------------- loading
    @property
    def loaded(self) -> bool:
        """Whether the model and tokenizer are in memory."""
        return self._prepared

    def load(self) -> HFLLM:
        """Load the model, tokenizer and adapter now (otherwise the first ``generate`` does)."""
        with self._lock:
            if not self._prepared:
                self._load()
        return self

    def _load(self) -> None:
        if self._model_spec is None:
            raise LLMError(f"{self.name}: released (its model was given as an object); build a new backend.")
        torch = require("torch", "llm", "The hf backend")
        transformers = require("transformers", "llm", "The hf backend")
        kwargs: dict[str, Any] = {"trust_remote_code": self.trust_remote_code}
        if self.gguf_file:
            kwargs["gguf_file"] = self.gguf_file
        if self.tokenizer is None:
            source = self._tokenizer_spec if isinstance(self._tokenizer_spec, str) else self._model_spec
            if not isinstance(source, str):
                raise ConfigError("HFLLM: expected tokenizer= (an object or a hub id) with a model object, got none.")
            try:
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
            except Exception as exc:
                raise LLMError(
                    f"HFLLM: could not load the tokenizer of {source!r}: {exc}. Expected a hub id (with network or a "
                    "filled Hugging Face cache) or a local folder with tokenizer files."
                ) from exc
        if self.gguf_file and isinstance(self._model_spec, str):  # before the (slow) model: fail fast
            from toolgym.agents.llm.tokenizer_check import load_checked_tokenizer

            given = self._tokenizer_spec is not None
            self.tokenizer = load_checked_tokenizer(self.tokenizer, self._model_spec, self.gguf_file, given=given)
        if self.model is None:
            dtype = self._torch_dtype(torch)
            try:
                self.model = transformers.AutoModelForCausalLM.from_pretrained(self._model_spec, dtype=dtype, **kwargs)
            except Exception as exc:
                raise LLMError(
                    f"HFLLM: could not load the model {self._model_spec!r}"
                    + (f" (gguf_file={self.gguf_file!r})" if self.gguf_file else "")
                    + f": {exc}. Expected a hub id (with network or a filled Hugging Face cache) or a local folder."
                ) from exc
        if self.adapter:
            peft = require("peft", "llm", "Loading a PEFT adapter")
            try:
                self.model = peft.PeftModel.from_pretrained(self.model, self.adapter)
            except Exception as exc:
                raise LLMError(f"HFLLM: could not load the PEFT adapter {self.adapter!r}: {exc}.") from exc
        self.device = self._device(torch)
        if self.device_spec is not None:
            self.model.to(self.device)
        self.model.eval()
        tok = self.tokenizer
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
        if self.chat_template not in ("auto", "plain"):
            tok.chat_template = self.chat_template
        # models trained with a BOS token (Gemma, Llama) need it; prompts get it unless they already start with it
        probe = tok("x", add_special_tokens=True)["input_ids"]
        self._bos = tok.bos_token if tok.bos_token_id is not None and probe[:1] == [tok.bos_token_id] else None
        if self.max_context is None:
            cfg = getattr(self.model, "config", None)
            cfg = getattr(cfg, "get_text_config", lambda: cfg)()
            self.max_context = int(
                getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 4096
            )
        if self.engine == "paged":
            from toolgym.agents.llm.paged import PagedEngine, paged_unavailable_reason

            reason = paged_unavailable_reason(self.model)
            if reason is not None:
                raise ConfigError(f"HFLLM.engine='paged': {self.name} cannot use paged continuous batching: {reason}.")
            self._paged = PagedEngine(self.model, self.tokenizer, self.device, self.paged_options)
            self._decoder = None
        else:
            self._decoder = self._make_decoder()
        self._prepared = True

    def _make_decoder(self) -> Any:
        """The prefix-cache decoder, or ``None`` when it is off or the model cannot use it."""
        if self.prefix_cache_mode is False:
            return None
        from toolgym.agents.llm.prefix_generate import Decoder, probe_cache_keyword, unsupported_reason

        keyword: str | None = None
        reason = unsupported_reason(self.model)
        if reason is None:
            keyword, reason = probe_cache_keyword(self.model, self.device, len(self.tokenizer))
        if keyword is None:
            if self.prefix_cache_mode is True:
                raise ConfigError(f"HFLLM.prefix_cache=True: {self.name} cannot reuse prefixes: {reason}. Use 'auto'.")
            logger.info("%s: no prefix cache (%s); generating with transformers' generate", self.name, reason)
            return None
        return Decoder(
            self.model,
            self.tokenizer,
            self.prefix_cache,
            self.device,
            min_chunk=self.prefill_min_chunk,
            max_chunk=self.prefill_chunk,
            cache_keyword=keyword,
            batched_prefill=self.batched_prefill,
        )

    @property
    def uses_prefix_cache(self) -> bool:
        """Whether generation reuses prefixes (known once loaded)."""
        return self._decoder is not None

    # ------------------------------------------------------------------------------------------- memory
    def clear_cache(self) -> None:
        """Drop every cached prefix: the prefix store's entries, and the paged engine's pages (its manager stops)."""
        self.prefix_cache.clear()
        if self._paged is not None:
            with self._gen_lock:
                self._paged.close()

    def release(self) -> None:
        """Free the model, the prefix store's key/values and the decoder (and the GPU memory they held).

        A model given by hub id or folder is loaded again by the next :meth:`generate`; a model given as an object
        is dropped (this backend then holds no reference to it) and the next :meth:`generate` raises
        :class:`~toolgym.agents.base.LLMError`. The tokenizer is dropped too when it was loaded here. Safe to call
        twice; ``with HFLLM(...) as llm:`` calls it on leaving the block.
        """
        with self._gen_lock, self._lock:
            self.prefix_cache.clear()
            if self._paged is not None:
                self._paged.close()
            self._decoder = self._paged = None
            self.model = None
            if not isinstance(self._model_spec, str):
                self._model_spec = None
            if self._tokenizer_spec is None or isinstance(self._tokenizer_spec, str):
                self.tokenizer = None
            self._prepared = False
        free_memory()

    def _torch_dtype(self, torch: Any) -> Any:
        if self.dtype == "auto":
            return "auto"
        return getattr(torch, self.dtype)

    def _device(self, torch: Any) -> Any:
        spec = self.device_spec
        if spec is None:  # where the model is (a model object), else the CPU
            param = next(iter(self.model.parameters()), None) if self.model is not None else None
            return param.device if param is not None else torch.device("cpu")
        if spec == "auto":
            spec = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            return torch.device(spec)
        except (RuntimeError, TypeError) as exc:
            raise ConfigError(
                f"HFLLM.device: expected 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto', got {spec!r}."
            ) from exc

    # ------------------------------------------------------------------------------------------- prompts
    def render(self, prompt: Prompt) -> str:
        """The text the model sees for ``prompt`` (chat prompts through the chat template)."""
        if isinstance(prompt, str):
            return prompt
        if not self._prepared:
            self.load()
        return render_with_template(prompt, self.tokenizer, self.chat_template)

    # ------------------------------------------------------------------------------------------- generation
    def generate(self, prompts: Sequence[Prompt], params: SamplingParams | None = None) -> list[Completion]:
        """Complete every prompt in batches (see :class:`~toolgym.agents.base.LLM`)."""
        params = params or SamplingParams()
        items = normalize_prompts(prompts)
        if not items:
            return []
        self.load()
        if getattr(self.model, "training", False):  # trained since it was handed over: no dropout when sampling
            self.model.eval()
        start = time.perf_counter()
        try:
            from toolgym.agents.llm.sampling import call_seeds

            texts = [self.render(p) for p in items]
            seeds = call_seeds(params, len(texts))  # one per prompt, fixed before batching
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
            results: list[Completion | None] = [None] * len(texts)
            size = len(order) if self._paged is not None else self.batch_size  # paged: the manager schedules
            for lo in range(0, len(order), size):
                chunk = order[lo : lo + size]
                call = params if seeds is None else params.replace(seed=None, seeds=tuple(seeds[i] for i in chunk))
                for i, c in zip(chunk, self._generate_batch([texts[i] for i in chunk], call)):
                    results[i] = c
        except (LLMError, ConfigError):
            self.stats.errors += 1
            raise
        except Exception as exc:
            self.stats.errors += 1
            raise LLMError(f"{self.name}: generation failed: {type(exc).__name__}: {exc}") from exc
        wall = time.perf_counter() - start
        out = [
            Completion(
                c.text, c.prompt_tokens, c.completion_tokens, wall, c.finish_reason, c.prompt_ids, c.completion_ids
            )
            for c in results
            if c is not None
        ]
        self.stats.add(out, wall)
        return out

    def _generate_batch(self, texts: list[str], params: SamplingParams) -> list[Completion]:
        if self._decoder is not None or self._paged is not None:
            return self._generate_cached(texts, params)
        return self._generate_plain(texts, params)

    def _cut_warning(self, n_tokens: int, limit: int, params: SamplingParams) -> None:
        log = logger.warning if not self._warned_cut else logger.debug
        self._warned_cut = True
        log(
            "%s: prompt of %d tokens cut to its last %d (max_context %s - max_tokens %d)",
            self.name,
            n_tokens,
            limit,
            self.max_context,
            params.max_tokens,
        )

    def _generate_cached(self, texts: list[str], params: SamplingParams) -> list[Completion]:
        """Prefix reuse and batched decoding (:mod:`toolgym.agents.llm.prefix_generate`, or the paged engine)."""
        tok = self.tokenizer
        limit = max(1, int(self.max_context or 4096) - params.max_tokens)
        if self._bos:
            texts = [t if t.startswith(self._bos) else self._bos + t for t in texts]
        prompts = []
        for ids in tok(texts, add_special_tokens=False)["input_ids"]:
            if len(ids) > limit:  # keep the end of over-long prompts
                self._cut_warning(len(ids), limit, params)
                ids = ids[-limit:]
            prompts.append(ids if ids else [tok.pad_token_id])
        is_stopped = None
        if params.stop:
            window = max(len(s) for s in params.stop) + 2
            stops = params.stop

            def is_stopped(new: list[int]) -> bool:
                text = tok.decode(new[-window:], skip_special_tokens=True)
                return any(s in text for s in stops)

        engine = self._paged if self._paged is not None else self._decoder
        with self._gen_lock, _inference_mode():
            rows = engine.generate(
                prompts, params, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id, is_stopped=is_stopped
            )
        specials = {t for t in (tok.eos_token_id, tok.pad_token_id) if t is not None}
        completions = []
        for ids, (new, finish) in zip(prompts, rows):
            raw = tok.decode([t for t in new if t not in specials], skip_special_tokens=True)
            text, _ = cut_at_stop(raw, params.stop)
            completions.append(Completion(text, len(ids), len(new), 0.0, finish, tuple(ids), tuple(new)))
        return completions

    def _generate_plain(self, texts: list[str], params: SamplingParams) -> list[Completion]:
        """Generate with transformers' ``generate`` over a left-padded batch (no prefix cache)."""
        tok = self.tokenizer
        limit = max(1, int(self.max_context or 4096) - params.max_tokens)
        if self._bos:
            texts = [t if t.startswith(self._bos) else self._bos + t for t in texts]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        input_ids, attention = enc["input_ids"], enc["attention_mask"]
        if input_ids.shape[1] > limit:  # keep the end of over-long prompts (left padding: cut on the left)
            self._cut_warning(input_ids.shape[1], limit, params)
            input_ids, attention = input_ids[:, -limit:], attention[:, -limit:]
        input_ids, attention = input_ids.to(self.device), attention.to(self.device)
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_tokens,
            "pad_token_id": tok.pad_token_id,
            "attention_mask": attention,
        }
        if tok.eos_token_id is not None:
            gen_kwargs["eos_token_id"] = tok.eos_token_id
        # greedy decoding; for sampling, the warpers and a per-row sampler pick the "greedy" token (each row samples
        # with its own generator, as with the prefix cache: same seed, same samples, whatever the batch)
        gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.stop:
            gen_kwargs["stopping_criteria"] = _stop_criteria(tok, params.stop, input_ids.shape[1])
        out = None
        if self._static_ok:
            try:
                out = self._run(input_ids, params, {**gen_kwargs, "cache_implementation": "static"})
            except (ValueError, TypeError, NotImplementedError, RuntimeError, AttributeError) as exc:
                if self.cache == "static":
                    raise
                logger.info("%s: static cache unavailable (%s); using the dynamic cache", self.name, exc)
                self._static_ok = False
        if out is None:
            out = self._run(input_ids, params, gen_kwargs)
        new = out[:, input_ids.shape[1] :].tolist()
        prompt_lens = attention.sum(dim=1).tolist()
        prompt_rows = input_ids.tolist()
        completions = []
        specials = {t for t in (tok.eos_token_id, tok.pad_token_id) if t is not None}
        for row, n_prompt, prompt_row in zip(new, prompt_lens, prompt_rows):
            n = len(row)
            while n > 0 and row[n - 1] == tok.pad_token_id:  # padding after an early finish
                n -= 1
            ended_eos = n > 0 and tok.eos_token_id is not None and row[n - 1] == tok.eos_token_id
            content = [t for t in row[:n] if t not in specials]
            raw = tok.decode(content, skip_special_tokens=True)
            text, stopped = cut_at_stop(raw, params.stop)
            finish = "stop" if (stopped or ended_eos or n < params.max_tokens) else "length"
            prompt_ids = tuple(prompt_row[len(prompt_row) - int(n_prompt) :])  # without the left padding
            completions.append(Completion(text, int(n_prompt), n, 0.0, finish, prompt_ids, tuple(row[:n])))
        return completions

    def _run(self, input_ids: Any, params: SamplingParams, gen_kwargs: dict[str, Any]) -> Any:
        import torch

        if params.temperature > 0:  # fresh generators for each attempt
            from toolgym.agents.llm.sampling import RowSampler, call_seeds, row_generators, sampling_warpers

            procs = sampling_warpers(getattr(self.model, "generation_config", None), params)
            procs.append(RowSampler(row_generators(call_seeds(params, input_ids.shape[0]) or [], self.device)))
            gen_kwargs = {**gen_kwargs, "logits_processor": procs}
        with torch.inference_mode():
            return self.model.generate(input_ids, **gen_kwargs)

    def __repr__(self) -> str:
        return f"HFLLM(name={self.name!r}, loaded={self.loaded})"


def _inference_mode() -> Any:
    import torch

    return torch.inference_mode()


def _stop_criteria(tokenizer: Any, stops: Sequence[str], prompt_len: int) -> Any:
    """A stopping criterion that ends each row of a batch once its new text contains a stop string.

    Each step decodes only the last few new tokens of each row (enough to hold the longest stop string), so
    the check costs microseconds per row; the completion is cut at the stop string afterwards.
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    window = max(len(s) for s in stops) + 2

    class StopOnStrings(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            new = input_ids[:, prompt_len:]
            tail = new[:, -window:].tolist()
            texts = tokenizer.batch_decode(tail, skip_special_tokens=True)
            done = [any(s in t for s in stops) for t in texts]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopOnStrings()])
