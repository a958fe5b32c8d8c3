"""Policies over the tool-choice view, the snapshot oracle, the analytic optimum, and held-out evaluation.

The learners (:mod:`~toolgym.algorithms.q_tools`, :mod:`~toolgym.algorithms.sb3_tools`,
:mod:`~toolgym.algorithms.bc_tools`) all return a :class:`ChoicePolicy`; this module holds what they share:

* :class:`ChoicePolicy` - ``choose(obs, mask, info) -> option index``. Learned policies read only ``obs`` and
  ``mask``; ``info`` is there for the fixed baselines that need privileged facts (the analytic rule reads
  ``info["difficulty"]``).
* Fixed baselines: :class:`PriorityPolicy` (the first available option of a list: "always call", "never
  call", ...), :class:`ThresholdRule` (the analytic optimum of the arithmetic view: *calculate iff
  accuracy < 1 - cost·λ*) and :class:`RandomChoice`.
* :func:`oracle_choice` - the option that leads to the cheapest successful finish, found by trying every
  option from a snapshot (``get_state``/``set_state``) - the demonstrator of behaviour cloning.
* :func:`evaluate` - run a policy on held-out tasks with fixed seeds (same seeds for every policy, so the
  direct answerer's draws are common random numbers) and summarise return, success and cost.
* :func:`record_episode` - one episode as a :class:`~toolgym.records.Trajectory` of decisions, each step
  holding its option's inner steps and tool calls (so nested calls are visible in the trajectory too).
* :func:`arithmetic_optimum` - the optimal expected return of the arithmetic view in closed form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from toolgym.error import ConfigError
from toolgym.records import Step, Trajectory
from toolgym.wrappers import ToolChoice

__all__ = [
    "ChoicePolicy",
    "EvalSummary",
    "PriorityPolicy",
    "RandomChoice",
    "ThresholdRule",
    "arithmetic_optimum",
    "episode_seed",
    "evaluate",
    "oracle_choice",
    "record_episode",
]


@runtime_checkable
class ChoicePolicy(Protocol):
    """Chooses an option of a :class:`~toolgym.wrappers.ToolChoice` view."""

    def choose(self, obs: np.ndarray, mask: np.ndarray, info: Mapping[str, Any]) -> int:
        """The option index to run, given the features, the action mask and the view's ``info``."""
        ...


def _first_available(order: Sequence[int], mask: np.ndarray) -> int:
    for i in order:
        if mask[i]:
            return int(i)
    return int(np.flatnonzero(mask)[0])


class PriorityPolicy:
    """Run the first available option of a priority list (a fixed baseline such as "always call").

    Args:
        view: The view (to resolve option names).
        order: Option names, most preferred first; unavailable ones are skipped.
        last: Another order for the episode's last decision (e.g. answer there rather than call a tool:
            ReAct's fallback when the budget runs out); default ``order``.

    Example:
        >>> import gymnasium as gym
        >>> import toolgym
        >>> from toolgym.agents.options import arithmetic_options
        >>> view = ToolChoice(gym.make("toolgym/ToolChoice-Arithmetic-v0"), arithmetic_options())
        >>> always_call = PriorityPolicy(view, ["answer_with_tool", "calculate", "answer"])
        >>> evaluate(view, always_call, ["L4-0", "L4-1"], seeds=[0]).success
        1.0
    """

    def __init__(self, view: ToolChoice, order: Sequence[str], *, last: Sequence[str] | None = None) -> None:
        """Resolve the names (see the class docstring)."""
        names = [o.name for o in view.options]
        for seq in (order, last if last is not None else order):
            bad = [n for n in seq if n not in names]
            if bad or not seq:
                raise ConfigError(f"PriorityPolicy: expected option names among {names}, got {list(seq)}.")
        self.order = [names.index(n) for n in order]
        self.last = [names.index(n) for n in last] if last is not None else self.order
        self.max_decisions = view.max_decisions

    def choose(self, obs: np.ndarray, mask: np.ndarray, info: Mapping[str, Any]) -> int:
        """The first available option of the list (of ``last`` at the last decision)."""
        final = int(info.get("decisions", 0)) >= self.max_decisions - 1
        return _first_available(self.last if final else self.order, mask)


class RandomChoice:
    """A uniformly random available option (seeded).

    Args:
        seed: Seed of the policy's own generator.
    """

    def __init__(self, seed: int = 0) -> None:
        """Seed the generator."""
        self.rng = np.random.default_rng(seed)

    def choose(self, obs: np.ndarray, mask: np.ndarray, info: Mapping[str, Any]) -> int:
        """A random available option."""
        return int(self.rng.choice(np.flatnonzero(mask)))


