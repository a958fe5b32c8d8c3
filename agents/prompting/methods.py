"""Prompting methods as policies over an :class:`~toolgym.agents.base.LLM`.

=====================  ==========================================================================================
policy                 method
=====================  ==========================================================================================
:class:`ReActPolicy`   ReAct (``Thought i / Action i / Observation i``), Act-only (``thoughts=False``), and
                       FireAct's zero-shot fine-tuned format (``style="alpaca"`` or ``"chat"``, no examples)
:class:`AnswerPolicy`  IO (``cot=False``: question in, answer out) and CoT (``cot=True``: reasoning, then answer)
:class:`SelfConsistencyPolicy`  CoT-SC: ``k`` samples at temperature 0.7 per decision, majority vote
:class:`FallbackPolicy`  ReAct→CoT-SC (ReAct gets ``react_steps``; if it has not answered, CoT-SC answers) and
                       CoT-SC→ReAct (ReAct takes over when the majority has fewer than ``k/2`` votes)
=====================  ==========================================================================================

Reflexion (multi-trial) is :class:`toolgym.agents.reflexion.ReflexionPolicy`.

Every method reads what it needs from the env (:class:`~toolgym.agents.prompting.family.EnvAdapter`): the
instructions, the grammar, the answer action, the family's prompt format (ALFWorld's ``> command``
transcript for household envs) and few-shot examples
(:func:`~toolgym.agents.prompting.fewshot.select_examples`). A batch of episodes costs one ``generate``
call per decision round (plus, for ReAct, one more for the episodes whose output had no ``Action``).
"""

from __future__ import annotations

import inspect
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from toolgym.agents.base import (
    AgentAction,
    BasePolicy,
    Completion,
    SamplingParams,
    _check_batch,
    mix_seed,
    observation_images,
    observation_text,
)
from toolgym.agents.llm import make_llm
from toolgym.agents.prompting.family import EnvAdapter, strip_code_fence
from toolgym.agents.prompting.fewshot import Example, cache_key, examples_from, select_examples
from toolgym.error import ConfigError
from toolgym.parsing import split_thought

if TYPE_CHECKING:
    import gymnasium as gym

__all__ = [
    "ALPACA_HEADER",
    "REFLECTION_HEADER",
    "AnswerPolicy",
    "FallbackPolicy",
    "LLMPolicy",
    "ReActPolicy",
    "SelfConsistencyPolicy",
]

#: The Alpaca instruction header used by FireAct's fine-tuning data and zero-shot inference.
ALPACA_HEADER = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
)
#: Put before the reflections of earlier trials (Reflexion).
REFLECTION_HEADER = (
    "You have attempted this task before and failed. The following reflection(s) give a plan to avoid failing "
    "the same way again. Use them to improve your strategy for solving the task."
)
_ACTION_SPLIT = re.compile(r"\n?[ \t]*Action\s*\d*\s*:[ \t]*", re.IGNORECASE)
_ANSWER = re.compile(r"(?im)^\s*(?:final\s+)?answer\s*:\s*")
_STYLES = ("text", "chat", "alpaca")


def _usage(completions: Sequence[Completion]) -> dict[str, float]:
    return {
        "prompt_tokens": sum(c.prompt_tokens for c in completions),
        "completion_tokens": sum(c.completion_tokens for c in completions),
        "llm_s": max((c.latency_s for c in completions), default=0.0),
    }


