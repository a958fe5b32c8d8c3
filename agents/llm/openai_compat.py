"""Any OpenAI-compatible endpoint: vLLM, llama.cpp server, Ollama, OpenAI, or toolgym's own server.

:class:`OpenAILLM` sends each prompt of a batch as its own request, up to ``max_concurrency`` at a time
(servers such as vLLM batch concurrent requests themselves), with a timeout per request and retries with
exponential backoff on connection errors, timeouts, 429 and 5xx answers (the ``openai`` client's own retry
logic). ``api="chat"`` (default) uses ``/chat/completions`` (text prompts become one user message);
``api="completions"`` uses ``/completions`` (chat prompts are rendered as plain text). Images in chat
prompts are sent as PNG data URLs (``image_url`` parts), which vision models on vLLM and OpenAI accept.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from toolgym.agents.base import Completion, LLMError, LLMStats, Message, Prompt, SamplingParams
from toolgym.agents.llm.common import cut_at_stop, image_to_data_url, messages_to_text, normalize_prompts
from toolgym.error import ConfigError, require

__all__ = ["OpenAILLM"]

logger = logging.getLogger(__name__)

#: OpenAI accepts at most four stop sequences; the rest are applied locally.
MAX_REMOTE_STOPS = 4


class OpenAILLM:
    """A model behind an OpenAI-compatible HTTP API.

    Args:
        model: The model name the server knows (``"gpt-4o-mini"``, ``"Qwen/Qwen2.5-7B-Instruct"``...).
        base_url: The API root, e.g. ``"http://localhost:8000/v1"`` (default: ``$OPENAI_BASE_URL`` or
            OpenAI's).
        api_key: The key (default: ``$OPENAI_API_KEY``, or ``"EMPTY"`` for local servers).
        api: ``"chat"`` or ``"completions"``.
        max_concurrency: The most requests in flight at once.
        timeout_s: Seconds before a request is abandoned (and retried).
        max_retries: Retries per request after the first attempt (backoff doubles from 0.5 s).
        supports_images: Whether the model accepts images (vision models).
        extra_body: Extra JSON fields for every request (e.g. ``{"top_k": 20}`` for vLLM).
        name: The name recorded in results (default ``"openai:<model>"``).

    Example:
        >>> llm = OpenAILLM("my-model", base_url="http://127.0.0.1:8000/v1")  # no request is made here
        >>> llm.name
        'openai:my-model'
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api: str = "chat",
        max_concurrency: int = 16,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        supports_images: bool = False,
        extra_body: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        """Create the backend (see the class docstring); no request is made here."""
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"OpenAILLM.model: expected the model name the server serves, got {model!r}.")
        if api not in ("chat", "completions"):
            raise ConfigError(f"OpenAILLM.api: expected 'chat' or 'completions', got {api!r}.")
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ConfigError(f"OpenAILLM.max_concurrency: expected a positive int, got {max_concurrency!r}.")
        if not isinstance(timeout_s, (int, float)) or timeout_s <= 0:
            raise ConfigError(f"OpenAILLM.timeout_s: expected a positive number, got {timeout_s!r}.")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"OpenAILLM.max_retries: expected an int >= 0, got {max_retries!r}.")
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.api = api
        self.max_concurrency = max_concurrency
        self.timeout_s = float(timeout_s)
        self.max_retries = max_retries
        self.supports_images = supports_images
        self.extra_body = dict(extra_body or {})
        self.name = name or f"openai:{model}"
        self.stats = LLMStats()
        self._client: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> tuple[Any, ThreadPoolExecutor]:
        with self._lock:
            if self._client is None:
                openai = require("openai", "llm", "The openai backend")
                self._client = openai.OpenAI(
                    base_url=self.base_url,
                    api_key=self.api_key,
                    timeout=self.timeout_s,
                    max_retries=self.max_retries,
                )
                self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="toolgym-openai")
            assert self._pool is not None
            return self._client, self._pool

    def close(self) -> None:
        """Close the HTTP client and the worker threads."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> OpenAILLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------------------------------- requests
    def _messages(self, prompt: Prompt) -> list[dict[str, Any]]:
        if isinstance(prompt, str):
            return [{"role": "user", "content": prompt}]
        out = []
        for m in prompt:
            content = m.get("content", "")
            if isinstance(content, str) or content is None:
                out.append({"role": m["role"], "content": content or ""})
                continue
            parts: list[dict[str, Any]] = []
            for part in content:
                if isinstance(part, str):
                    parts.append({"type": "text", "text": part})
                elif part.get("type") == "text":
                    parts.append({"type": "text", "text": str(part.get("text", ""))})
                elif part.get("type") in ("image", "image_url"):
                    if not self.supports_images:
                        raise ConfigError(
                            f"{self.name}: the prompt has an image but supports_images=False; expected a vision model "
                            "(set supports_images=True) or a text-only prompt."
                        )
                    img = part.get("image")
                    if img is None:
                        url = part.get("image_url")
                        img = url.get("url") if isinstance(url, Mapping) else url
                    parts.append({"type": "image_url", "image_url": {"url": image_to_data_url(img)}})
            out.append({"role": m["role"], "content": parts})
        return out

    def _one(self, prompt: Prompt, params: SamplingParams) -> Completion:
        client, _ = self._ensure()
        start = time.perf_counter()
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.stop:
            kwargs["stop"] = list(params.stop[:MAX_REMOTE_STOPS])
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if self.extra_body:
            kwargs["extra_body"] = dict(self.extra_body)
        openai = require("openai", "llm", "The openai backend")
        try:
            if self.api == "chat":
                resp = client.chat.completions.create(messages=self._messages(prompt), **kwargs)
                choice = resp.choices[0]
                text = choice.message.content or ""
            else:
                text_prompt = prompt if isinstance(prompt, str) else messages_to_text(_text_messages(prompt))
                resp = client.completions.create(prompt=text_prompt, **kwargs)
                choice = resp.choices[0]
                text = choice.text or ""
        except openai.APIConnectionError as exc:
            raise LLMError(
                f"{self.name}: expected an OpenAI-compatible server at {client.base_url}, got no connection after "
                f"{self.max_retries} retries ({type(exc).__name__}: {exc}). Start the server or fix base_url."
            ) from exc
        except openai.APIStatusError as exc:
            raise LLMError(
                f"{self.name}: the server at {client.base_url} answered HTTP {exc.status_code}: {_error_text(exc)}"
            ) from exc
        except openai.OpenAIError as exc:
            raise LLMError(f"{self.name}: request failed: {type(exc).__name__}: {exc}") from exc
        text, stopped = cut_at_stop(text, params.stop)
        usage = getattr(resp, "usage", None)
        finish = "stop" if stopped else (getattr(choice, "finish_reason", None) or "stop")
        return Completion(
            text=text,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            latency_s=time.perf_counter() - start,
            finish_reason="length" if finish == "length" else "stop",
        )

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams | None = None) -> list[Completion]:
        """Complete every prompt, ``max_concurrency`` requests at a time (see the class docstring)."""
        params = params or SamplingParams()
        items = normalize_prompts(prompts)
        if not items:
            return []
        _, pool = self._ensure()
        start = time.perf_counter()
        seeds = params.prompt_seeds(len(items))  # one per request: k copies of a prompt give k samples
        calls = [params if seeds is None else params.replace(seed=seeds[i], seeds=None) for i in range(len(items))]
        futures = [pool.submit(self._one, p, c) for p, c in zip(items, calls)]
        out, first_error = [], None
        for f in futures:
            try:
                out.append(f.result())
            except Exception as exc:  # collect every request before raising, so none is left running
                first_error = first_error or exc
        if first_error is not None:
            self.stats.errors += 1
            if isinstance(first_error, (LLMError, ConfigError)):
                raise first_error
            raise LLMError(f"{self.name}: {type(first_error).__name__}: {first_error}") from first_error
        wall = time.perf_counter() - start
        self.stats.add(out, wall)
        return out

    def __repr__(self) -> str:
        return f"OpenAILLM(model={self.model!r}, base_url={self.base_url!r}, api={self.api!r})"


def _text_messages(prompt: Sequence[Message]) -> list[Message]:
    from toolgym.agents.llm.common import message_text

    return [{"role": m["role"], "content": message_text(m)} for m in prompt]


def _error_text(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping) and "message" in err:
            return str(err["message"])
    return str(exc)