class ThresholdRule:
    """The analytic optimum of the arithmetic view: calculate iff ``accuracy[level] < 1 - price·λ``.

    Answering directly returns ``accuracy`` in expectation; calculating then answering returns ``1 - λ·price``
    for sure. The rule reads the level from ``info["difficulty"]`` (privileged: a learned policy must infer it
    from the question's features).

    Args:
        view: The arithmetic view (option names ``answer``, ``calculate``, ``answer_with_tool``).
        accuracy: The direct answerer's accuracy per level.
        price: The calculator's unweighted cost per call (the env's ``calc`` price).
        cost_weight: λ.
    """

    def __init__(self, view: ToolChoice, accuracy: Mapping[int, float], price: float, cost_weight: float) -> None:
        """Store the rule's parameters (see the class docstring)."""
        names = [o.name for o in view.options]
        need = ("answer", "calculate", "answer_with_tool")
        if any(n not in names for n in need):
            raise ConfigError(f"ThresholdRule: expected options {list(need)}, got {names}.")
        self.answer, self.calculate, self.with_tool = (names.index(n) for n in need)
        self.accuracy = dict(accuracy)
        self.threshold = 1.0 - price * cost_weight

    def calls(self, level: int) -> bool:
        """Whether the rule calculates at ``level``."""
        return self.accuracy.get(int(level), 0.0) < self.threshold

    def choose(self, obs: np.ndarray, mask: np.ndarray, info: Mapping[str, Any]) -> int:
        """Answer with the tool once it ran; else calculate or answer by the rule."""
        if mask[self.with_tool]:
            return self.with_tool
        call = self.calls(int(info.get("difficulty", 0)))
        return _first_available([self.calculate if call else self.answer, self.answer], mask)


def arithmetic_optimum(accuracy: Mapping[int, float], price: float, cost_weight: float, levels: Sequence[int]) -> float:
    """The optimal expected return of the arithmetic view over tasks of the given levels.

    Per task it is ``max(accuracy[level], 1 - price·λ)`` (answer directly, or calculate and answer).

    Example:
        >>> round(arithmetic_optimum({1: 0.98, 4: 0.05}, 0.1, 5.0, [1, 4]), 3)
        0.74
    """
    if not levels:
        raise ConfigError("arithmetic_optimum: expected at least one level, got none.")
    return float(np.mean([max(accuracy.get(int(lv), 0.0), 1.0 - price * cost_weight) for lv in levels]))


def oracle_choice(view: ToolChoice, *, depth: int | None = None) -> tuple[int, float, bool]:
    """The option that leads to the cheapest successful finish, by trying each one from a snapshot.

    From the current state, every available option is run on a restored snapshot, and recursively the best
    continuation (up to ``depth`` more decisions, default: the rest of the episode). The oracle prefers a
    successful finish with the highest return (the cheapest success), else the highest return. It sees the
    outcome of the env's random draws (the snapshot includes the generator), so it knows when a direct answer
    would be right this time: it is a demonstrator, not a policy one can deploy.

    Args:
        view: A :class:`~toolgym.wrappers.ToolChoice` view mid-episode (not done).
        depth: Lookahead in decisions.

    Returns:
        ``(option index, return of the best continuation, whether it succeeds)``. The view is left in the
        state it was in.
    """
    if view.done:
        raise ConfigError("oracle_choice: expected a view mid-episode, got one whose episode ended. Call reset().")
    depth = view.max_decisions if depth is None else depth
    state = view.get_state()
    mask = view.action_masks()
    best: tuple[tuple[bool, float], int] | None = None
    try:
        for i in np.flatnonzero(mask):
            view.set_state(state)
            _, reward, terminated, truncated, info = view.step(int(i))
            ret, success = float(reward), bool(info.get("success", False))
            if not (terminated or truncated) and depth > 1:
                _, more, success = oracle_choice(view, depth=depth - 1)
                ret += more
            key = (success, ret)
            if best is None or key > best[0]:
                best = (key, int(i))
    finally:
        view.set_state(state)
    assert best is not None  # the mask always has an available option
    return best[1], best[0][1], best[0][0]


def episode_seed(seed: int, index: int) -> int:
    """The env seed of evaluation episode ``index`` under evaluation seed ``seed``.

    Example:
        >>> episode_seed(0, 3), episode_seed(1, 0)
        (3, 1000003)
    """
    return int(seed) * 1_000_003 + int(index)


