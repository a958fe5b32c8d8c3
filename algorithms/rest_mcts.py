"""ReST-MCTS* (Zhang et al., NeurIPS 2024): process rewards inferred from tree search, a PRM trained on them.

The pieces, each usable alone:

* **MCTS\\*** is :func:`~toolgym.algorithms.mcts.mcts_search` with :meth:`RestMCTSConfig.mcts_config` (UCT with a
  finite bonus for unvisited children, every child valued by the PRM at expansion, visit-weighted backup) and
  :class:`RollForwardValue`: from a new node, roll forward greedily ``steps`` steps (``branch`` proposals per
  step, keep the one the PRM likes best) and blend ``V ← (1 − α)·V + α·max V_seen`` (α = 0.5).
* **Value-label inference** (:func:`infer_value_labels`): after a search, the final-answer oracle marks the
  correct terminals (training data only, never evaluation); each node's *reasoning distance* ``m`` is 1 at a
  correct terminal and ``1 + min m(child)`` above it; then from the root (``V = 0``) down,
  ``V(c) = max(0, V(p) + (1 − V(p))·r / m)`` with ``r = +1`` on a route to a correct answer and ``−1`` off it
  (off-route nodes take the ``m`` of their nearest on-route ancestor, as the published code does;
  ``off_route="zero"`` labels them 0). A 3-step correct path is labelled 1/3, 2/3, 1; wrong first steps 0.
* **The PRM** (:mod:`toolgym.algorithms.prm`) is trained on those labels.
* **Self-training** (:func:`rest_mcts`): each iteration searches the training tasks with the current policy and
  PRM, infers labels, retrains the PRM on all labels so far, and collects the policy's data: correct terminal
  paths whose PRM value is at least ``value_threshold`` (0.2). Fine-tuning the policy on them is the ``sft`` hook
  (see :func:`rest_mcts`): without it only the PRM improves across iterations.
* **Value-guided answer selection** (:func:`select_answer`): best-of-N by PRM score, majority vote, random pick.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import gymnasium as gym
import numpy as np

from toolgym.algorithms.mcts import (
    Evaluator,
    MCTSConfig,
    Node,
    Proposer,
    SearchContext,
    SearchResult,
    _sum_usage,
    mcts_search,
)
from toolgym.algorithms.prm import PRMConfig, PRMValue, ProcessRewardModel, render_solution, train_prm
from toolgym.error import ConfigError
from toolgym.records import Step, Trajectory

__all__ = [
    "RestMCTSConfig",
    "RestMCTSResult",
    "RollForwardValue",
    "ValueSample",
    "infer_value_labels",
    "reasoning_distance",
    "rest_mcts",
    "select_answer",
    "sft_hook",
    "value_samples",
]


# ---------------------------------------------------------------------------------------------- labels


def _tree_children(node: Node) -> list[Node]:
    """The children first reached from ``node`` (the search tree inside the transposition graph)."""
    return [e.child for e in node.children if e.child.parent is node]


def _is_correct(node: Node) -> bool:
    return node.terminal and node.success


def reasoning_distance(root: Node, correct: Callable[[Node], bool] = _is_correct) -> dict[int, float]:
    """``m`` of every node: 1 at a correct node, ``1 + min m(child)`` above one, ``inf`` with none below.

    Args:
        root: The tree's root.
        correct: Which nodes are correct final answers (default: terminal with ``success``).
    """
    m: dict[int, float] = {}
    order: list[Node] = []
    stack = [root]
    while stack:  # pre-order, then fill bottom-up
        n = stack.pop()
        order.append(n)
        stack.extend(_tree_children(n))
    for n in reversed(order):
        if correct(n):
            m[n.id] = 1.0
        else:
            kids = [m[c.id] for c in _tree_children(n)]
            m[n.id] = 1.0 + min(kids) if kids and min(kids) < math.inf else math.inf
    return m


def infer_value_labels(
    root: Node, correct: Callable[[Node], bool] = _is_correct, *, off_route: str = "inherit"
) -> dict[int, float]:
    """ReST-MCTS*'s value labels of every node of a search tree (see the module docstring).

    Args:
        root: The tree's root (labelled 0: the empty solution).
        correct: Which nodes are correct final answers (the oracle; training data only).
        off_route: ``"inherit"`` (the published code: an off-route node uses its nearest on-route ancestor's
            ``m``) or ``"zero"`` (every off-route node is 0).

    Returns:
        Node id -> label in [0, 1].

    Example:
        >>> from toolgym.algorithms.mcts import Edge
        >>> nodes = [Node(key=str(i), state=None, observation="", info={}, id=i) for i in range(4)]
        >>> for p, c in zip(nodes, nodes[1:]):
        ...     c.parent = p
        ...     p.children.append(Edge("a", c))
        >>> nodes[3].terminal = nodes[3].success = True
        >>> [round(v, 4) for v in infer_value_labels(nodes[0]).values()]
        [0.0, 0.3333, 0.6667, 1.0]
    """
    if off_route not in ("inherit", "zero"):
        raise ConfigError(f"infer_value_labels: expected off_route 'inherit' or 'zero', got {off_route!r}.")
    m = reasoning_distance(root, correct)
    labels: dict[int, float] = {root.id: 0.0}
    stack: list[tuple[Node, float]] = [(root, m[root.id])]  # (node, m of its nearest on-route ancestor)
    while stack:
        parent, m_route = stack.pop()
        vp = labels[parent.id]
        for child in _tree_children(parent):
            mc = m[child.id]
            if mc < math.inf:
                v = max(0.0, vp + (1.0 - vp) / mc)
                nxt = mc
            else:
                v = 0.0 if off_route == "zero" or m_route == math.inf else max(0.0, vp - (1.0 - vp) / m_route)
                nxt = m_route
            labels[child.id] = min(1.0, v)
            stack.append((child, nxt))
    return dict(sorted(labels.items()))


@dataclass(frozen=True)
class ValueSample:
    """One PRM training sample.

    Attributes:
        text: The partial solution (:func:`~toolgym.algorithms.prm.render_solution`).
        value: Its label.
        on_route: Whether it lies on a route to a correct answer.
        depth: Its steps.
        task_id: The task.
    """

    text: str
    value: float
    on_route: bool
    depth: int
    task_id: str


def value_samples(
    result: SearchResult | Node,
    question: str,
    *,
    correct: Callable[[Node], bool] = _is_correct,
    off_route: str = "inherit",
    include_unsolved: bool = False,
    render: Callable[[str, Node], str] | None = None,
) -> list[ValueSample]:
    """Labelled samples of every non-root node of a search tree.

    Args:
        result: A search result (or its root).
        question: The task text.
        correct: The oracle (training data only).
        off_route: See :func:`infer_value_labels`.
        include_unsolved: Also emit trees without a correct answer (all 0); ReST-MCTS* leaves them out.
        render: ``(question, node) -> text`` (default: :func:`render_solution` of the node's history).
    """
    root = result.root if isinstance(result, SearchResult) else result
    m = reasoning_distance(root, correct)
    if m[root.id] == math.inf and not include_unsolved:
        return []
    labels = infer_value_labels(root, correct, off_route=off_route)
    render = render or (lambda q, n: render_solution(q, n.history))
    out = []
    stack = list(_tree_children(root))
    while stack:
        n = stack.pop()
        out.append(
            ValueSample(
                text=render(question, n),
                value=labels[n.id],
                on_route=m[n.id] < math.inf,
                depth=n.depth,
                task_id=str(n.info.get("task_id", "") or ""),
            )
        )
        stack.extend(_tree_children(n))
    return out


# ---------------------------------------------------------------------------------------------- MCTS*


class RollForwardValue:
    """MCTS*'s evaluation: the base value, blended with the best value of a greedy roll-forward.

    From each node, ``steps`` times: ask the proposer for ``branch`` actions, step each, value the results with
    ``value`` and move to the best; ``V = (1 − α)·V_0 + α·max V_seen`` (``V_0`` when no step could be taken).
    Roll-forward steps count against the search's env-step and token budgets.

    Args:
        value: The base evaluator (a :class:`~toolgym.algorithms.prm.PRMValue`).
        proposer: Proposes the roll-forward steps.
        steps: Roll-forward steps (ReST-MCTS*: 1 for data generation, 2 for evaluation).
        branch: Proposals per step (ReST-MCTS*: 1).
        alpha: The blend weight ``α``.
    """

    def __init__(
        self, value: Evaluator, proposer: Proposer, *, steps: int = 1, branch: int = 1, alpha: float = 0.5
    ) -> None:
        """Create the evaluator (see the class docstring)."""
        if steps < 0 or branch < 1 or not 0 <= alpha <= 1:
            raise ConfigError(
                f"RollForwardValue: expected steps >= 0, branch >= 1 and alpha in [0, 1], got {steps}, {branch}, "
                f"{alpha}."
            )
        self.value = value
        self.proposer = proposer
        self.steps = int(steps)
        self.branch = int(branch)
        self.alpha = float(alpha)

    def evaluate(self, nodes: Sequence[Node], ctx: SearchContext) -> list[float]:
        """The blended value of each node."""
        base = self.value.evaluate(nodes, ctx)
        out = []
        for node, v0 in zip(nodes, base):
            best = -math.inf
            cur = node
            for _ in range(self.steps):
                if cur.terminal or not ctx.budget_left():
                    break
                proposals = self.proposer.propose(cur, self.branch, ctx)
                ctx.charge(_sum_usage(proposals))
                kids = []
                for action in dict.fromkeys(str(p.action) for p in proposals):
                    if not ctx.budget_left():
                        break
                    env = ctx.restore(cur)
                    obs, _, term, trunc, info = ctx.step(action)
                    kids.append(
                        Node(
                            key=env.state_key(),
                            state=env.get_state(),
                            observation=obs,
                            info=info,
                            depth=cur.depth + 1,
                            history=(*cur.history, (None, action, str(obs))),
                            parent=cur,
                            terminal=bool(term or trunc),
                            success=bool(info.get("success", False)),
                            id=-1,
                        )
                    )
                if not kids:
                    break
                vals = self.value.evaluate(kids, ctx)
                j = int(np.argmax(vals))
                best = max(best, float(vals[j]))
                cur = kids[j]
            out.append(float(v0) if best == -math.inf else (1 - self.alpha) * float(v0) + self.alpha * best)
        return out


# ---------------------------------------------------------------------------------------------- answers


def select_answer(
    candidates: Sequence[Any],
    method: str,
    *,
    scores: Sequence[float] | None = None,
    keys: Sequence[Hashable] | None = None,
    rng: np.random.Generator | None = None,
) -> int:
    """Pick one of N candidate solutions; returns its index.

    Args:
        candidates: The solutions.
        method: ``"best_of_n"`` (highest score, the first among equals), ``"majority"`` (the most common key;
            ties go to the first candidate of the tied keys), or ``"random"``.
        scores: PRM scores (``best_of_n``).
        keys: What a vote compares (``majority``: the final answer, or the final state key).
        rng: Generator for ``random``.

    Example:
        >>> select_answer(["a", "b", "c"], "best_of_n", scores=[0.1, 0.7, 0.3])
        1
        >>> select_answer(["x", "y", "x2"], "majority", keys=["4", "5", "4"])
        0
    """
    n = len(candidates)
    if n == 0:
        raise ConfigError("select_answer: expected at least one candidate, got none.")
    if method == "best_of_n":
        if scores is None or len(scores) != n:
            raise ConfigError(f"select_answer: expected {n} scores for best_of_n, got {scores!r}.")
        return int(np.argmax(np.asarray(scores, dtype=float)))
    if method == "majority":
        if keys is None or len(keys) != n:
            raise ConfigError(f"select_answer: expected {n} keys for majority, got {keys!r}.")
        counts = Counter(keys)
        top = max(counts.values())
        return next(i for i, k in enumerate(keys) if counts[k] == top)
    if method == "random":
        if rng is None:
            raise ConfigError("select_answer: expected rng= (a numpy Generator) for 'random', got None.")
        return int(rng.integers(n))
    raise ConfigError(f"select_answer: expected method 'best_of_n', 'majority' or 'random', got {method!r}.")


# ---------------------------------------------------------------------------------------------- self-training


@dataclass(frozen=True)
class RestMCTSConfig:
    """Settings of :func:`rest_mcts`.

    Attributes:
        iterations: Self-training iterations (the paper: 2).
        simulations: MCTS* simulations per training task (the paper's data generation: 50).
        branch: Proposals per expansion (3).
        c: UCT constant (0.5 for data generation).
        unvisited_bonus: Added to an unvisited child's PRM value (the code's ``inf``: 0.9).
        roll_forward_steps: Greedy roll-forward steps (1 for data generation).
        alpha: Roll-forward blend weight.
        max_depth: Steps below the root.
        max_env_steps: Env steps per search.
        max_tokens: Completion tokens per search.
        value_threshold: Policy data keeps correct paths whose PRM value is at least this (0.2).
        off_route: See :func:`infer_value_labels`.
        prm: PRM training settings.
        seed: Seeds the searches.
    """

    iterations: int = 2
    simulations: int = 50
    branch: int = 3
    c: float = 0.5
    unvisited_bonus: float = 0.9
    roll_forward_steps: int = 1
    alpha: float = 0.5
    max_depth: int | None = None
    max_env_steps: int | None = None
    max_tokens: int | None = None
    value_threshold: float = 0.2
    off_route: str = "inherit"
    prm: PRMConfig = field(default_factory=PRMConfig)
    seed: int = 0

    def mcts_config(self, seed: int | None = None) -> MCTSConfig:
        """MCTS* settings: PRM-valued children, task rewards hidden, the whole tree kept (no early stop)."""
        return MCTSConfig(
            simulations=self.simulations,
            num_children=self.branch,
            selection="uct",
            c=self.c,
            unvisited_bonus=self.unvisited_bonus,
            evaluate="children",
            max_depth=self.max_depth,
            max_env_steps=self.max_env_steps,
            max_tokens=self.max_tokens,
            use_env_reward=False,
            stop_on_success=False,
            final="value",
            seed=self.seed if seed is None else seed,
        )


@dataclass
class RestMCTSResult:
    """What :func:`rest_mcts` produced.

    Attributes:
        prm: The PRM after the last iteration.
        samples: All value samples, per iteration.
        policy_data: The policy's self-training trajectories, per iteration.
        stats: Per iteration: tasks, solved trees, samples, PRM loss, policy examples, env steps, tokens, seconds.
    """

    prm: ProcessRewardModel
    samples: list[list[ValueSample]]
    policy_data: list[list[Trajectory]]
    stats: list[dict[str, Any]]


def rest_mcts(
    env: gym.Env,
    task_ids: Sequence[str],
    proposer: Proposer,
    prm: ProcessRewardModel,
    config: RestMCTSConfig | None = None,
    *,
    question: Callable[[gym.Env], str] | None = None,
    sft: Callable[[list[Trajectory], int], Proposer] | None = None,
    initial_samples: Sequence[ValueSample] = (),
) -> RestMCTSResult:
    """ReST-MCTS* self-training on ``task_ids`` (training tasks only: the oracle labels them).

    Each iteration: MCTS* on every task with the current proposer and PRM (task rewards hidden from the search),
    value labels from the final-answer oracle (:func:`infer_value_labels`), the PRM retrained on every sample so
    far, and the policy's data: the correct terminal paths whose PRM value is at least ``value_threshold``.

    Args:
        env: A toolgym env (reset here to each task).
        task_ids: Training task ids (take them from :func:`toolgym.splits.task_split`).
        proposer: The policy's proposer.
        prm: The PRM (trained in place).
        config: Settings (default :class:`RestMCTSConfig`).
        question: ``env -> task text`` for the PRM's input (default: the reset observation's text).
        sft: The policy self-training hook, ``(trajectories, iteration) -> new proposer``: fine-tune the policy on
            the trajectories (from the base model, as ReST-EM does) and return a proposer over the new policy.
            Without it the policy stays as it is and only the PRM improves.
        initial_samples: ``D_V0``: value samples to train the PRM on before the first search (optional).

    Returns:
        The :class:`RestMCTSResult`.
    """
    from toolgym.agents.base import observation_text

    config = config or RestMCTSConfig()
    question = question or (lambda e: observation_text(cast(Any, e.unwrapped).observe()))
    pool: list[ValueSample] = list(initial_samples)
    if pool:
        train_prm(prm, [s.text for s in pool], [s.value for s in pool], config.prm)
    out = RestMCTSResult(prm=prm, samples=[], policy_data=[], stats=[])
    for it in range(config.iterations):
        start = time.perf_counter()
        new: list[ValueSample] = []
        paths: list[Trajectory] = []
        solved = env_steps = tokens = 0
        for k, tid in enumerate(task_ids):
            env.reset(seed=config.seed + k, options={"task_id": tid})
            q = question(env)
            value = RollForwardValue(
                PRMValue(prm, question=q), proposer, steps=config.roll_forward_steps, alpha=config.alpha
            )
            result = mcts_search(env, proposer, value, config.mcts_config(seed=config.seed + 7919 * it + k))
            env_steps += result.env_steps
            tokens += result.completion_tokens
            samples = value_samples(result, q, off_route=config.off_route)
            solved += bool(samples)
            new.extend(samples)
            correct = [n for n in result.nodes if _is_correct(n)]
            if correct:
                scores = prm.score([render_solution(q, n.history) for n in correct])
                for n, s in zip(correct, scores):
                    if s >= config.value_threshold:
                        steps = tuple(Step(action=a, observation=o, thought=t) for t, a, o in n.history)
                        paths.append(Trajectory(env_id="", task_id=tid, question=q, steps=steps, success=True))
        pool.extend(new)
        fit = (
            train_prm(prm, [s.text for s in pool], [s.value for s in pool], config.prm)
            if pool
            else {"train_loss": math.nan}
        )
        out.samples.append(new)
        out.policy_data.append(paths)
        out.stats.append(
            {
                "iteration": it + 1,
                "tasks": len(task_ids),
                "solved_trees": solved,
                "samples": len(new),
                "prm_loss": fit["train_loss"],
                "policy_examples": len(paths),
                "env_steps": env_steps,
                "completion_tokens": tokens,
                "seconds": time.perf_counter() - start,
                "policy_updated": sft is not None,
            }
        )
        if sft is not None:
            proposer = sft(paths, it + 1)
    return out


def sft_hook(
    model: Any,
    out: str | Any,
    *,
    train: Any = None,
    style: str = "alpaca",
    thoughts: bool = True,
    max_tokens: int = 64,
    temperature: float = 1.0,
    seed: int = 0,
) -> Callable[[list[Trajectory], int], Proposer]:
    """The policy self-training step of :func:`rest_mcts`, on toolgym's SFT (from the base model, as ReST-EM).

    Each call fine-tunes a fresh copy of the base model on the tree's best paths (rendered in the student's
    prompt format, loss on its own tokens: :func:`~toolgym.algorithms.fireact.encode_for`) and returns a
    :class:`~toolgym.algorithms.mcts.PolicyProposer` over the new policy.

    Args:
        model: The base model (:class:`~toolgym.algorithms.models.ModelSpec`).
        out: A folder; iteration ``i`` trains in ``out/iter-<i>``.
        train: :class:`~toolgym.algorithms.fireact.TrainSettings` (default ones).
        style: The student's prompt format (``"alpaca"``, ``"text"``, ``"chat"``).
        thoughts: Whether it writes thoughts.
        max_tokens: New tokens per proposal.
        temperature: Sampling temperature of the proposals.
        seed: Seeds training and sampling.
    """
    from pathlib import Path

    from toolgym.algorithms.fireact import TrainSettings, encode_for, student_policy
    from toolgym.algorithms.mcts import PolicyProposer
    from toolgym.algorithms.models import build_model, trained_llm
    from toolgym.algorithms.sft import run_sft

    settings = train if train is not None else TrainSettings()

    def hook(trajectories: list[Trajectory], iteration: int) -> Proposer:
        if not trajectories:
            raise ConfigError("rest_mcts sft hook: expected trajectories to train on, got none.")
        base, tok = build_model(model)
        renderer = student_policy(trained_llm(base, tok), style=style, thoughts=thoughts, max_tokens=max_tokens)
        examples = encode_for(renderer, trajectories, tok, settings.max_length)
        res = run_sft(base, tok, examples, settings.sft_config(Path(out) / f"iter-{iteration}", seed + iteration))
        policy = student_policy(
            trained_llm(res.model, tok), style=style, thoughts=thoughts, max_tokens=max_tokens,
            temperature=temperature, seed=seed,
        )  # fmt: skip
        return PolicyProposer(policy, temperature=temperature, seed=seed)

    return hook