def _add_usage(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


def _question(text: str) -> str:
    stripped = text.strip()
    return stripped[len("question:") :].strip() if stripped.lower().startswith("question:") else stripped


def _init_options(*classes: type) -> dict[str, inspect.Parameter]:
    """The keyword parameters of the ``__init__`` of ``classes`` and their bases (up to :class:`BasePolicy`)."""
    out: dict[str, inspect.Parameter] = {}
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    for cls in classes:
        for klass in cls.__mro__:
            if klass in (BasePolicy, object):
                break
            if "__init__" in vars(klass):
                for name, p in inspect.signature(klass.__init__).parameters.items():
                    if name != "self" and p.kind in kinds:
                        out.setdefault(name, p)
    return out


class LLMPolicy(BasePolicy):
    """Shared machinery of the prompting policies: the model, sampling, examples and per-episode history.

    Subclasses implement :meth:`_prompt` (the prompt of one slot) and :meth:`_parse` (a completion into an
    :class:`~toolgym.agents.base.AgentAction`); this class batches the calls.

    Args:
        llm: An :class:`~toolgym.agents.base.LLM`, or a spec for :func:`~toolgym.agents.make_llm`.
        examples: ``"auto"`` (published, written or expert-made examples, see
            :func:`~toolgym.agents.prompting.fewshot.select_examples`), ``"published"``, ``"written"``,
            ``"expert"``, ``"none"``, or a list of :class:`~toolgym.agents.prompting.fewshot.Example` (or dicts).
        num_examples: At most this many examples (default: the source's own number).
        max_tokens: New tokens per call.
        temperature: Sampling temperature (0: greedy).
        top_p: Nucleus mass.
        seed: Sampling seed (with ``temperature > 0``).
        instructions: Replaces the env's instructions in the prompt.
        style: ``"text"`` (a completion prompt), ``"chat"`` (chat messages) or ``"alpaca"``.
    """

    method = "llm"
    #: Put before the memory block (:meth:`memory_text`) in the prompt.
    memory_header = REFLECTION_HEADER

    @classmethod
    def accepted_options(cls) -> dict[str, inspect.Parameter]:
        """Every option the constructor takes, those passed on to the base class included."""
        return _init_options(cls)

    def __init__(
        self,
        llm: Any,
        *,
        examples: str | Sequence[Example | Mapping[str, Any]] = "auto",
        num_examples: int | None = None,
        max_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        instructions: str | None = None,
        style: str = "text",
    ) -> None:
        """Create the policy (see the class docstring)."""
        super().__init__()
        self.llm = make_llm(llm)
        if isinstance(examples, str):
            if examples not in ("auto", "published", "written", "expert", "none"):
                raise ConfigError(
                    "examples: expected 'auto', 'published', 'written', 'expert', 'none' or a list of examples, "
                    f"got {examples!r}."
                )
            self._example_source, self._fixed_examples = examples, None
        else:
            self._example_source, self._fixed_examples = "given", examples_from(examples)
        if num_examples is not None and (not isinstance(num_examples, int) or num_examples < 0):
            raise ConfigError(f"num_examples: expected an int >= 0 or None, got {num_examples!r}.")
        if style not in _STYLES:
            raise ConfigError(f"style: expected one of {list(_STYLES)}, got {style!r}.")
        self.num_examples = num_examples
        self.params = SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed)
        self.instructions = instructions
        self.style = style
        self.memory: Callable[[int], str] | None = None
        self._example_cache: dict[tuple[Any, ...], list[Example]] = {}
        self.name = f"{self.method}"

    # ------------------------------------------------------------------------------------------ episode state
    def reset(self, observation: Any, info: Mapping[str, Any], *, env: gym.Env | None = None, slot: int = 0) -> None:
        """Start an episode: read the env, pick examples, clear the history."""
        super().reset(observation, info, env=env, slot=slot)
        state = self.episode(slot)
        adapter = EnvAdapter.from_env(env) if env is not None else _default_adapter()
        state.update(
            adapter=adapter,
            question=_question(observation_text(observation)),
            images=observation_images(observation) if getattr(self.llm, "supports_images", False) else [],
            history=[],
            pending=None,
            extra_usage={},
            examples=self._examples(env, observation),
            sample_key=(str(info.get("task_id", "")), info.get("reset_seed"), int(info.get("trial", 0) or 0)),
        )

    def _examples(self, env: gym.Env | None, observation: Any) -> list[Example]:
        if self._fixed_examples is not None:
            return list(
                self._fixed_examples[: self.num_examples] if self.num_examples is not None else self._fixed_examples
            )
        if env is None or self._example_source == "none":
            return []
        key = cache_key(env, self._examples_method(), observation, self.num_examples, self._example_source)
        if key not in self._example_cache:
            self._example_cache[key] = select_examples(
                env, self._examples_method(), observation, k=self.num_examples, source=self._example_source
            )
        return list(self._example_cache[key])

    def _examples_method(self) -> str:
        return self.method

    def add_usage(self, slot: int, usage: Mapping[str, float]) -> None:
        """Charge extra model usage (e.g. a reflection) to the next action of ``slot``."""
        state = self.episode(slot)
        state["extra_usage"] = _add_usage(state.get("extra_usage", {}), usage)

    def _observe(self, slot: int, observation: Any) -> None:
        """Move the slot's pending action into its history with the observation it got (idempotent)."""
        state = self.episode(slot)
        if "history" not in state:
            raise ConfigError(f"{type(self).__name__}: expected reset() before act() in slot {slot}.")
        if state["pending"] is not None:
            thought, action = state["pending"]
            state["history"].append((thought, action, observation_text(observation)))
            state["pending"] = None

    def _commit(self, slot: int, action: AgentAction) -> AgentAction:
        state = self.episode(slot)
        state["pending"] = (action.thought, str(action))
        extra = state.get("extra_usage")
        if extra:
            action = AgentAction(
                str(action), thought=action.thought, raw=action.raw, usage=_add_usage(action.usage, extra)
            )
            state["extra_usage"] = {}
        return action

    def memory_text(self, slot: int) -> str:
        """The reflections block for ``slot`` (empty unless a Reflexion policy set :attr:`memory`)."""
        if self.memory is None:
            return ""
        return self.memory(slot).strip()

    # ------------------------------------------------------------------------------------------ batching
    def _prompt(self, slot: int) -> Any:
        raise NotImplementedError

    def _stop(self, slot: int) -> tuple[str, ...]:
        return ()

    def _parse(self, slot: int, completion: Completion) -> AgentAction:
        raise NotImplementedError

    def _repair(self, slots: list[int], actions: list[AgentAction]) -> list[AgentAction]:
        """A second chance for outputs without an action (ReAct); default: none."""
        return actions

    def propose(
        self, slots: Sequence[int], n: int = 1, params: SamplingParams | None = None
    ) -> list[list[AgentAction]]:
        """Sample ``n`` candidate actions per slot in one batched call (the history is not changed).

        Args:
            slots: The slots (after :meth:`_observe`).
            n: Candidates per slot.
            params: Sampling parameters (default: the policy's).
        """
        params = params or self.params
        prompts, index = [], []
        for s in slots:
            p = self._prompt(s)
            stop = self._stop(s)
            for j in range(n):
                prompts.append(p)
                index.append((s, stop, j))
        seeds = self._sample_seeds(params, index)
        # one call per distinct stop set (usually one)
        by_stop: dict[tuple[str, ...], list[int]] = {}
        for k, (_, stop, _) in enumerate(index):
            by_stop.setdefault(stop, []).append(k)
        completions: list[Completion | None] = [None] * len(prompts)
        for stop, ks in by_stop.items():
            call = params.replace(stop=tuple(dict.fromkeys((*params.stop, *stop))))
            if seeds is not None:
                call = call.replace(seed=None, seeds=tuple(seeds[k] for k in ks))
            for k, c in zip(ks, self.llm.generate([prompts[k] for k in ks], call)):
                completions[k] = c
        actions = [self._parse(index[k][0], c) for k, c in enumerate(completions) if c is not None]
        actions = self._repair([index[k][0] for k in range(len(index))], actions)
        return [actions[i * n : (i + 1) * n] for i in range(len(slots))]

    def _sample_seeds(self, params: SamplingParams, index: Sequence[tuple[int, Any, int]]) -> list[int] | None:
        """With a seed and ``temperature > 0``: one seed per prompt, from the episode, its step and the candidate.

        A sample then depends on its episode (task, reset seed, trial), step and candidate index, never on
        which episodes shared the batch: ``rollout(task_ids=[t] * k, num_envs=n)`` gives k independent episodes,
        the same ones for every ``n``. Without a seed, each call samples afresh.
        """
        if params.temperature <= 0 or params.seed is None:
            return None
        out = []
        for s, _, j in index:
            state = self.episode(s)
            out.append(mix_seed(params.seed, state.get("sample_key", s), len(state.get("history", ())), j))
        return out

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """The next action of one episode (a batch of one)."""
        return self.act_batch([observation], [info], slots=[slot])[0]

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[Mapping[str, Any]], *, slots: Sequence[int] | None = None
    ) -> list[str]:
        """The next action of every episode, from one batched model call."""
        slots = list(range(len(observations))) if slots is None else list(slots)
        _check_batch(observations, infos, slots)
        for s, o in zip(slots, observations):
            self._observe(s, o)
        proposals = self.propose(slots)
        return [self._commit(s, p[0]) for s, p in zip(slots, proposals)]

    # ------------------------------------------------------------------------------------------ prompt parts
    def _header(self, slot: int, lead: str) -> str:
        state = self.episode(slot)
        text = self.instructions if self.instructions is not None else state["adapter"].instructions
        return f"{lead}\n{text}".strip() if lead else text.strip()

    def _memory_block(self, slot: int) -> str:
        mem = self.memory_text(slot)
        return f"{self.memory_header}\n{mem}\n" if mem else ""

    def _user_content(self, slot: int, text: str) -> Any:
        images = self.episode(slot).get("images") or []
        if not images:
            return text
        return [{"type": "text", "text": text}] + [{"type": "image", "image": im} for im in images]


