"""Helpers shared by the language-model backends: stop strings, prompt rendering, images."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np

from toolgym.agents.base import Message, Prompt
from toolgym.error import ConfigError, require

__all__ = [
    "Releasable",
    "cut_at_stop",
    "free_memory",
    "image_to_data_url",
    "image_from_data_url",
    "is_chat",
    "message_images",
    "message_text",
    "messages_to_text",
    "normalize_prompts",
    "render_with_template",
]


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop string.

    Returns:
        ``(text, stopped)``: the text before the first stop string, and whether one was found.

    Example:
        >>> cut_at_stop("search[x]\\nObservation 1: ...", ["\\nObservation"])
        ('search[x]', True)
    """
    cut = len(text)
    for s in stop:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut], cut < len(text)


def is_chat(prompt: Prompt) -> bool:
    """Whether ``prompt`` is a list of chat messages (not a text prompt)."""
    return not isinstance(prompt, str)


def normalize_prompts(prompts: Sequence[Prompt] | Prompt) -> list[Prompt]:
    """Check a batch of prompts; a single prompt (text or message list) becomes a batch of one."""
    if isinstance(prompts, str):
        return [prompts]
    items: list[Any] = list(prompts)
    if items and isinstance(items[0], Mapping):  # one chat conversation
        items = [items]
    for p in items:
        if isinstance(p, str):
            continue
        if not isinstance(p, Sequence) or not all(isinstance(m, Mapping) and "role" in m for m in p):
            raise ConfigError(
                "LLM.generate: expected text prompts or lists of chat messages ({'role': ..., 'content': ...}), "
                f"got {type(p).__name__}: {str(p)[:80]!r}."
            )
    return items


def message_text(message: Message) -> str:
    """The text of a message (its string content, or the concatenated text parts)."""
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, Mapping) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
    return "\n".join(parts)


def message_images(message: Message) -> list[Any]:
    """The images of a message's content parts (arrays, PIL images or data URLs, as given)."""
    content = message.get("content", "")
    if isinstance(content, str) or content is None:
        return []
    out = []
    for part in content:
        if isinstance(part, Mapping):
            if part.get("type") == "image":
                out.append(part.get("image"))
            elif part.get("type") == "image_url":
                url = part.get("image_url")
                out.append(url.get("url") if isinstance(url, Mapping) else url)
    return out


def messages_to_text(messages: Sequence[Message]) -> str:
    """Render chat messages as plain text for models without a chat template.

    Example:
        >>> print(messages_to_text([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]))
        System: Be brief.
        <BLANKLINE>
        User: Hi
        <BLANKLINE>
        Assistant:
    """
    blocks = [f"{str(m.get('role', 'user')).capitalize()}: {message_text(m)}" for m in messages]
    return "\n\n".join(blocks) + "\n\nAssistant:"


def _as_array(image: Any) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image
    if isinstance(image, str):
        return image_from_data_url(image)
    return np.asarray(image)


def image_to_data_url(image: Any) -> str:
    """Encode an image (H×W×3 uint8 array, PIL image, or an existing data URL) as a PNG data URL.

    Example:
        >>> url = image_to_data_url(np.zeros((2, 3, 3), np.uint8))
        >>> url.startswith("data:image/png;base64,"), image_from_data_url(url).shape
        (True, (2, 3, 3))
    """
    if isinstance(image, str):
        if image.startswith("data:") or image.startswith("http"):
            return image
        raise ConfigError(f"expected an image array, a PIL image or a data URL, got the string {image[:40]!r}.")
    Image = require("PIL.Image", "vqa", "Encoding images")

    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_from_data_url(url: str) -> np.ndarray:
    """Decode a base64 ``data:image/...`` URL into an H×W×3 uint8 array.

    Raises:
        ConfigError: Not a base64 data URL of an image.
    """
    Image = require("PIL.Image", "vqa", "Decoding images")

    if not isinstance(url, str) or not url.startswith("data:image/") or ";base64," not in url:
        raise ConfigError(f"expected a base64 data URL 'data:image/<type>;base64,...', got {str(url)[:40]!r}.")
    try:
        raw = base64.b64decode(url.split(";base64,", 1)[1], validate=False)
        return np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))
    except Exception as exc:
        raise ConfigError(f"could not decode the image data URL: {exc}.") from exc


def free_memory() -> None:
    """Collect garbage and hand the CUDA cache back (after a backend dropped its model; torch is not imported here)."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def render_with_template(messages: Sequence[Message], tokenizer: Any, chat_template: str) -> str:
    """Chat messages as the model's text: the tokenizer's chat template (unless ``"plain"`` or it has none).

    Without a template: the plain ``System:/User:/Assistant:`` rendering (:func:`messages_to_text`).
    """
    flat = [{"role": m["role"], "content": message_text(m)} for m in messages]
    if chat_template != "plain" and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(flat, add_generation_prompt=True, tokenize=False)
    return messages_to_text(flat)


class Releasable:
    """``with backend as llm:`` calls ``backend.release()`` on leaving the block (a mixin for the local backends)."""

    def release(self) -> None:
        """Free what the backend holds (overridden)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
