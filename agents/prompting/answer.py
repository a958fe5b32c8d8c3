"""Answer-first methods: IO and CoT (:class:`AnswerPolicy`) and self-consistency (:class:`SelfConsistencyPolicy`).

CoT-SC samples ``k`` chains of thought per decision and takes the majority answer.
"""

from __future__ import annotations

import inspect
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from toolgym.agents.base import AgentAction, BasePolicy, Completion, _check_batch
from toolgym.agents.prompting.family import EnvAdapter, strip_code_fence
from toolgym.agents.prompting.policy import LLMPolicy, _add_usage, _init_options, _llm_kwargs, _usage, act_into
from toolgym.agents.prompting.react import ReActPolicy
from toolgym.error import ConfigError

if TYPE_CHECKING:
    import gymnasium as gym

__all__ = ["AnswerPolicy", "SelfConsistencyPolicy", "base_method_options"]

_ANSWER = re.compile(r"(?im)^\s*(?:final\s+)?answer\s*:\s*")


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
        slots = _check_batch(observations, infos, slots)
        step = [k for k, s in enumerate(slots) if self.episode(s).get("stepwise")]
        out: list[str] = [""] * len(slots)
        act_into(out, self._stepwise.act_batch, step, observations, infos, slots)
        rest = [k for k in range(len(slots)) if k not in set(step)]
        act_into(out, super().act_batch, rest, observations, infos, slots)
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
        return base_method_options(cls)

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
        slots = _check_batch(observations, infos, slots)
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


def base_method_options(cls: type) -> dict[str, inspect.Parameter]:
    """The options of a policy built over a base method (``base=``): its own and those of every base method.

    ``cot`` and ``thoughts`` are left out: ``base`` sets them.
    """
    options = _init_options(cls, ReActPolicy, AnswerPolicy)
    return {k: v for k, v in options.items() if k not in ("cot", "thoughts")}


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