def _default_adapter() -> EnvAdapter:
    return EnvAdapter("other", "", "", ("finish",), False, False, "finish")


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

    def _prompt_text(self, slot: int) -> str:
        state = self.episode(slot)
        parts = [self._header(slot, self._lead())]
        if state["examples"]:
            parts.append("Here are some examples.")
            parts.extend(self._render_example(e, numbered=True) for e in state["examples"])
            parts.append("(END OF EXAMPLES)")
        mem = self._memory_block(slot)
        if mem:
            parts.append(mem.rstrip())
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
        if state["examples"]:
            system.append("Here are some examples.")
            system.extend(self._render_example(e, numbered=False) for e in state["examples"])
            system.append("(END OF EXAMPLES)")
        mem = self._memory_block(slot)
        if mem:
            system.append(mem.rstrip())
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


class AnswerPolicy(LLMPolicy):
    """IO and CoT prompting: the question in, the answer out, in one step.

    The prompt is the examples as ``Question: ... / Answer: ...`` (IO) or ``Question: ... / Thought: Let's
    think step by step. ... / Answer: ...`` (CoT), then the question. The answer becomes the env's answer
    action (``finish[...]``, ``answer[...]``, or a ``Submit:`` code block for code envs). On envs with no
    single answer action (household games), IO runs as Act-only and CoT as ReAct.

    Args:
        llm: The model (see :class:`LLMPolicy`).
        cot: Reason step by step before answering.
        **kwargs: See :class:`LLMPolicy`.
    """

    method = "io"

    def __init__(self, llm: Any, *, cot: bool = False, **kwargs: Any) -> None:
        """Create the policy (see the class docstring)."""
        kwargs.setdefault("max_tokens", 256 if cot else 128)
        super().__init__(llm, **kwargs)
        self.cot = bool(cot)
        self.method = "cot" if cot else "io"
        self.name = self.method
        self._stepwise = ReActPolicy(self.llm, thoughts=self.cot, **_llm_kwargs(self))

    def reset(self, observation: Any, info: Mapping[str, Any], *, env: gym.Env | None = None, slot: int = 0) -> None:
        """Start an episode (household envs go step by step, see the class docstring)."""
        super().reset(observation, info, env=env, slot=slot)
        state = self.episode(slot)
        state["stepwise"] = not state["adapter"].has_answer_action
        if state["stepwise"]:
            self._stepwise.memory = self.memory
            self._stepwise.reset(observation, info, env=env, slot=slot)

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[Mapping[str, Any]], *, slots: Sequence[int] | None = None
    ) -> list[str]:
        """Answer every episode in one batched call (step-by-step episodes go to the inner ReAct/Act policy)."""
        slots = list(range(len(observations))) if slots is None else list(slots)
        _check_batch(observations, infos, slots)
        step = [k for k, s in enumerate(slots) if self.episode(s).get("stepwise")]
        out: list[str] = [""] * len(slots)
        if step:
            acts = self._stepwise.act_batch(
                [observations[k] for k in step], [infos[k] for k in step], slots=[slots[k] for k in step]
            )
            for k, a in zip(step, acts):
                out[k] = a
        rest = [k for k in range(len(slots)) if k not in set(step)]
        if rest:
            acts = super().act_batch(
                [observations[k] for k in rest], [infos[k] for k in rest], slots=[slots[k] for k in rest]
            )
            for k, a in zip(rest, acts):
                out[k] = a
        return out

    def _stop(self, slot: int) -> tuple[str, ...]:
        return ("\nQuestion:", "\nObservation")

    def _prompt(self, slot: int) -> Any:
        state = self.episode(slot)
        lead = (
            "Answer the question. Think step by step, then give the final answer on a line 'Answer: <answer>'."
            if self.cot
            else "Answer the question directly, on a line 'Answer: <answer>'."
        )
        parts = [self._header(slot, lead)]
        code = state["adapter"].code_answers
        if state["examples"]:
            parts.append("Here are some examples.")
            for ex in state["examples"]:
                answer = f"\n```python\n{ex.answer}\n```" if code else f" {ex.answer}"
                block = f"Question: {ex.question}\n"
                if self.cot:
                    block += f"Thought: Let's think step by step. {ex.reasoning}\n"
                parts.append(block + f"Answer:{answer}")
            parts.append("(END OF EXAMPLES)")
        mem = self._memory_block(slot)
        if mem:
            parts.append(mem.rstrip())
        tail = f"Question: {state['question']}"
        for _, action, obs in state["history"]:  # earlier answers of this episode, if the env went on
            tail += f"\nAnswer: {action}\nObservation: {obs}"
        tail += "\nThought: Let's think step by step." if self.cot else "\nAnswer:"
        parts.append(tail)
        text = "\n".join(parts)
        if self.style == "chat":
            return [{"role": "user", "content": self._user_content(slot, text)}]
        return text

    def _parse(self, slot: int, completion: Completion) -> AgentAction:
        adapter: EnvAdapter = self.episode(slot)["adapter"]
        text = completion.text
        if self.cot:
            found = list(_ANSWER.finditer(text))
            m = found[-1] if found else None
            if m is not None:
                reasoning, answer = text[: m.start()].strip(), text[m.end() :]
            else:  # no "Answer:" line: the last line is the answer
                lines = [ln for ln in text.strip().splitlines() if ln.strip()]
                reasoning, answer = " ".join(lines[:-1]), lines[-1] if lines else ""
        else:
            reasoning, answer = "", _ANSWER.sub("", text, count=1)
        answer = strip_code_fence(answer) if adapter.code_answers else answer.strip().split("\n", 1)[0].strip()
        return AgentAction(
            adapter.answer_action(answer), thought=reasoning or None, raw=text, usage=_usage([completion])
        )


