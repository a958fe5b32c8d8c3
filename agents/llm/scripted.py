"""A backend that replays canned completions: for tests, debugging and recorded runs."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from toolgym.agents.base import Completion, LLMStats, Prompt, SamplingParams
from toolgym.agents.llm.common import cut_at_stop, message_text, normalize_prompts
from toolgym.error import ConfigError

__all__ = ["ScriptedLLM", "prompt_text"]


def prompt_text(prompt: Prompt) -> str:
    """The text of a prompt (a chat prompt's messages joined with newlines)."""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(message_text(m) for m in prompt)


def _count_tokens(text: str) -> int:
    return len(text.split())


class ScriptedLLM:
    """Replays canned completions.

    ``responses`` decides what each prompt gets:

    * a list of strings: returned in order, one per prompt (cycling when ``cycle=True``, else repeating the
      last one);
    * a mapping from substring to completion: the completion of the first key found in the prompt's text
      (``default`` when none is);
    * a callable ``(prompt, params) -> str``: called for each prompt (the prompt is the text or the message
      list as given, images included), so a scripted agent can react to what is in its prompt.

    Stop strings are applied to the completion as a real backend would. Token counts are whitespace words.
    Every prompt received is kept in :attr:`prompts` (for tests).

    Args:
        responses: See above.
        default: The completion when a mapping has no matching key.
        cycle: For a list, start again at the first response after the last.
        name: The name recorded in results.
        supports_images: Whether image parts are accepted (always; the flag is what policies read).
        latency_s: Seconds to sleep per ``generate`` call (to simulate a model in benchmarks).

    Example:
        >>> llm = ScriptedLLM(["Thought: easy.\\nAction: finish[4]\\nObservation: done"])
        >>> llm.generate(["Question: What is 2+2?\\n"], SamplingParams(stop=("\\nObservation",)))[0].text
        'Thought: easy.\\nAction: finish[4]'
    """

    def __init__(
        self,
        responses: Sequence[str] | Mapping[str, str] | Callable[[Prompt, SamplingParams], str],
        *,
        default: str = "",
        cycle: bool = False,
        name: str = "scripted",
        supports_images: bool = True,
        latency_s: float = 0.0,
    ) -> None:
        """Create the backend (see the class docstring)."""
        if isinstance(responses, str):
            responses = [responses]
        if not (callable(responses) or isinstance(responses, (Sequence, Mapping))):
            raise ConfigError(
                f"ScriptedLLM.responses: expected a list of strings, a mapping or a callable, got {responses!r}."
            )
        if isinstance(responses, (Sequence, Mapping)) and not responses:
            raise ConfigError("ScriptedLLM.responses: expected at least one response, got none.")
        self.responses = responses
        self.default = default
        self.cycle = cycle
        self.name = name
        self.supports_images = supports_images
        self.latency_s = float(latency_s)
        self.stats = LLMStats()
        self.prompts: list[Prompt] = []
        self._i = 0
        self._lock = threading.Lock()

    def _respond(self, prompt: Prompt, params: SamplingParams) -> str:
        if callable(self.responses):
            out = self.responses(prompt, params)
            if not isinstance(out, str):
                raise ConfigError(f"ScriptedLLM: expected the callable to return a str, got {type(out).__name__}.")
            return out
        if isinstance(self.responses, Mapping):
            text = prompt_text(prompt)
            for key, value in self.responses.items():
                if key in text:
                    return value
            return self.default
        with self._lock:
            i = self._i
            self._i += 1
        n = len(self.responses)
        return self.responses[i % n] if self.cycle else self.responses[min(i, n - 1)]

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams | None = None) -> list[Completion]:
        """Return the scripted completion of each prompt (see the class docstring)."""
        params = params or SamplingParams()
        items = normalize_prompts(prompts)
        start = time.perf_counter()
        if self.latency_s:
            time.sleep(self.latency_s)
        out = []
        for p in items:
            self.prompts.append(p)
            raw = self._respond(p, params)
            text, stopped = cut_at_stop(raw, params.stop)
            words = list(re.finditer(r"\S+", text))
            length = len(words) > params.max_tokens
            if length:  # honour max_tokens, counted in whitespace-separated words
                text = text[: words[params.max_tokens - 1].end()]
            out.append(
                Completion(
                    text=text,
                    prompt_tokens=_count_tokens(prompt_text(p)),
                    completion_tokens=_count_tokens(text),
                    finish_reason="length" if length else "stop",
                )
            )
        wall = time.perf_counter() - start
        out = [Completion(c.text, c.prompt_tokens, c.completion_tokens, wall, c.finish_reason) for c in out]
        self.stats.add(out, wall)
        return out
