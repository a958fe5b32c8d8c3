"""LATS: language agent tree search (Zhou et al., ICML 2024) on :func:`~toolgym.algorithms.mcts.mcts_search`.

The tree is the MCTS over env snapshots; LATS adds three things:

* **LM value with self-consistency** (:class:`LMValue`): ``V(s) = λ·LM(s) + (1 − λ)·SC(s)``. ``LM(s)`` is the mean
  of ``value_samples`` correctness scores (1-10, read as 0.1-1.0) the model gives the trajectory so far *after*
  seeing the env's feedback; ``SC(s)`` is the share of the ``n`` proposals at the parent that chose the action
  leading to ``s`` (actions sampled several times are more likely right).
* **Reflections** on failed terminals: after each simulation, every new failed terminal is reflected on (one
  batched :class:`~toolgym.agents.reflectors.VerbalReflector` call); the reflections go into **both** the proposal
  prompt (the policy's memory block) and the value prompt.
* **Oracle or not** (``oracle``): ``True`` is the paper's setting: the search reads the env's task reward (for
  QA envs the gold exact match) and stops at the first success, so its success rate is a pass@k and must be
  compared with ReAct best-of-k / pass@k at the same budget. ``False`` hides task rewards from the search:
  terminals are scored by the LM value, a terminal counts as failed when its value is below
  ``fail_threshold`` (or the step limit cut it), and the answer is the highest-valued path
  (``final="value"``); then success is a pass@1.

:class:`LATSPolicy` runs the search from the env's current state and plays the best path in the real env,
searching again when the path ends before the episode does; it is registered as ``lats`` for
``toolgym bench``, with every token the search spent charged to the actions it returns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from toolgym.agents.base import AgentAction, BasePolicy, SamplingParams, observation_text
from toolgym.agents.llm import make_llm
from toolgym.agents.prompting.react import ReActPolicy
from toolgym.agents.reflectors import VerbalReflector
from toolgym.algorithms.mcts import MCTSConfig, Node, PolicyProposer, SearchContext, SearchResult, mcts_search
from toolgym.error import ConfigError
from toolgym.records import Step, Trajectory

if TYPE_CHECKING:
    import gymnasium as gym

__all__ = ["LATSConfig", "LATSPolicy", "LMValue", "lats_search", "parse_score"]

_SCORE = re.compile(r"(?<!\d)(10|[1-9])(?!\d)")

#: The value prompt's instruction (LATS's HotpotQA value prompt, shortened).
VALUE_LEAD = (
    "Analyze the trajectory of a solution to a task. Judge whether the actions taken so far are correct and lead "
    "towards solving the task. A correct, finished solution scores 10; a wrong or hopeless one 1."
)


def parse_score(text: str) -> float | None:
    """The first integer 1-10 in ``text`` as a value in [0.1, 1.0] (``None`` when there is none).

    Example:
        >>> parse_score(" 7. The trajectory is promising."), parse_score("no idea")
        (0.7, None)
    """
    m = _SCORE.search(text)
    return int(m.group(1)) / 10.0 if m else None


@dataclass(frozen=True)
class LATSConfig:
    """Settings of :func:`lats_search` and :class:`LATSPolicy`.

    Attributes:
        iterations: MCTS simulations (the paper's ``k``: 50 on HotpotQA; its script ran 30).
        n: Proposals per expansion (the paper: 5).
        c: UCT exploration constant (the paper's ``w``; its code uses ``sqrt(2)``).
        value_weight: ``λ`` in ``V = λ·LM + (1 − λ)·SC``.
        value_samples: LM scores sampled per node (their mean is ``LM(s)``).
        value_temperature: Temperature of the value samples (0 with one sample).
        temperature: Temperature of the proposals (the paper: 1.0).
        max_depth: Actions below the root (the paper: 7 on HotpotQA).
        oracle: Read the env's task reward during search (the paper's setting; compare with pass@k).
        reflections: Reflect on failed terminals and put the reflections into the prompts.
        memory_size: Reflections kept (the most recent; LATS keeps up to 4).
        fail_threshold: Without the oracle, a terminal whose value is below this counts as failed.
        max_env_steps: Search budget in env steps (``None``: none).
        max_tokens: Search budget in completion tokens (proposals, values and reflections).
        time_limit_s: Search budget in seconds.
        seed: Seeds proposals and the search.
    """

    iterations: int = 30
    n: int = 5
    c: float = 1.0
    value_weight: float = 0.8
    value_samples: int = 1
    value_temperature: float = 0.0
    temperature: float = 1.0
    max_depth: int | None = 7
    oracle: bool = True
    reflections: bool = True
    memory_size: int = 4
    fail_threshold: float = 0.5
    max_env_steps: int | None = None
    max_tokens: int | None = None
    time_limit_s: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.value_weight <= 1.0:
            raise ConfigError(f"LATSConfig.value_weight: expected a number in [0, 1], got {self.value_weight!r}.")
        if not isinstance(self.value_samples, int) or self.value_samples < 1:
            raise ConfigError(f"LATSConfig.value_samples: expected an int >= 1, got {self.value_samples!r}.")
        if not isinstance(self.memory_size, int) or self.memory_size < 1:
            raise ConfigError(f"LATSConfig.memory_size: expected an int >= 1, got {self.memory_size!r}.")

    def mcts_config(self) -> MCTSConfig:
        """The :class:`~toolgym.algorithms.mcts.MCTSConfig` of the search."""
        return MCTSConfig(
            simulations=self.iterations,
            num_children=self.n,
            selection="uct",
            c=self.c,
            evaluate="children",
            max_depth=self.max_depth,
            max_env_steps=self.max_env_steps,
            max_tokens=self.max_tokens,
            time_limit_s=self.time_limit_s,
            use_env_reward=self.oracle,
            stop_on_success=self.oracle,
            final="visits" if self.oracle else "value",
            transposition_key="observation",
            seed=self.seed,
        )


def _trajectory(question: str, node: Node) -> Trajectory:
    steps = tuple(Step(action=a, observation=o, thought=t) for t, a, o in node.history)
    return Trajectory(env_id="", task_id=str(node.info.get("task_id", "")), question=question, steps=steps)


class LMValue:
    """LATS's value: ``λ·LM(s) + (1 − λ)·SC(s)`` (see the module docstring), one batched call per expansion.

    Args:
        llm: The value model (an :class:`~toolgym.agents.base.LLM` or a spec).
        question: The task text (set by :func:`lats_search` from the root observation when ``None``).
        value_weight: ``λ``.
        samples: Scores sampled per node.
        temperature: Their temperature.
        max_tokens: New tokens per score.
        reflections: A list the search appends reflections to (shared with the proposer's memory).
        unparsed: The LM score when the output has no 1-10 integer.
        seed: Sampling seed.
    """

    def __init__(
        self,
        llm: Any,
        *,
        question: str | None = None,
        value_weight: float = 0.8,
        samples: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 16,
        reflections: list[str] | None = None,
        unparsed: float = 0.0,
        seed: int = 0,
    ) -> None:
        """Create the evaluator (see the class docstring)."""
        self.llm = make_llm(llm)
        self.question = question
        self.value_weight = float(value_weight)
        self.samples = int(samples)
        self.params = SamplingParams(max_tokens=max_tokens, temperature=temperature, stop=("\n",), seed=seed)
        self.reflections = reflections if reflections is not None else []
        self.unparsed = float(unparsed)

    def prompt(self, node: Node, question: str) -> str:
        """The value prompt of one node (LATS: the reflections are worked examples of incorrect trajectories)."""
        parts = [VALUE_LEAD]
        for r in self.reflections:
            parts.append(f"A previous trajectory failed. Reflection: {r}\nThus its correctness score is 1")
        parts.append(_trajectory(question, node).to_react_text(numbered=True))
        return "\n\n".join(parts) + "\nThus the correctness score is"

    def lm_scores(self, nodes: Sequence[Node], question: str, ctx: SearchContext | None = None) -> list[float]:
        """``LM(s)`` of each node: the mean parsed score over :attr:`samples` samples."""
        prompts = [self.prompt(n, question) for n in nodes for _ in range(self.samples)]
        params = self.params
        if self.samples > 1 and params.temperature > 0:
            params = params.replace(seed=None, seeds=tuple(range(len(prompts))))
        outs = self.llm.generate(prompts, params)
        if ctx is not None:
            ctx.charge(
                {
                    "prompt_tokens": sum(c.prompt_tokens for c in outs),
                    "completion_tokens": sum(c.completion_tokens for c in outs),
                }
            )
        scores = []
        for i in range(len(nodes)):
            vals = [parse_score(c.text) for c in outs[i * self.samples : (i + 1) * self.samples]]
            got = [v for v in vals if v is not None]
            scores.append(float(np.mean(got)) if got else self.unparsed)
        return scores

    @staticmethod
    def self_consistency(node: Node) -> float:
        """``SC(s)``: the share of the parent's proposals that chose the action leading to ``node``."""
        parent = node.parent
        if parent is None:
            return 0.0
        total = sum(e.count for e in parent.children)
        count = sum(e.count for e in parent.children if e.child is node)
        return count / total if total else 0.0

    def evaluate(self, nodes: Sequence[Node], ctx: SearchContext) -> list[float]:
        """``λ·LM + (1 − λ)·SC`` for each node."""
        question = self.question
        if question is None:
            root = ctx.root
            question = observation_text(root.observation) if root is not None else ""
        lm = self.lm_scores(nodes, question, ctx)
        return [self.value_weight * v + (1 - self.value_weight) * self.self_consistency(n) for v, n in zip(lm, nodes)]


class _Reflections:
    """Reflects on new failed terminals after each simulation (the ``on_simulation`` hook)."""

    def __init__(self, reflector: Any, memory: list[str], config: LATSConfig, question: str) -> None:
        self.reflector = reflector
        self.memory = memory
        self.config = config
        self.question = question
        self.seen: set[int] = set()
        self.count = 0

    def failed(self, node: Node) -> bool:
        if not node.terminal:
            return False
        if self.config.oracle:
            return not node.success
        value = node.value if node.value is not None else 0.0
        return node.truncated or value < self.config.fail_threshold

    def __call__(self, ctx: SearchContext, sim: int) -> None:
        todo = [
            n
            for n in _all_nodes(ctx.root)
            if n.id not in self.seen and self.failed(n) and len(self.memory) < self.config.memory_size
        ]
        for n in todo:
            self.seen.add(n.id)
        todo = todo[: self.config.memory_size - len(self.memory)]
        if not todo or not ctx.budget_left():
            return
        feedbacks = [
            str(n.info.get("feedback", "")) if self.config.oracle else "The answer was judged unlikely to be correct."
            for n in todo
        ]
        refl = self.reflector.reflect_batch(
            [self.question] * len(todo), [_trajectory(self.question, n) for n in todo], feedbacks
        )
        for r in refl:
            ctx.charge(r.usage)
            text = " ".join(r.text.split())
            if text:
                self.memory.append(text)
                self.count += 1


def _all_nodes(root: Node | None) -> list[Node]:
    if root is None:
        return []
    out, stack, seen = [], [root], set()
    while stack:
        n = stack.pop()
        if n.id in seen:
            continue
        seen.add(n.id)
        out.append(n)
        stack.extend(e.child for e in n.children)
    return out


def lats_search(
    env: gym.Env,
    llm: Any,
    config: LATSConfig | None = None,
    *,
    policy: Any = None,
    reflector: Any = None,
    value: Any = None,
    history: Sequence[tuple[str | None, str, str]] = (),
    first_observation: Any = None,
) -> SearchResult:
    """Run LATS from ``env``'s current state (the env itself is not stepped).

    Args:
        env: A toolgym env after ``reset``.
        llm: The model of the policy, the value and the reflector (an LLM or a spec such as ``"tiny"``).
        config: Settings (default :class:`LATSConfig`).
        policy: The proposing policy (default: ReAct over ``llm``); its ``memory`` gets the reflections.
        reflector: Default: a :class:`~toolgym.agents.reflectors.VerbalReflector` over ``llm``.
        value: The evaluator (default: :class:`LMValue` over ``llm``).
        history: Steps the episode already took (see :func:`~toolgym.algorithms.mcts.mcts_search`).
        first_observation: The episode's reset observation, when the env is past its first step.

    Returns:
        The :class:`~toolgym.algorithms.mcts.SearchResult`; ``result.reflections`` holds the reflections made.
    """
    config = config or LATSConfig()
    llm = make_llm(llm)
    policy = policy if policy is not None else ReActPolicy(llm)
    memory: list[str] = []
    if config.reflections and hasattr(policy, "memory"):
        policy.memory = lambda slot: "\n".join(f"- {r}" for r in memory)
    base: Any = env.unwrapped
    first = first_observation if first_observation is not None else base.observe()
    question = observation_text(first)
    value = (
        value
        if value is not None
        else LMValue(
            llm,
            question=question,
            value_weight=config.value_weight,
            samples=config.value_samples,
            temperature=config.value_temperature,
            reflections=memory if config.reflections else [],
            seed=config.seed,
        )
    )
    proposer = PolicyProposer(policy, temperature=config.temperature, seed=config.seed)
    hook = None
    if config.reflections:
        hook = _Reflections(reflector if reflector is not None else VerbalReflector(llm), memory, config, question)
    result = mcts_search(
        env, proposer, value, config.mcts_config(), on_simulation=hook, history=history, first_observation=first
    )
    result.reflections = list(memory)  # type: ignore[attr-defined]
    return result


class LATSPolicy(BasePolicy):
    """LATS as a policy for :func:`~toolgym.agents.rollout` and ``toolgym bench``.

    At the first step it runs :func:`lats_search` from the env's state and then plays the best path found; when
    the path ends before the episode does, it searches again from there. The first action of each search carries
    the search's whole token usage, so benchmarks charge LATS for every token it spent.

    Args:
        llm: The model (an LLM or a spec: ``"tiny"``, ``"hf:..."``, ``"openai:..."``).
        iterations, n, value_weight, oracle, reflections, max_depth, temperature, seed: See :class:`LATSConfig`.
        **kwargs: Options of the ReAct proposer (``examples``, ``max_tokens``, ``style``...).
    """

    name = "lats"

    def __init__(
        self,
        llm: Any,
        *,
        iterations: int = 10,
        n: int = 5,
        value_weight: float = 0.8,
        oracle: bool = False,
        reflections: bool = True,
        max_depth: int | None = 7,
        temperature: float = 1.0,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        """Create the policy (see the class docstring)."""
        super().__init__()
        self.llm = make_llm(llm)
        self.config = LATSConfig(
            iterations=iterations,
            n=n,
            value_weight=value_weight,
            oracle=oracle,
            reflections=reflections,
            max_depth=max_depth,
            temperature=temperature,
            seed=seed,
        )
        self.react_kwargs = dict(kwargs)
        self.name = "lats-oracle" if oracle else "lats"

    @classmethod
    def accepted_options(cls) -> dict[str, Any]:
        """Its own options and the ReAct proposer's."""
        from toolgym.agents.prompting.policy import _init_options

        return _init_options(cls, ReActPolicy)

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """The next action of the best path (searching when there is none left)."""
        state = self.episode(slot)
        plan: list[str] = state.setdefault("plan", [])
        history: list[tuple[str | None, str, str]] = state.setdefault("history", [])
        if state.get("last_action") is not None:
            history.append((None, state["last_action"], observation_text(observation)))
        usage: dict[str, float] = {}
        if not plan:
            env = state.env
            if env is None:
                raise ConfigError(
                    "LATSPolicy: expected reset(observation, info, env=env) before act(), got no env. "
                    "The search runs on a copy of the env; the rollout engine passes it."
                )
            searches = state.get("searches", 0)
            config = replace(self.config, seed=self.config.seed + 1000 * searches)
            policy = ReActPolicy(self.llm, **self.react_kwargs)
            result = lats_search(
                env,
                self.llm,
                config,
                policy=policy,
                history=tuple(history),
                first_observation=state.first_observation,
            )
            state["searches"] = searches + 1
            state.setdefault("results", []).append(result.stats())
            plan.extend(result.best_path or [])
            if not plan:  # nothing expanded (budget, or no valid proposal): fall back to one ReAct step
                policy.reset(state.first_observation, info, env=env, slot=slot)
                policy.episode(slot)["history"] = list(history)
                plan.append(str(policy.act(observation, info, slot=slot)))
            usage = {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens}
        action = plan.pop(0)
        state["last_action"] = action
        return AgentAction(action, usage=usage)

    def search_stats(self, slot: int = 0) -> list[dict[str, Any]]:
        """The statistics of each search run in ``slot``'s episode."""
        return list(self.episode(slot).get("results", []))