@dataclass(frozen=True)
class EvalSummary:
    """A policy's results on held-out tasks.

    Attributes:
        mean_return: Mean episode return (``success - λ·cost`` summed over the episode).
        success: Success rate.
        cost: Mean unweighted tool cost per episode.
        decisions: Mean decisions per episode.
        episodes: Number of episodes.
        option_counts: How often each option was chosen.
        by_group: Per group (e.g. arithmetic level): mean return, success, cost, episodes and the share of
            episodes that used each option.
        returns: Each episode's return, in evaluation order (for paired comparisons).
    """

    mean_return: float
    success: float
    cost: float
    decisions: float
    episodes: int
    option_counts: Mapping[str, int] = field(default_factory=dict)
    by_group: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    returns: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (without the per-episode returns)."""
        return {
            "mean_return": self.mean_return,
            "success": self.success,
            "cost": self.cost,
            "decisions": self.decisions,
            "episodes": self.episodes,
            "option_counts": dict(self.option_counts),
            "by_group": {k: dict(v) for k, v in self.by_group.items()},
        }


def evaluate(
    view: ToolChoice,
    policy: ChoicePolicy,
    task_ids: Sequence[str],
    seeds: Sequence[int] = (0,),
    *,
    group_key: str | None = "difficulty",
) -> EvalSummary:
    """Run ``policy`` once per (task, seed) and summarise.

    Episode ``j`` of seed ``s`` resets with ``episode_seed(s, j)`` and ``options={"task_id": task_ids[j]}``,
    so every policy meets the same tasks and the same random draws (common random numbers), and different
    tasks get independent draws.

    Args:
        view: The tool-choice view.
        policy: Any :class:`ChoicePolicy`.
        task_ids: Held-out tasks.
        seeds: Env seeds per task.
        group_key: An ``info`` key to group results by (``None`` for no groups).

    Returns:
        An :class:`EvalSummary`.
    """
    if not task_ids or not seeds:
        raise ConfigError(f"evaluate: expected tasks and seeds, got {len(task_ids)} tasks and {len(seeds)} seeds.")
    names = [o.name for o in view.options]
    counts = dict.fromkeys(names, 0)
    rows: list[tuple[str, float, bool, float, int, set[str]]] = []
    for seed in seeds:
        for j, tid in enumerate(task_ids):
            obs, info = view.reset(seed=episode_seed(int(seed), j), options={"task_id": tid})
            group = str(info.get(group_key, "")) if group_key else ""
            ret, used, done = 0.0, set(), False
            while not done:
                i = int(policy.choose(obs, info["action_mask"], info))
                if 0 <= i < len(names):
                    counts[names[i]] += 1
                    used.add(names[i])
                obs, reward, terminated, truncated, info = view.step(i)
                ret += float(reward)
                done = terminated or truncated
            rows.append((group, ret, bool(info["success"]), float(info["cost_total"]), int(info["decisions"]), used))
    by_group: dict[str, dict[str, Any]] = {}
    for g in sorted({r[0] for r in rows}):
        sel = [r for r in rows if r[0] == g]
        by_group[g] = {
            "episodes": len(sel),
            "mean_return": float(np.mean([r[1] for r in sel])),
            "success": float(np.mean([r[2] for r in sel])),
            "cost": float(np.mean([r[3] for r in sel])),
            "uses": {n: float(np.mean([n in r[5] for r in sel])) for n in names},
        }
    return EvalSummary(
        mean_return=float(np.mean([r[1] for r in rows])),
        success=float(np.mean([r[2] for r in rows])),
        cost=float(np.mean([r[3] for r in rows])),
        decisions=float(np.mean([r[4] for r in rows])),
        episodes=len(rows),
        option_counts=counts,
        by_group=by_group,
        returns=tuple(r[1] for r in rows),
    )


def record_episode(
    view: ToolChoice, policy: ChoicePolicy, *, task_id: str | None = None, seed: int | None = None
) -> Trajectory:
    """Run one episode and return it as a trajectory of decisions.

    Each :class:`~toolgym.records.Step` is one decision: ``action`` is the option's name, ``observation`` the
    env's last observation after it, ``reward``/``cost`` the decision's totals, ``tool_calls`` every inner call,
    and ``info["inner_steps"]`` the text actions the option sent (a nested option's sub-agent calls).

    Example:
        >>> import gymnasium as gym
        >>> import toolgym
        >>> from toolgym.agents.options import search_options
        >>> view = ToolChoice(gym.make("toolgym/MultiHop-v0"), search_options())
        >>> research = PriorityPolicy(view, ["research", "answer"])
        >>> t = record_episode(view, research, task_id="train-3", seed=0)
        >>> [s.action for s in t.steps], t.success, len(t.steps[0].info["inner_steps"]) > 1
        (['research', 'answer'], True, True)
    """
    options = {} if task_id is None else {"task_id": task_id}
    obs, info = view.reset(seed=seed, options=options)
    question = info.get("question") or view.question
    names = [o.name for o in view.options]
    traj = Trajectory(
        env_id=str(getattr(view.unwrapped.spec, "id", "") or ""),
        task_id=str(info["task_id"]),
        question=str(question),
        metadata={"view": "ToolChoice", "options": names, "cost_weight": view.cost_weight},
    )
    done = False
    while not done:
        i = int(policy.choose(obs, info["action_mask"], info))
        obs, reward, terminated, truncated, info = view.step(i)
        done = bool(terminated or truncated)
        inner = info["inner_steps"]
        step = Step(
            action=names[i] if 0 <= i < len(names) else str(i),
            observation=inner[-1]["observation"] if inner else "",
            reward=float(reward),
            terminated=bool(terminated),
            truncated=bool(truncated),
            cost=float(info["cost"]),
            tool_calls=tuple(info["tool_calls"]),
            invalid_action=bool(info["invalid_action"]),
            info={
                "success": bool(info["success"]),
                "score": float(info["score"]),
                "inner_steps": inner,
                "reward_breakdown": info["reward_breakdown"],
            },
        )
        traj = traj.with_step(step)
    return traj
