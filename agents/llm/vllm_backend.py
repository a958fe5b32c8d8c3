"""vLLM in-process, for fast rollouts in self-training loops (the ``vllm`` backend, extra ``toolgym[vllm]``).

:class:`VLLMLLM` wraps ``vllm.LLM`` (built lazily, with automatic prefix caching on) behind the
:class:`~toolgym.agents.base.LLM` protocol. :func:`vllm_sampling` maps toolgym's
:class:`~toolgym.agents.base.SamplingParams` one to one onto vLLM's, one per prompt (so every prompt keeps its own
seed, as with the ``hf`` backend). :meth:`VLLMLLM.load_weights` copies a training step's weights into the engine
and resets its prefix cache, as TRL's colocated mode does; :meth:`VLLMLLM.release` frees the engine.

vllm is imported only when the engine is built, so this module imports without it.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from toolgym.agents.base import Completion, LLMError, LLMStats, Prompt, SamplingParams
from toolgym.agents.llm.common import Releasable, free_memory, normalize_prompts, render_with_template
from toolgym.error import ConfigError, require

__all__ = ["VLLMLLM", "vllm_sampling"]


def vllm_sampling(
    params: SamplingParams, seeds: Sequence[int] | None, n: int, factory: Callable[..., Any]
) -> list[Any]:
    """The vLLM sampling parameters of ``n`` prompts, one per prompt.

    Args:
        params: toolgym's sampling parameters.
        seeds: One seed per prompt (``None`` for greedy decoding, or to let vLLM draw).
        n: The number of prompts.
        factory: ``vllm.SamplingParams`` (or a stand-in taking the same keywords).

    Returns:
        ``factory(temperature, top_p, max_tokens, stop, seed, n=1, include_stop_str_in_output=False)`` per prompt;
        greedy decoding (temperature 0) passes ``top_p=1`` and no seed.
    """
    greedy = params.temperature <= 0
    out = []
    for i in range(n):
        out.append(
            factory(
                n=1,
                temperature=0.0 if greedy else float(params.temperature),
                top_p=1.0 if greedy else float(params.top_p),
                max_tokens=int(params.max_tokens),
                stop=list(params.stop) or None,
                seed=None if greedy or seeds is None else int(seeds[i]),
                include_stop_str_in_output=False,
            )
        )
    return out


class VLLMLLM(Releasable):
    """A vLLM engine in this process behind the :class:`~toolgym.agents.base.LLM` protocol.

    Args:
        model: A hub id or local folder.
        tokenizer: A tokenizer id or folder (default: the model's).
        dtype: ``"auto"``, ``"float16"``, ``"bfloat16"`` or ``"float32"``.
        gpu_memory_utilization: The share of GPU memory vLLM may take (weights and key/value pages); keep room
            for a colocated trainer.
        max_model_len: The most prompt + new tokens (default: the model's).
        enable_prefix_caching: vLLM's automatic prefix caching (shared prompt prefixes computed once).
        seed: vLLM's engine seed.
        chat_template: ``"auto"`` (the tokenizer's template for chat prompts when it has one) or ``"plain"``.
        engine_options: More keywords for ``vllm.LLM`` (``tensor_parallel_size``, ``enforce_eager``, ...).
        llm: An already built ``vllm.LLM`` (or a stand-in with ``generate`` and ``get_tokenizer``); then nothing
            is built and vllm need not be installed.
        name: The name recorded in results (default ``"vllm:<model>"``).

    Raises:
        DependencyNotInstalled: vllm is not installed (``pip install "toolgym[vllm]"``) and no ``llm`` was given.
    """

    supports_images = False

    def __init__(
        self,
        model: str,
        *,
        tokenizer: str | None = None,
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.5,
        max_model_len: int | None = None,
        enable_prefix_caching: bool = True,
        seed: int = 0,
        chat_template: str = "auto",
        engine_options: Mapping[str, Any] | None = None,
        llm: Any = None,
        name: str | None = None,
    ) -> None:
        """Create the backend (see the class docstring); the engine is built on the first call."""
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"VLLMLLM.model: expected a hub id or a local folder, got {model!r}.")
        if not 0 < float(gpu_memory_utilization) <= 1:
            raise ConfigError(
                f"VLLMLLM.gpu_memory_utilization: expected a share in (0, 1], got {gpu_memory_utilization!r}."
            )
        if chat_template not in ("auto", "plain"):
            raise ConfigError(f"VLLMLLM.chat_template: expected 'auto' or 'plain', got {chat_template!r}.")
        if llm is None and importlib.util.find_spec("vllm") is None:
            require("vllm", "vllm", "The vllm backend")  # raises DependencyNotInstalled naming the extra
        self.model = model
        self.tokenizer_spec = tokenizer
        self.dtype = dtype
        self.gpu_memory_utilization = float(gpu_memory_utilization)
        self.max_model_len = max_model_len
        self.enable_prefix_caching = enable_prefix_caching
        self.seed = seed
        self.chat_template = chat_template
        self.engine_options = dict(engine_options or {})
        self.llm = llm
        self.name = name or f"vllm:{model}"
        self.stats = LLMStats()

    # ------------------------------------------------------------------------------------------- engine
    @property
    def loaded(self) -> bool:
        """Whether the engine is built."""
        return self.llm is not None

    def load(self) -> VLLMLLM:
        """Build the engine now (otherwise the first :meth:`generate` does)."""
        if self.llm is None:
            vllm = require("vllm", "vllm", "The vllm backend")
            kwargs: dict[str, Any] = {
                "model": self.model,
                "dtype": self.dtype,
                "gpu_memory_utilization": self.gpu_memory_utilization,
                "enable_prefix_caching": self.enable_prefix_caching,
                "seed": self.seed,
                **self.engine_options,
            }
            if self.tokenizer_spec:
                kwargs["tokenizer"] = self.tokenizer_spec
            if self.max_model_len:
                kwargs["max_model_len"] = self.max_model_len
            try:
                self.llm = vllm.LLM(**kwargs)
            except Exception as exc:
                raise LLMError(f"{self.name}: could not build the vLLM engine: {type(exc).__name__}: {exc}") from exc
        return self

    def load_weights(self, weights: Any) -> None:
        """Copy new weights (after a training step) into the engine and drop its cached prefixes.

        Args:
            weights: A model (its ``state_dict()`` is used), a state dict, or ``(name, tensor)`` pairs, with the
                parameter names of the hub model (a PEFT model should be merged first).
        """
        self.load()
        if hasattr(weights, "state_dict") and callable(weights.state_dict):
            weights = weights.state_dict()
        pairs = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
        engine = getattr(self.llm, "llm_engine", None)
        worker = getattr(getattr(engine, "model_executor", None), "driver_worker", None)
        runner = getattr(getattr(worker, "worker", worker), "model_runner", None)
        model = getattr(runner, "model", None)
        if model is not None:  # the engine runs in this process (TRL's colocated mode)
            model.load_weights(pairs)
        elif callable(getattr(self.llm, "apply_model", None)):  # the engine core in a worker process (vLLM V1)
            self.llm.apply_model(lambda m: m.load_weights(pairs))
        else:
            raise LLMError(
                f"{self.name}: cannot reach the engine's model to load weights (set VLLM_ENABLE_V1_MULTIPROCESSING=0 "
                "to keep it in this process)."
            )
        self.clear_cache()

    def clear_cache(self) -> None:
        """Drop the engine's cached prefixes."""
        reset = getattr(self.llm, "reset_prefix_cache", None)
        if callable(reset):
            reset()

    def release(self) -> None:
        """Free the engine (weights and key/value pages); a later call builds it again."""
        self.llm = None
        free_memory()

    # ------------------------------------------------------------------------------------------- generation
    def render(self, prompt: Prompt) -> str:
        """The text the model sees for ``prompt`` (chat prompts through the tokenizer's chat template)."""
        if isinstance(prompt, str):
            return prompt
        return render_with_template(prompt, self.load().llm.get_tokenizer(), self.chat_template)

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams | None = None) -> list[Completion]:
        """Complete every prompt in one engine call (see :class:`~toolgym.agents.base.LLM`)."""
        params = params or SamplingParams()
        items = normalize_prompts(prompts)
        if not items:
            return []
        self.load()
        start = time.perf_counter()
        try:
            from toolgym.agents.llm.sampling import call_seeds

            texts = [self.render(p) for p in items]
            factory = _sampling_factory(self.llm)
            sampling = vllm_sampling(params, call_seeds(params, len(texts)), len(texts), factory)
            outs = self.llm.generate(texts, sampling, use_tqdm=False)
        except (LLMError, ConfigError):
            self.stats.errors += 1
            raise
        except Exception as exc:
            self.stats.errors += 1
            raise LLMError(f"{self.name}: generation failed: {type(exc).__name__}: {exc}") from exc
        wall = time.perf_counter() - start
        completions = []
        for out in outs:
            best = out.outputs[0]
            ids = tuple(best.token_ids)
            prompt_ids = tuple(out.prompt_token_ids or ())
            finish = "length" if best.finish_reason == "length" else "stop"
            completions.append(Completion(best.text, len(prompt_ids), len(ids), wall, finish, prompt_ids, ids))
        self.stats.add(completions, wall)
        return completions

    def __repr__(self) -> str:
        return f"VLLMLLM(name={self.name!r}, loaded={self.loaded})"


def _sampling_factory(llm: Any) -> Callable[..., Any]:
    """``vllm.SamplingParams``, or a stand-in engine's own ``sampling_params`` factory (tests)."""
    own = getattr(llm, "sampling_params", None)
    if callable(own):
        return own
    return require("vllm", "vllm", "The vllm backend").SamplingParams