def _llm_kwargs(policy: LLMPolicy) -> dict[str, Any]:
    examples: Any = policy._fixed_examples if policy._fixed_examples is not None else policy._example_source
    return {
        "examples": examples,
        "num_examples": policy.num_examples,
        "max_tokens": policy.params.max_tokens,
        "temperature": policy.params.temperature,
        "top_p": policy.params.top_p,
        "seed": policy.params.seed,
        "instructions": policy.instructions,
        "style": policy.style if policy.style != "alpaca" else "text",
    }


class SelfConsistencyPolicy(BasePolicy):
    """Self-consistency: ``k`` sampled candidates per decision, the majority wins (CoT-SC by default).

    Over CoT (the default, ``base="cot"``) this is the paper's CoT-SC: ``k`` chains of thought at
    temperature 0.7, majority vote on the normalised answer. Over ReAct (``base="react"``) it votes on each
    step's action, which also applies to household games. All ``k`` samples of all episodes go to the model in
    one batch.

    Args:
        llm: The model.
        k: Samples per decision (21 in ReAct's paper).
        temperature: Sampling temperature of the samples.
        base: ``"cot"``, ``"io"``, ``"react"`` or ``"act"``.
        **kwargs: Options of the base policy (examples, max_tokens, style...).
    """

    name = "cot-sc"

    @classmethod
    def accepted_options(cls) -> dict[str, inspect.Parameter]:
        """Its own options and those of the base methods (``base`` picks the method)."""
        options = _init_options(cls, ReActPolicy, AnswerPolicy)
        return {k: v for k, v in options.items() if k not in ("cot", "thoughts")}

    def __init__(self, llm: Any, *, k: int = 21, temperature: float = 0.7, base: str = "cot", **kwargs: Any) -> None:
        """Create the policy (see the class docstring)."""
        super().__init__()
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"k: expected a positive int, got {k!r}.")
        if not isinstance(temperature, (int, float)) or temperature <= 0:
            raise ConfigError(f"temperature: expected a number > 0 (samples must differ), got {temperature!r}.")
        self.k = k
        self.base = _base_policy(llm, base, kwargs)
        self.llm = self.base.llm
        self.sample_params = self.base.params.replace(temperature=float(temperature))
        self.name = "cot-sc" if base == "cot" else f"{base}-sc"

    @property
    def memory(self) -> Callable[[int], str] | None:
        """The reflections hook (forwarded to the base policy)."""
        return self.base.memory

    @memory.setter
    def memory(self, fn: Callable[[int], str] | None) -> None:
        self.base.memory = fn

    def reset(self, observation: Any, info: Mapping[str, Any], *, env: gym.Env | None = None, slot: int = 0) -> None:
        """Start an episode."""
        super().reset(observation, info, env=env, slot=slot)
        self.base.reset(observation, info, env=env, slot=slot)

    def add_usage(self, slot: int, usage: Mapping[str, float]) -> None:
        """Charge extra usage to the next action of ``slot``."""
        self.base.add_usage(slot, usage)

    def vote(self, slots: Sequence[int], observations: Sequence[Any]) -> list[tuple[AgentAction, int]]:
        """Sample and vote without acting: the winning action of each slot and its number of votes."""
        return self._vote(self.base, slots, observations)

    def _vote(
        self, base: LLMPolicy, slots: Sequence[int], observations: Sequence[Any]
    ) -> list[tuple[AgentAction, int]]:
        for s, o in zip(slots, observations):
            base._observe(s, o)
        proposals = base.propose(slots, n=self.k, params=self.sample_params)
        out = []
        for s, cands in zip(slots, proposals):
            adapter: EnvAdapter = base.episode(s)["adapter"]
            keys = [adapter.vote_key(str(a)) for a in cands]
            counts = Counter(keys)
            best, votes = max(counts.items(), key=lambda kv: (kv[1], -keys.index(kv[0])))
            winner = cands[keys.index(best)]
            usage: dict[str, float] = {}
            for a in cands:
                usage = _add_usage(usage, a.usage)
            usage["llm_s"] = max((a.usage.get("llm_s", 0.0) for a in cands), default=0.0)
            thought = (winner.thought or "").strip()
            note = f"[self-consistency: {votes}/{self.k} votes]"
            action = AgentAction(str(winner), thought=f"{thought} {note}".strip(), raw=winner.raw, usage=usage)
            out.append((action, votes))
        return out

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[Mapping[str, Any]], *, slots: Sequence[int] | None = None
    ) -> list[str]:
        """The majority action of every episode (one batched call of ``k`` samples per episode)."""
        slots = list(range(len(observations))) if slots is None else list(slots)
        _check_batch(observations, infos, slots)
        out: list[str] = [""] * len(slots)
        groups: dict[int, list[int]] = {}
        bases: dict[int, LLMPolicy] = {}
        for k, s in enumerate(slots):
            base = self.base
            if isinstance(base, AnswerPolicy) and base.episode(s).get("stepwise"):
                base = base._stepwise  # household: vote per step with the inner ReAct/Act policy
            groups.setdefault(id(base), []).append(k)
            bases[id(base)] = base
        for key, ks in groups.items():
            base = bases[key]
            voted = self._vote(base, [slots[k] for k in ks], [observations[k] for k in ks])
            for k, (a, _) in zip(ks, voted):
                out[k] = base._commit(slots[k], a)
        return out

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """The majority action of one episode."""
        return self.act_batch([observation], [info], slots=[slot])[0]


