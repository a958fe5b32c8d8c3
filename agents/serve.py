"""A small OpenAI-compatible HTTP server in front of any toolgym :class:`~toolgym.agents.base.LLM`.

It speaks the parts of the protocol agents use: ``POST /v1/chat/completions``, ``POST /v1/completions``
(``prompt`` may be a list) and ``GET /v1/models``, with OpenAI-shaped errors. Concurrent requests are
gathered into batches (up to ``max_batch`` prompts; a batch keeps gathering while requests arrive within
``batch_window_s`` of each other, at most ``max_wait_s``)
and completed with one ``generate`` call, as vLLM does, so many clients share the model efficiently.
Streaming is not supported. It binds to the loopback interface by default.

From the command line::

    python -m toolgym.agents.serve --backend gemma --port 8000
    python -m toolgym.agents.serve --backend hf --model Qwen/Qwen2.5-0.5B-Instruct --port 8000

From Python (e.g. in tests)::

    with LLMServer(make_llm("tiny")) as server:
        llm = make_llm("openai", model="tiny", base_url=server.url)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler
from typing import Any

from toolgym.agents.base import Completion, SamplingParams
from toolgym.agents.llm.common import image_from_data_url
from toolgym.error import ConfigError
from toolgym.httpserver import BackgroundHTTPServer

__all__ = ["LLMServer", "main", "serve"]

logger = logging.getLogger(__name__)


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param


class _Batcher:
    """Gathers concurrent requests into batches for one ``generate`` call per sampling configuration."""

    def __init__(self, llm: Any, max_batch: int, window_s: float, max_wait_s: float) -> None:
        self.llm = llm
        self.max_batch = max_batch
        self.window_s = window_s
        self.max_wait_s = max(max_wait_s, window_s)
        self.queue: queue.Queue[tuple[Any, SamplingParams, Future] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="toolgym-serve-batcher", daemon=True)
        self.thread.start()

    def submit(self, prompt: Any, params: SamplingParams) -> Future:
        fut: Future = Future()
        self.queue.put((prompt, params, fut))
        return fut

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            # gather: keep waiting while requests keep coming (each within window_s of the previous one),
            # at most max_wait_s in all, so that the requests of one round of N clients form one batch
            hard_deadline = time.perf_counter() + self.max_wait_s
            stop = False
            while len(batch) < self.max_batch:
                remaining = min(self.window_s, hard_deadline - time.perf_counter())
                try:
                    item = self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            # requests that differ only in their seed share a batch: each keeps its own seed (seeds=)
            groups: dict[SamplingParams, list[tuple[Any, Future, int | None]]] = {}
            for prompt, params, fut in batch:
                groups.setdefault(params.replace(seed=None, seeds=None), []).append((prompt, fut, params.seed))
            for params, members in groups.items():
                seeds = [s for _, _, s in members]
                if any(s is not None for s in seeds):  # unseeded requests among seeded ones get a fresh seed
                    seeds = [s if s is not None else int.from_bytes(os.urandom(8), "little") >> 1 for s in seeds]
                    params = params.replace(seeds=tuple(seeds))
                items = [(p, f) for p, f, _ in members]
                try:
                    results = self.llm.generate([p for p, _ in items], params)
                except Exception as exc:
                    for _, fut in items:
                        fut.set_exception(exc)
                    continue
                for (_, fut), res in zip(items, results):
                    fut.set_result(res)
            if stop:
                return


def _params(body: Mapping[str, Any]) -> SamplingParams:
    stop = body.get("stop")
    if stop is None:
        stop = ()
    elif isinstance(stop, str):
        stop = (stop,)
    elif not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise _BadRequest(f"'stop' must be a string or a list of strings, got {stop!r}.", param="stop")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens", 256))
    try:
        return SamplingParams(
            max_tokens=int(max_tokens) if max_tokens is not None else 256,
            temperature=float(body.get("temperature", 1.0) if body.get("temperature") is not None else 1.0),
            top_p=float(body.get("top_p", 1.0) if body.get("top_p") is not None else 1.0),
            stop=tuple(s for s in stop if s),
            seed=int(body["seed"]) if body.get("seed") is not None else None,
        )
    except (ConfigError, TypeError, ValueError) as exc:
        raise _BadRequest(str(exc)) from exc


def _chat_prompt(messages: Any, accepts_images: bool) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise _BadRequest("'messages' must be a non-empty list of {role, content} objects.", param="messages")
    out: list[dict[str, Any]] = []
    for m in messages:
        if not isinstance(m, Mapping) or "role" not in m:
            raise _BadRequest(f"each message needs a 'role' and a 'content', got {str(m)[:80]!r}.", param="messages")
        content = m.get("content")
        if content is None or isinstance(content, str):
            out.append({"role": str(m["role"]), "content": content or ""})
            continue
        if not isinstance(content, list):
            raise _BadRequest("message 'content' must be a string or a list of parts.", param="messages")
        parts: list[dict[str, Any]] = []
        for part in content:
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind == "text":
                parts.append({"type": "text", "text": str(part.get("text", ""))})
            elif kind == "image_url":
                if not accepts_images:
                    raise _BadRequest("this model does not accept images (image_url parts).", param="messages")
                url = part.get("image_url")
                url = url.get("url") if isinstance(url, Mapping) else url
                try:
                    parts.append({"type": "image", "image": image_from_data_url(str(url))})
                except ConfigError as exc:
                    raise _BadRequest(f"{exc} Only base64 data URLs are accepted.", param="messages") from exc
            else:
                raise _BadRequest(f"unsupported content part {str(part)[:60]!r}.", param="messages")
        out.append({"role": str(m["role"]), "content": parts})
    return out


class LLMServer(BackgroundHTTPServer):
    """Serve an :class:`~toolgym.agents.base.LLM` over the OpenAI HTTP protocol (see the module docstring).

    Args:
        llm: The backend that completes the prompts.
        host: The interface to bind (default loopback only).
        port: The port (0 picks a free one; read :attr:`port` after :meth:`start`).
        model_name: The model id announced by ``/v1/models`` (requests may name any model).
        max_batch: The most prompts per ``generate`` call.
        batch_window_s: A batch keeps gathering while each new request comes within this long of the previous.
        max_wait_s: The longest a batch waits for more requests after its first.

    Example:
        >>> from toolgym.agents.llm.scripted import ScriptedLLM
        >>> from toolgym.agents.llm.openai_compat import OpenAILLM
        >>> with LLMServer(ScriptedLLM(["finish[4]"]), model_name="s") as server:
        ...     OpenAILLM("s", base_url=server.url).generate(["What is 2+2?"])[0].text
        'finish[4]'
    """

    def __init__(
        self,
        llm: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model_name: str | None = None,
        max_batch: int = 32,
        batch_window_s: float = 0.01,
        max_wait_s: float = 0.05,
    ) -> None:
        """Create the server (see the class docstring); :meth:`start` binds it."""
        if not callable(getattr(llm, "generate", None)):
            raise ConfigError(f"LLMServer: expected an LLM with generate(), got {type(llm).__name__}.")
        if not isinstance(max_batch, int) or max_batch < 1:
            raise ConfigError(f"LLMServer.max_batch: expected a positive int, got {max_batch!r}.")
        self.llm = llm
        self.host = host
        self.port = port
        self.model_name = model_name or str(getattr(llm, "name", "toolgym"))
        self.max_batch = max_batch
        self.batch_window_s = float(batch_window_s)
        self.max_wait_s = float(max_wait_s)
        self._batcher: _Batcher | None = None

    @property
    def url(self) -> str:
        """The API root, ``http://host:port/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    thread_name = "toolgym-serve"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    def _describe(self) -> str:
        return self.model_name

    def _on_start(self) -> None:
        """Start the batcher that groups concurrent requests into one model call."""
        self._batcher = _Batcher(self.llm, self.max_batch, self.batch_window_s, self.max_wait_s)

    def _on_stop(self) -> None:
        if self._batcher is not None:
            self._batcher.stop()
            self._batcher = None

    # ------------------------------------------------------------------------------------ request handling
    def _complete(self, prompts: Sequence[Any], params: SamplingParams) -> list[Completion]:
        assert self._batcher is not None
        futures = [self._batcher.submit(p, params) for p in prompts]
        return [f.result() for f in futures]

    def handle(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Answer one request body (raises ``_BadRequest`` for client errors)."""
        if body.get("stream"):
            raise _BadRequest("streaming is not supported by this server; send stream=false.", param="stream")
        n = body.get("n", 1)
        if not isinstance(n, int) or n < 1 or n > 64:
            raise _BadRequest(f"'n' must be an integer from 1 to 64, got {n!r}.", param="n")
        params = _params(body)
        model = str(body.get("model") or self.model_name)
        created = int(time.time())
        if path.endswith("/chat/completions"):
            prompt = _chat_prompt(body.get("messages"), bool(getattr(self.llm, "supports_images", False)))
            results = self._complete([prompt] * n, params)
            choices = [
                {"index": i, "message": {"role": "assistant", "content": c.text}, "finish_reason": c.finish_reason}
                for i, c in enumerate(results)
            ]
            kind = "chat.completion"
        else:
            raw = body.get("prompt")
            texts = [raw] if isinstance(raw, str) else raw
            if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
                raise _BadRequest("'prompt' must be a string or a non-empty list of strings.", param="prompt")
            results = self._complete([t for t in texts for _ in range(n)], params)
            choices = [
                {"index": i, "text": c.text, "finish_reason": c.finish_reason, "logprobs": None}
                for i, c in enumerate(results)
            ]
            kind = "text_completion"
        prompt_tokens = sum(c.prompt_tokens for c in results[::n])
        completion_tokens = sum(c.completion_tokens for c in results)
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": kind,
            "created": created,
            "model": model,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _make_handler(server: LLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # answer in one segment, without waiting for the client's delayed ACK (Nagle's algorithm)
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, fmt: str, *args: Any) -> None:
            logger.debug("%s - " + fmt, self.address_string(), *args)

        def _send(self, status: int, payload: Mapping[str, Any]) -> None:
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, kind: str, param: str | None = None) -> None:
            self._send(status, {"error": {"message": message, "type": kind, "param": param, "code": None}})

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": [{"id": server.model_name, "object": "model", "created": 0, "owned_by": "toolgym"}],
                    },
                )
            elif self.path.rstrip("/") in ("/health", "/v1/health"):
                self._send(200, {"status": "ok"})
            else:
                self._error(404, f"no route GET {self.path}; expected /v1/models.", "not_found_error")

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0].rstrip("/")
            if path not in ("/v1/chat/completions", "/v1/completions", "/chat/completions", "/completions"):
                self._error(
                    404,
                    f"no route POST {self.path}; expected /v1/chat/completions or /v1/completions.",
                    "not_found_error",
                )
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise _BadRequest("the request body must be a JSON object.")
                payload = server.handle(path, body)
            except json.JSONDecodeError as exc:
                self._error(400, f"the request body is not valid JSON: {exc}.", "invalid_request_error")
            except _BadRequest as exc:
                self._error(exc.status, str(exc), "invalid_request_error", exc.param)
            except Exception as exc:
                logger.exception("request failed")
                self._error(500, f"{type(exc).__name__}: {exc}", "server_error")
            else:
                self._send(200, payload)

    return Handler


def serve(llm: Any, *, host: str = "127.0.0.1", port: int = 8000, **kwargs: Any) -> None:
    """Serve ``llm`` until interrupted (see :class:`LLMServer` for the options)."""
    LLMServer(llm, host=host, port=port, **kwargs).serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m toolgym.agents.serve --backend tiny|gemma|hf [--model ...] [--port 8000]``."""
    from toolgym.agents.llm import make_llm

    parser = argparse.ArgumentParser(
        prog="python -m toolgym.agents.serve", description="Serve a toolgym LLM backend over the OpenAI HTTP API."
    )
    parser.add_argument("--backend", default="tiny", help="tiny, gemma or hf (default tiny)")
    parser.add_argument("--model", help="hub id or local folder (hf backend)")
    parser.add_argument("--gguf-file", help="GGUF file inside --model (hf backend)")
    parser.add_argument("--adapter", help="PEFT adapter folder (hf backend)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model-name", help="the model id announced to clients")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument(
        "--prefix-cache",
        choices=("auto", "off"),
        default="auto",
        help="reuse the key/values of earlier prompts (tiny and hf backends; default auto)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    options: dict[str, Any] = {}
    if args.backend in ("tiny", "hf") and args.prefix_cache == "off":
        options["prefix_cache"] = False
    if args.backend == "hf":
        if not args.model:
            parser.error("--backend hf needs --model (a hub id or a local folder)")
        options.update(model=args.model, device=args.device, dtype=args.dtype)
        if args.gguf_file:
            options["gguf_file"] = args.gguf_file
        if args.adapter:
            options["adapter"] = args.adapter
    llm = make_llm(args.backend, **options)
    if hasattr(llm, "load"):
        llm.load()
    serve(llm, host=args.host, port=args.port, model_name=args.model_name or args.backend, max_batch=args.max_batch)


if __name__ == "__main__":
    main()
