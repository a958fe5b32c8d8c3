"""ReAct, Act-only and FireAct's format: :class:`ReActPolicy`.

ReAct interleaves ``Thought i / Action i / Observation i``; Act-only drops the thoughts (``thoughts=False``);
FireAct's zero-shot fine-tuned format is ``style="alpaca"`` or ``"chat"`` with no examples.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from toolgym.agents.base import AgentAction, Completion, observation_text
from toolgym.agents.prompting.fewshot import Example
from toolgym.agents.prompting.policy import ALPACA_HEADER, LLMPolicy, _add_usage, _usage
from toolgym.parsing import split_thought

__all__ = ["ReActPolicy"]

_ACTION_SPLIT = re.compile(r"\n?[ \t]*Action\s*\d*\s*:[ \t]*", re.IGNORECASE)


def _render_steps(
    steps: Sequence[tuple[str | None, str, str]], *, numbered: bool, thoughts: bool, start: int = 1
) -> str:
    lines = []
    for i, (thought, action, obs) in enumerate(steps, start=start):
        n = f" {i}" if numbered else ""
        if thoughts and thought:
            lines.append(f"Thought{n}: {thought}")
        lines.append(f"Action{n}: {action}")
        if obs:
            lines.append(f"Observation{n}: {obs}")
    return "\n".join(lines)


class ReActPolicy(LLMPolicy):
    """ReAct: interleaved ``Thought`` / ``Action`` / ``Observation`` steps (and Act-only, and FireAct's format).

    Text style (default), as in ReAct's code: the prompt is the instructions, the examples, ``(END OF
    EXAMPLES)``, any reflections, ``Question: ...``, the steps so far, and ``Thought i:``; the model writes
    the thought and ``Action i: ...`` and is stopped at ``\\nObservation``. When its output has no action,
    it is asked once more for the action alone (``Action i:``, one line), as ReAct does. For household envs
    (command grammars) the format is ALFWorld's transcript (``> command`` then the observation; thoughts are
    ``think: ...`` commands answered ``OK.``), one line per call.

    ``style="chat"`` sends chat messages (system: instructions and examples; then user question, assistant
    ``Thought: ...\\nAction: ...``, user ``Observation: ...``), the format of FireAct's ``gpt`` data.
    ``style="alpaca"`` is FireAct's zero-shot fine-tuned format: Alpaca header, the question as instruction,
    and un-numbered steps as the response (use it with ``examples="none"`` on a fine-tuned model).

    Args:
        llm: The model (see :class:`LLMPolicy`).
        thoughts: ``False`` gives Act-only (no ``Thought`` lines).
        numbered: Number the steps (``Thought 1:``) as ReAct does, or not (``Thought:``) as FireAct does.
        **kwargs: See :class:`LLMPolicy`.
    """

    method = "react"

    def __init__(self, llm: Any, *, thoughts: bool = True, numbered: bool = True, **kwargs: Any) -> None:
        """Create the policy (see the class docstring)."""
        kwargs.setdefault("max_tokens", 128)
        super().__init__(llm, **kwargs)
        self.thoughts = bool(thoughts)
        self.numbered = bool(numbered) and self.style == "text"
        if not self.thoughts:
            self.method = "act"
        if self.style == "alpaca":
            self.method = "fireact"
        self.name = self.method

    def _examples_method(self) -> str:
        return "react" if self.thoughts else "act"

    def _transcript(self, slot: int) -> bool:
        return self.episode(slot)["adapter"].transcript and self.style == "text"

    def _stop(self, slot: int) -> tuple[str, ...]:
        if self._transcript(slot):
            return ("\n",)
        return ("\nObservation", "\nQuestion:")

    # ------------------------------------------------------------------------------------------ prompts
    def _prompt(self, slot: int) -> Any:
        if self._transcript(slot):
            return self._prompt_transcript(slot)
        if self.style == "chat":
            return self._prompt_chat(slot)
        if self.style == "alpaca":
            return self._prompt_alpaca(slot)
        return self._prompt_text(slot)

    def _lead(self) -> str:
        if self.thoughts:
            return (
                "Solve a task with interleaving Thought, Action, Observation steps. Thought can reason about the "
                "current situation, and Action is one action of the environment."
            )
        return "Solve a task with interleaving Action, Observation steps. Action is one action of the environment."

    def _render_example(self, ex: Example, *, numbered: bool) -> str:
        if ex.transcript is not None:
            return ex.transcript
        body = _render_steps(ex.steps, numbered=numbered, thoughts=self.thoughts)
        return f"Question: {ex.question}\n{body}"

    def _examples_and_memory(self, slot: int, *, numbered: bool) -> list[str]:
        """The prompt's examples block (when there are examples) and reflections block (when there is memory)."""
        examples = self.episode(slot)["examples"]
        out = []
        if examples:
            out.append("Here are some examples.")
            out.extend(self._render_example(e, numbered=numbered) for e in examples)
            out.append("(END OF EXAMPLES)")
        mem = self._memory_block(slot)
        if mem:
            out.append(mem.rstrip())
        return out

    def _prompt_text(self, slot: int) -> str:
        state = self.episode(slot)
        parts = [self._header(slot, self._lead())]
        parts.extend(self._examples_and_memory(slot, numbered=True))
        parts.append(f"Question: {state['question']}")
        hist = _render_steps(state["history"], numbered=self.numbered, thoughts=self.thoughts)
        if hist:
            parts.append(hist)
        i = len(state["history"]) + 1
        n = f" {i}" if self.numbered else ""
        parts.append(f"Thought{n}:" if self.thoughts else f"Action{n}:")
        return "\n".join(parts)

    def _prompt_transcript(self, slot: int) -> str:
        state = self.episode(slot)
        parts = [self._header(slot, "Interact with a household to solve a task.")]
        if self.thoughts:
            parts[0] += " You may think with 'think: ...' (the answer is 'OK.')."
        if state["examples"]:
            parts.append(f"Here {'is an example' if len(state['examples']) == 1 else 'are some examples'}.")
            parts.extend(self._render_example(e, numbered=False) for e in state["examples"])
        mem = self._memory_block(slot)
        if mem:
            parts.append(mem.rstrip())
        parts.append("Here is the task.")
        body = self.episode(slot).first_observation
        text = observation_text(body).strip()
        for _, action, obs in state["history"]:
            text += f"\n> {action}\n{obs}"
        parts.append(text + "\n>")
        return "\n".join(parts)

    def _prompt_chat(self, slot: int) -> list[dict[str, Any]]:
        state = self.episode(slot)
        system = [self._header(slot, self._lead())]
        system.append(
            "Answer each turn with 'Thought: <reasoning>' and 'Action: <action>' lines."
            if self.thoughts
            else "Answer each turn with one 'Action: <action>' line."
        )
        system.extend(self._examples_and_memory(slot, numbered=False))
        msgs: list[dict[str, Any]] = [{"role": "system", "content": "\n".join(system)}]
        msgs.append({"role": "user", "content": self._user_content(slot, f"Question: {state['question']}")})
        for thought, action, obs in state["history"]:
            content = f"Thought: {thought}\nAction: {action}" if self.thoughts and thought else f"Action: {action}"
            msgs.append({"role": "assistant", "content": content})
            msgs.append({"role": "user", "content": f"Observation: {obs}"})
        return msgs

    def _prompt_alpaca(self, slot: int) -> str:
        state = self.episode(slot)
        instruction = state["question"]
        mem = self.memory_text(slot)
        if mem:
            instruction += f"\n{self.memory_header}\n{mem}"
        hist = _render_steps(state["history"], numbered=False, thoughts=self.thoughts)
        prompt = f"{ALPACA_HEADER}\n\n### Instruction:\n{instruction}\n\n### Response:\n"
        if hist:
            prompt += hist + "\n"
        return prompt + ("Thought:" if self.thoughts else "Action:")

    # ------------------------------------------------------------------------------------------ parsing
    def _parse(self, slot: int, completion: Completion) -> AgentAction:
        text = completion.text
        usage = _usage([completion])
        if self._transcript(slot):
            action = text.strip().split("\n", 1)[0].strip()
            action = action[1:].strip() if action.startswith(">") else action
            thought = action[len("think:") :].strip() if action.lower().startswith("think:") else None
            return AgentAction(action, thought=thought, raw=text, usage=usage)
        if self.style == "chat":
            thought, action = split_thought(text)
            if thought is None and self.thoughts:
                m = _ACTION_SPLIT.search(text)
                if m is None:
                    return AgentAction("", thought=text.strip() or None, raw=text, usage=usage)
            return AgentAction(self._action_text(slot, action), thought=thought, raw=text, usage=usage)
        if not self.thoughts:
            action = _ACTION_SPLIT.sub("", text.strip(), count=1)
            return AgentAction(self._action_text(slot, action), raw=text, usage=usage)
        m = _ACTION_SPLIT.search(text)
        if m is None:  # no action: ReAct asks again for the action alone (see _repair)
            return AgentAction("", thought=text.strip() or None, raw=text, usage=usage)
        thought = text[: m.start()].strip()
        thought = re.sub(r"^Thought\s*\d*\s*:\s*", "", thought, flags=re.IGNORECASE) or None
        return AgentAction(self._action_text(slot, text[m.end() :]), thought=thought, raw=text, usage=usage)

    def _action_text(self, slot: int, text: str) -> str:
        """The action: its first line where the env's actions are one line (all but fenced code).

        What the model wrote after the action's line (``Finish[yes]\\n(END OF EXAMPLES)``) is not part of it:
        it would reach the trajectory and, from there, training data. It stays in ``AgentAction.raw``.
        """
        text = text.strip()
        if self.episode(slot)["adapter"].fenced:
            return text
        return text.split("\n", 1)[0].strip()

    def _repair(self, slots: list[int], actions: list[AgentAction]) -> list[AgentAction]:
        todo = [
            k for k, a in enumerate(actions) if not str(a).strip() and self.thoughts and not self._transcript(slots[k])
        ]
        if not todo or self.style == "chat":
            return actions
        prompts = []
        for k in todo:
            s = slots[k]
            i = len(self.episode(s)["history"]) + 1
            n = f" {i}" if self.numbered else ""
            base = self._prompt(s)
            prompts.append(f"{base} {actions[k].thought or ''}\nAction{n}:")
        code = any(self.episode(slots[k])["adapter"].fenced for k in todo)
        stop = ("\nObservation", "\nQuestion:") if code else ("\n",)
        call = self.params.replace(stop=stop)
        seeds = self._sample_seeds(call, [(slots[k], stop, -1) for k in todo])  # -1: the repair's own samples
        if seeds is not None:
            call = call.replace(seed=None, seeds=tuple(seeds))
        outs = self.llm.generate(prompts, call)
        fixed = list(actions)
        for k, c in zip(todo, outs):
            a = actions[k]
            fixed[k] = AgentAction(
                c.text.strip(),
                thought=a.thought,
                raw=(a.raw or "") + "\n[action] " + c.text,
                usage=_add_usage(a.usage, _usage([c])),
            )
        return fixed