def _base_policy(llm: Any, base: str, kwargs: dict[str, Any]) -> LLMPolicy:
    if base == "cot":
        return AnswerPolicy(llm, cot=True, **kwargs)
    if base == "io":
        return AnswerPolicy(llm, cot=False, **kwargs)
    if base == "react":
        return ReActPolicy(llm, **kwargs)
    if base == "act":
        return ReActPolicy(llm, thoughts=False, **kwargs)
    raise ConfigError(f"base: expected 'cot', 'io', 'react' or 'act', got {base!r}.")


class FallbackPolicy(BasePolicy):
    """ReAct and CoT-SC combined, as in ReAct's paper (Table 1).

    * ``order="react-cot-sc"``: ReAct acts for ``react_steps`` steps; an episode that has not ended by then
      gets its answer from CoT-SC (which sees the question only).
    * ``order="cot-sc-react"``: CoT-SC votes first; when its majority answer has at least ``k/2`` votes it
      is submitted, otherwise ReAct solves the task from the start.

    Args:
        llm: The model (shared by both).
        order: ``"react-cot-sc"`` or ``"cot-sc-react"``.
        react_steps: ReAct's step budget before backing off (default: the env's ``max_steps - 1``, so that
            CoT-SC answers at the last step; ReAct's paper used 7 for HotpotQA and 5 for FEVER).
        k: CoT-SC samples.
        temperature: CoT-SC sampling temperature.
        react: Options for the ReAct policy.
        cot: Options for the CoT policy (examples, max_tokens...).
    """

    def __init__(
        self,
        llm: Any,
        *,
        order: str = "react-cot-sc",
        react_steps: int | None = None,
        k: int = 21,
        temperature: float = 0.7,
        react: Mapping[str, Any] | None = None,
        cot: Mapping[str, Any] | None = None,
    ) -> None:
        """Create the policy (see the class docstring)."""
        super().__init__()
        if order not in ("react-cot-sc", "cot-sc-react"):
            raise ConfigError(f"order: expected 'react-cot-sc' or 'cot-sc-react', got {order!r}.")
        if react_steps is not None and (not isinstance(react_steps, int) or react_steps < 0):
            raise ConfigError(f"react_steps: expected an int >= 0 or None, got {react_steps!r}.")
        self.order = order
        self.react_steps = react_steps
        self.react = ReActPolicy(llm, **dict(react or {}))
        self.llm = self.react.llm
        self.cot_sc = SelfConsistencyPolicy(self.llm, k=k, temperature=temperature, base="cot", **dict(cot or {}))
        self.name = order

    @property
    def memory(self) -> Callable[[int], str] | None:
        """The reflections hook (forwarded to both policies)."""
        return self.react.memory

    @memory.setter
    def memory(self, fn: Callable[[int], str] | None) -> None:
        self.react.memory = fn
        self.cot_sc.memory = fn

    def add_usage(self, slot: int, usage: Mapping[str, float]) -> None:
        """Charge extra usage to the next action of ``slot``."""
        self.react.add_usage(slot, usage)

    def reset(self, observation: Any, info: Mapping[str, Any], *, env: gym.Env | None = None, slot: int = 0) -> None:
        """Start an episode with the first method of :attr:`order`."""
        super().reset(observation, info, env=env, slot=slot)
        state = self.episode(slot)
        budget = self.react_steps
        if budget is None:
            limit = getattr(getattr(env, "unwrapped", None), "max_steps", None)
            budget = max(int(limit) - 1, 0) if isinstance(limit, int) else 6
        state.update(mode="react" if self.order == "react-cot-sc" else "cot-sc", steps=0, budget=budget, switched=False)
        self.react.reset(observation, info, env=env, slot=slot)
        self.cot_sc.reset(observation, info, env=env, slot=slot)

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[Mapping[str, Any]], *, slots: Sequence[int] | None = None
    ) -> list[str]:
        """The next action of every episode, each from its current method."""
        slots = list(range(len(observations))) if slots is None else list(slots)
        _check_batch(observations, infos, slots)
        out: list[str] = [""] * len(slots)
        react_k, cot_k = [], []
        for k, s in enumerate(slots):
            state = self.episode(s)
            if state["mode"] == "react" and self.order == "react-cot-sc" and state["steps"] >= state["budget"]:
                state["mode"], state["switched"] = "cot-sc", True
            (react_k if state["mode"] == "react" else cot_k).append(k)
        if cot_k:
            voted = self.cot_sc.vote(
                [slots[k] for k in cot_k], [self.episode(slots[k]).first_observation for k in cot_k]
            )
            back_to_react = []
            for k, (action, votes) in zip(cot_k, voted):
                s = slots[k]
                if self.order == "cot-sc-react" and votes < self.cot_sc.k / 2:
                    self.episode(s)["mode"], self.episode(s)["switched"] = "react", True
                    self.react.add_usage(s, action.usage)
                    back_to_react.append(k)
                else:
                    out[k] = self.cot_sc.base._commit(s, action)
            react_k = sorted(react_k + back_to_react)
        if react_k:
            acts = self.react.act_batch(
                [observations[k] for k in react_k], [infos[k] for k in react_k], slots=[slots[k] for k in react_k]
            )
            for k, a in zip(react_k, acts):
                out[k] = a
        for s in slots:
            self.episode(s)["steps"] += 1
        return out

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """The next action of one episode."""
        return self.act_batch([observation], [info], slots=[slot])[0]
