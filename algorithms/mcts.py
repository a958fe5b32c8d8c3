"""Monte Carlo tree search over environment snapshots (``get_state`` / ``set_state`` / ``state_key``).

One search for every toolgym env and every proposer: the tree's nodes are env snapshots, its edges actions.
A simulation

1. **selects** a path from the root by UCT, ``Q + c·sqrt(ln N(s) / N(s,a))``, or PUCT,
   ``Q + c·P(a)·sqrt(N(s)) / (1 + N(s,a))`` (:func:`uct_score`, :func:`puct_score`); nodes already on the path
   are skipped (the snapshot graph can have cycles: "go to fridge", "go to table", "go to fridge");
2. **expands** the first node that has no children yet: a *proposer* (:class:`Proposer`; any policy through
   :class:`PolicyProposer`) gives ``num_children`` candidate actions, duplicates are merged (their count is kept:
   the self-consistency signal LATS uses), and each distinct action is stepped from the node's snapshot on a
   separate env instance; children that reach a ``state_key`` already in the tree share its node
   (transpositions), and actions that do not change the state (``think``) are dropped;
3. **evaluates** the new children (``evaluate="children"``, LATS / ReST-MCTS*) or only the node a simulation
   reaches (``evaluate="leaf"``, AlphaZero) with a pluggable *evaluator* (:class:`Evaluator`: an LM self-evaluation
   prompt, a process reward model, a rollout, a constant);
4. **backs up** the leaf's value along the path: each edge and node keeps the sum and the count of the returns
   ``G = r + γ·G'`` that went through it, so a node's value is the visit-weighted mean of its children's returns
   and its own first evaluation (:func:`backup`).

Rewards. With ``use_env_reward=True`` the search reads the env's reward, task reward included: for the QA envs
that is the gold-answer check, an *oracle*, so a search that uses it is compared with pass@k, never pass@1.
With ``use_env_reward=False`` the task reward is hidden (tool costs and penalties still count: the agent sees
them) and terminal states are scored by the evaluator (an LM judging its own final answer).

Budgets: ``simulations``, env steps, completion tokens and wall time; the search checks them before every env
step and model call, so it never steps past ``max_env_steps``. The caller's env is never stepped: the search runs
on a clone (:func:`clone_env`) restored with ``set_state``, and :meth:`SearchResult.to_json` saves the tree for
inspection.

Example:
    >>> import gymnasium as gym
    >>> import toolgym
    >>> env = gym.make("toolgym/Household-v0")
    >>> _ = env.reset(seed=0, options={"task_id": "pick_and_place_simple-0"})
    >>> proposer = NoisyExpertProposer(p=0.5, seed=0)
    >>> result = mcts_search(env, proposer, ConstantValue(0.0), MCTSConfig(simulations=200, num_children=3))
    >>> result.solved, result.env_steps <= 600
    (True, True)
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from toolgym.agents.base import AgentAction, SamplingParams, mix_seed, observation_text
from toolgym.error import ConfigError, StateError
from toolgym.records import to_jsonable
from toolgym.rng import rand_elem

__all__ = [
    "ConstantValue",
    "Edge",
    "Evaluator",
    "FunctionProposer",
    "MCTSConfig",
    "Node",
    "NoisyExpertProposer",
    "PolicyProposer",
    "Proposal",
    "Proposer",
    "RolloutValue",
    "SearchContext",
    "SearchResult",
    "backup",
    "clone_env",
    "mcts_search",
    "puct_score",
    "select_edge",
    "uct_score",
]

_SELECTIONS = ("uct", "puct")
_REWARD_NOTE = re.compile(r",?\s*reward\s*=\s*[^\s,.]+", re.IGNORECASE)
_EVALUATE = ("children", "leaf")
_FINAL = ("visits", "value")


# ---------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class MCTSConfig:
    """Settings of :func:`mcts_search`.

    Attributes:
        simulations: At most this many simulations (select, expand, evaluate, back up).
        num_children: Proposals asked for at each expansion (``n``; LATS 5, ReST-MCTS* 3); duplicates are merged.
        selection: ``"uct"`` or ``"puct"`` (priors from the proposer, else the share of proposals per action).
        c: Exploration constant of the selection rule.
        unvisited_bonus: Added to an unvisited edge's initial value under UCT; ``inf`` (default) visits every
            child once before any is visited twice, in order of initial value (ReST-MCTS* uses 0.8-1.0).
        widen_every: Progressive widening: a node is expanded again (``num_children`` more proposals, new actions
            added as edges) each time its visits reach ``widen_every`` times its expansions; ``None``: once.
        fpu: Initial value of a child not evaluated yet (first-play urgency; with ``evaluate="leaf"``).
        evaluate: ``"children"`` evaluates every new child at expansion (their values order the first visits,
            LATS / ReST-MCTS*); ``"leaf"`` only the node each simulation reaches (AlphaZero).
        discount: ``γ`` in the backed-up return ``G = r + γ·G'``.
        max_depth: Do not expand nodes this many actions below the root (their value is their evaluation).
        max_env_steps: Budget: env steps taken by the search (expansions and rollouts).
        max_tokens: Budget: completion tokens spent by the proposer and the evaluator.
        time_limit_s: Budget: wall-clock seconds.
        use_env_reward: ``True``: the search sees the env's task reward (an oracle for QA envs: compare with
            pass@k). ``False``: task rewards are hidden and terminals are scored by the evaluator.
        stop_on_success: With ``use_env_reward``, end the search when a terminal with ``info["success"]`` is found.
        transpositions: Share one node between paths that reach the same transposition key (and drop actions
            that lead back to the node they start from).
        transposition_key: ``"state"``: the env's ``state_key`` (right for a proposer that sees only the state,
            e.g. from the admissible actions); ``"observation"``: the ``state_key`` and the observation just
            received, for agents whose next action depends on what they have read (a calculator result leaves
            the arithmetic env's state unchanged but tells the agent the answer).
        final: How :attr:`SearchResult.best_path` is chosen when no success was found: ``"visits"`` (most-visited
            edges from the root) or ``"value"`` (the terminal with the highest path return plus value; any visited
            node when no terminal was reached).
        check_restore: After every ``set_state``, check that ``state_key`` is the node's (costs a hash per restore).
        seed: Seeds the search's generator (proposers and rollouts draw from it).
    """

    simulations: int = 50
    num_children: int = 5
    selection: str = "uct"
    c: float = 1.0
    unvisited_bonus: float = math.inf
    widen_every: int | None = None
    fpu: float = 0.0
    evaluate: str = "children"
    discount: float = 1.0
    max_depth: int | None = None
    max_env_steps: int | None = None
    max_tokens: int | None = None
    time_limit_s: float | None = None
    use_env_reward: bool = True
    stop_on_success: bool = True
    transpositions: bool = True
    transposition_key: str = "state"
    final: str = "visits"
    check_restore: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.simulations, int) or self.simulations < 1:
            raise ConfigError(f"MCTSConfig.simulations: expected an int >= 1, got {self.simulations!r}.")
        if not isinstance(self.num_children, int) or self.num_children < 1:
            raise ConfigError(f"MCTSConfig.num_children: expected an int >= 1, got {self.num_children!r}.")
        choices = (
            ("selection", _SELECTIONS),
            ("evaluate", _EVALUATE),
            ("final", _FINAL),
            ("transposition_key", ("state", "observation")),
        )
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise ConfigError(f"MCTSConfig.{name}: expected one of {list(allowed)}, got {getattr(self, name)!r}.")
        if not 0.0 <= self.discount <= 1.0:
            raise ConfigError(f"MCTSConfig.discount: expected a number in [0, 1], got {self.discount!r}.")
        if self.c < 0:
            raise ConfigError(f"MCTSConfig.c: expected a number >= 0, got {self.c!r}.")
        for name in ("max_depth", "max_env_steps", "max_tokens", "widen_every"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ConfigError(f"MCTSConfig.{name}: expected None or an int >= 1, got {v!r}.")
        if self.time_limit_s is not None and self.time_limit_s <= 0:
            raise ConfigError(f"MCTSConfig.time_limit_s: expected None or a number > 0, got {self.time_limit_s!r}.")


# ---------------------------------------------------------------------------------------------- tree


@dataclass(eq=False)
class Edge:
    """An action from a node, with its statistics.

    Attributes:
        action: The action text.
        child: The node it leads to.
        reward: The reward the search counts for this step (the env's, or with ``use_env_reward=False`` the env's
            minus its task reward).
        env_reward: The env's reward, as returned.
        prior: ``P(a)`` for PUCT (the proposer's, else the share of proposals that gave this action).
        count: How many of the proposals gave this action (self-consistency).
        thought: The reasoning the proposer gave with the action, if any.
        init_value: ``reward + γ·V(child)`` from the child's first evaluation (orders unvisited edges).
        visits: Returns backed up through this edge.
        total: Their sum.
    """

    action: str
    child: Node
    reward: float = 0.0
    env_reward: float = 0.0
    prior: float = 1.0
    count: int = 1
    thought: str | None = None
    init_value: float | None = None
    visits: int = 0
    total: float = 0.0

    @property
    def q(self) -> float:
        """The mean backed-up return (``nan`` before the first visit)."""
        return self.total / self.visits if self.visits else math.nan


@dataclass(eq=False)
class Node:
    """An env snapshot in the tree.

    Attributes:
        key: The env's ``state_key()`` of the snapshot.
        state: The snapshot (``get_state()``).
        observation: The observation on reaching it.
        info: The ``info`` on reaching it (``admissible_actions``, ``feedback``...).
        depth: Actions from the root along the path that first found it.
        history: ``(thought, action, observation text)`` of each step from the root along that path.
        parent: The node it was first reached from (``None`` for the root).
        terminal: The episode ended here (terminated or truncated).
        truncated: It ended by the step limit (the agent ran out of steps).
        success: ``info["success"]`` on reaching it.
        value: The evaluator's estimate of the return from here (``None`` until evaluated).
        visits: Returns backed up through this node (its own first evaluation included).
        total: Their sum.
        children: Its edges (empty until expanded).
        expanded: Whether it was expanded.
        expansions: How many times it was expanded (more than once with progressive widening; proposers salt
            their samples with it).
        id: Its index in the tree (creation order; the root is 0).
    """

    key: str
    state: Any
    observation: Any
    info: Mapping[str, Any]
    depth: int = 0
    history: tuple[tuple[str | None, str, str], ...] = ()
    parent: Node | None = None
    terminal: bool = False
    truncated: bool = False
    success: bool = False
    value: float | None = None
    visits: int = 0
    total: float = 0.0
    children: list[Edge] = field(default_factory=list)
    expanded: bool = False
    expansions: int = 0
    id: int = 0

    @property
    def mean(self) -> float:
        """The mean backed-up return (``nan`` before the first visit)."""
        return self.total / self.visits if self.visits else math.nan

    @property
    def actions(self) -> list[str]:
        """The actions from the root to this node (along the path that first found it)."""
        return [a for _, a, _ in self.history]


@dataclass(frozen=True)
class Proposal:
    """One candidate action from a proposer.

    Attributes:
        action: The action text.
        thought: Its reasoning, if any.
        prior: The proposer's probability for it, if it has one (PUCT).
        usage: ``prompt_tokens`` / ``completion_tokens`` the proposal cost (charged to the budget).
    """

    action: str
    thought: str | None = None
    prior: float | None = None
    usage: Mapping[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- selection / backup


def uct_score(q: float, parent_visits: int, visits: int, c: float) -> float:
    """UCT: ``q + c·sqrt(ln N(s) / N(s,a))`` (``inf`` for an unvisited edge).

    Example:
        >>> round(uct_score(0.5, parent_visits=10, visits=2, c=1.0), 6)
        1.572983
    """
    if visits == 0:
        return math.inf
    return q + c * math.sqrt(math.log(max(parent_visits, 1)) / visits)


def puct_score(q: float, prior: float, parent_visits: int, visits: int, c: float) -> float:
    """PUCT (AlphaZero): ``q + c·P(a)·sqrt(N(s)) / (1 + N(s,a))``.

    Example:
        >>> puct_score(0.5, prior=0.25, parent_visits=16, visits=1, c=2.0)
        1.5
    """
    return q + c * prior * math.sqrt(parent_visits) / (1 + visits)


def _edge_score(edge: Edge, parent_visits: int, config: MCTSConfig) -> tuple[float, float]:
    """A sortable score: ``(tier, value)``; unvisited edges under UCT with an infinite bonus go first."""
    init = edge.init_value if edge.init_value is not None else config.fpu
    if config.selection == "puct":
        q = edge.q if edge.visits else init
        return (0.0, puct_score(q, edge.prior, parent_visits, edge.visits, config.c))
    if edge.visits == 0:
        if math.isinf(config.unvisited_bonus):
            return (1.0, init)
        return (0.0, init + config.unvisited_bonus)
    return (0.0, uct_score(edge.q, parent_visits, edge.visits, config.c))


def select_edge(node: Node, config: MCTSConfig, exclude: set[int] | frozenset[int] = frozenset()) -> Edge | None:
    """The edge of ``node`` with the highest selection score (the first among equals), skipping ``exclude``.

    Args:
        node: An expanded node.
        config: Selection rule and constants.
        exclude: Ids of nodes not to enter (those already on the path).

    Returns:
        The edge, or ``None`` when every child is excluded.
    """
    best: Edge | None = None
    best_score = (-math.inf, -math.inf)
    parent_visits = max(node.visits, 1)
    for edge in node.children:
        if edge.child.id in exclude:
            continue
        score = _edge_score(edge, parent_visits, config)
        if best is None or score > best_score:
            best, best_score = edge, score
    return best


def backup(root: Node, path: Sequence[Edge], leaf_value: float, discount: float = 1.0) -> None:
    """Back a leaf value up the path: ``G = r + γ·G'`` at each edge; counts and sums on edges and nodes.

    The leaf (the last edge's child, or the root when the path is empty) adds ``leaf_value`` itself. So a node's
    mean is ``(v_0 + Σ_a N(s,a)·Q(s,a)) / (1 + Σ_a N(s,a))``: the visit-weighted mean of its children's returns and
    its own first evaluation (the running mean LATS and ReST-MCTS* use).

    Args:
        root: Where the path starts.
        path: The edges taken.
        leaf_value: The value of the node the path ends at.
        discount: ``γ``.
    """
    leaf = path[-1].child if path else root
    leaf.visits += 1
    leaf.total += leaf_value
    g = leaf_value
    parents = [root] + [e.child for e in path[:-1]]
    for parent, edge in zip(reversed(parents), reversed(path)):
        g = edge.reward + discount * g
        edge.visits += 1
        edge.total += g
        parent.visits += 1
        parent.total += g


# ---------------------------------------------------------------------------------------------- protocols


@runtime_checkable
class Proposer(Protocol):
    """Gives candidate actions at a node."""

    def propose(self, node: Node, n: int, ctx: SearchContext) -> list[Proposal]:
        """Return up to ``n`` candidate actions for ``node`` (duplicates allowed: the search merges them)."""
        ...


@runtime_checkable
class Evaluator(Protocol):
    """Scores nodes.

    A value is an estimate of the return from the node; for terminals under ``use_env_reward=False`` it is the
    value of the final state (e.g. whether the answer is right).
    """

    def evaluate(self, nodes: Sequence[Node], ctx: SearchContext) -> list[float]:
        """One value per node (one batched model call where the evaluator is a model)."""
        ...


# ---------------------------------------------------------------------------------------------- env helpers


def clone_env(env: gym.Env) -> Any:
    """A separate instance of ``env``'s unwrapped env, restored to its current snapshot.

    Built again from ``env.spec`` (with its keyword arguments) when there is one, else deep-copied.

    Raises:
        ConfigError: ``env`` has no snapshots (not a toolgym env).
    """
    base: Any = env.unwrapped
    for name in ("get_state", "set_state", "state_key"):
        if not callable(getattr(base, name, None)):
            raise ConfigError(
                f"MCTS: expected an env with get_state/set_state/state_key (a toolgym env), got "
                f"{type(base).__name__} without {name}(). Create it with gym.make('toolgym/...')."
            )
    spec = getattr(env, "spec", None) or getattr(base, "spec", None)
    if spec is not None:
        clone: Any = gym.make(spec).unwrapped
    else:
        clone = copy.deepcopy(base)
    clone.set_state(base.get_state())
    return clone


# ---------------------------------------------------------------------------------------------- search


class SearchContext:
    """What proposers and evaluators may use during a search: the cloned env, budgets and the generator.

    Attributes:
        env: The search's own (unwrapped) env instance; :meth:`restore` puts it in a node's state.
        source_env: The env the search was started from (for prompts: its spec, instructions and examples).
        first_observation: The episode's reset observation (the task text for prompts).
        config: The search settings.
        rng: The search's generator (seeded from ``config.seed``).
        root: The root node.
        env_steps: Env steps taken so far.
        prompt_tokens: Prompt tokens charged so far.
        completion_tokens: Completion tokens charged so far.
        model_calls: Proposer and evaluator calls so far.
    """

    def __init__(self, env: Any, source_env: gym.Env, config: MCTSConfig) -> None:
        """Set up the context (the search builds it)."""
        self.env = env
        self.source_env = source_env
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.root: Node | None = None
        self.env_steps = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.model_calls = 0
        self.start = time.perf_counter()
        self.stopped_by: str | None = None
        self.solution: list[str] | None = None
        self.first_observation: Any = None

    def found(self, actions: Sequence[str]) -> None:
        """Record a successful action sequence (a node's ``actions``, plus a rollout's) that reached success."""
        if self.solution is None and self.config.use_env_reward:
            skip = len(self.root.history) if self.root is not None else 0
            self.solution = list(actions)[skip:]

    # budgets
    def budget_left(self) -> bool:
        """Whether every budget still has room (records which one ran out in ``stopped_by``)."""
        c = self.config
        if c.max_env_steps is not None and self.env_steps >= c.max_env_steps:
            self.stopped_by = self.stopped_by or "max_env_steps"
        elif c.max_tokens is not None and self.completion_tokens >= c.max_tokens:
            self.stopped_by = self.stopped_by or "max_tokens"
        elif c.time_limit_s is not None and time.perf_counter() - self.start >= c.time_limit_s:
            self.stopped_by = self.stopped_by or "time_limit_s"
        else:
            return True
        return False

    def charge(self, usage: Mapping[str, float]) -> None:
        """Count a model call's tokens against the budget."""
        self.model_calls += 1
        self.prompt_tokens += int(usage.get("prompt_tokens", 0) or 0)
        self.completion_tokens += int(usage.get("completion_tokens", 0) or 0)

    # env
    def restore(self, node: Node) -> Any:
        """Put the search env in ``node``'s state and return it.

        Raises:
            StateError: With ``check_restore``, the restored ``state_key`` differs from the node's.
        """
        self.env.set_state(node.state)
        if self.config.check_restore and self.env.state_key() != node.key:
            raise StateError(
                f"MCTS: expected state_key {node.key} after set_state of node {node.id}, got "
                f"{self.env.state_key()}. The env's get_state/set_state do not round-trip; fix its _get_state."
            )
        return self.env

    def step(self, action: str) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step the search env (counted against ``max_env_steps``)."""
        self.env_steps += 1
        return self.env.step(action)

    def search_reward(self, reward: float, info: Mapping[str, Any]) -> float:
        """The reward the search counts: the env's, or without ``use_env_reward`` the env's minus its task reward."""
        if self.config.use_env_reward:
            return float(reward)
        return float(reward) - float(info.get("task_reward", 0.0) or 0.0)


@dataclass
class SearchResult:
    """What :func:`mcts_search` found.

    Attributes:
        root: The root node (the whole tree hangs from it).
        nodes: Every node, by id.
        best: The node :attr:`best_path` ends at.
        solved: A terminal with ``info["success"]`` was reached during the search, in the tree or by a rollout
            (an oracle read when the env's success is the gold check; ``False`` when ``use_env_reward=False``).
        solution: The actions from the root to that success (``None`` when not solved).
        simulations: Simulations run.
        env_steps: Env steps taken.
        prompt_tokens: Prompt tokens charged.
        completion_tokens: Completion tokens charged.
        model_calls: Proposer and evaluator calls.
        wall_s: Seconds the search took.
        stopped_by: ``"success"``, ``"simulations"``, ``"max_env_steps"``, ``"max_tokens"``, ``"time_limit_s"`` or
            ``"exhausted"`` (nothing left to expand).
        config: The settings.
    """

    root: Node
    nodes: list[Node]
    best: Node
    solved: bool
    simulations: int
    env_steps: int
    prompt_tokens: int
    completion_tokens: int
    model_calls: int
    wall_s: float
    stopped_by: str
    config: MCTSConfig
    solution: list[str] | None = None

    @property
    def best_path(self) -> list[str]:
        """The actions of :attr:`solution` when solved, else from the root to :attr:`best`."""
        if self.solution is not None:
            return list(self.solution)
        return self.best.actions[len(self.root.history) :]

    def stats(self) -> dict[str, Any]:
        """The budgets spent and the outcome, JSON-ready."""
        return {
            "simulations": self.simulations,
            "env_steps": self.env_steps,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "model_calls": self.model_calls,
            "wall_s": round(self.wall_s, 4),
            "stopped_by": self.stopped_by,
            "solved": self.solved,
            "nodes": len(self.nodes),
            "best_path": self.best_path,
        }

    def to_json(self, *, max_text: int = 500) -> dict[str, Any]:
        """The tree for inspection: every node with its statistics, observation (clipped) and edges."""

        def clip(x: Any) -> str:
            text = observation_text(x)
            return text if len(text) <= max_text else text[:max_text] + "…"

        nodes = []
        for n in self.nodes:
            nodes.append(
                {
                    "id": n.id,
                    "key": n.key,
                    "depth": n.depth,
                    "parent": n.parent.id if n.parent is not None else None,
                    "terminal": n.terminal,
                    "success": n.success,
                    "value": n.value,
                    "visits": n.visits,
                    "mean": None if not n.visits else n.mean,
                    "observation": clip(n.observation),
                    "edges": [
                        {
                            "action": e.action,
                            "thought": e.thought,
                            "child": e.child.id,
                            "reward": e.reward,
                            "env_reward": e.env_reward,
                            "prior": e.prior,
                            "count": e.count,
                            "init_value": e.init_value,
                            "visits": e.visits,
                            "q": None if not e.visits else e.q,
                        }
                        for e in n.children
                    ],
                }
            )
        config = {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(self.config).items()}
        return to_jsonable({"config": config, "stats": self.stats(), "best": self.best.id, "nodes": nodes})

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` (a ``.json`` file) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
        return path


class _Search:
    def __init__(self, ctx: SearchContext, proposer: Proposer, evaluator: Evaluator) -> None:
        self.ctx = ctx
        self.c = ctx.config
        self.proposer = proposer
        self.evaluator = evaluator
        self.nodes: list[Node] = []
        self.table: dict[str, Node] = {}
        self.solved: Node | None = None

    def new_node(self, **kwargs: Any) -> Node:
        node = Node(id=len(self.nodes), **kwargs)
        self.nodes.append(node)
        if self.c.transpositions:
            self.table.setdefault(self.tkey(node.key, node.observation), node)
        return node

    def agent_text(self, observation: Any, terminated: bool) -> str:
        """The observation as the agent's history keeps it.

        Without ``use_env_reward``, a final observation that announces the reward (ReAct's "Episode finished,
        reward = False") has the reward cut out.
        """
        text = observation_text(observation)
        if terminated and not self.c.use_env_reward:
            text = _REWARD_NOTE.sub("", text)
        return text

    def tkey(self, key: str, observation: Any) -> str:
        if self.c.transposition_key == "state":
            return key
        return key + "|" + observation_text(observation)

    def evaluate(self, nodes: list[Node]) -> None:
        todo = [n for n in nodes if n.value is None and (not n.terminal or not self.c.use_env_reward)]
        for n in nodes:
            if n.terminal and self.c.use_env_reward:
                n.value = 0.0  # the episode is over: its reward is on the edge
        if not todo:
            return
        values = self.evaluator.evaluate(todo, self.ctx)
        if len(values) != len(todo):
            raise ConfigError(
                f"MCTS: expected the evaluator to return {len(todo)} values, got {len(values)}. "
                "Evaluator.evaluate must return one value per node."
            )
        for n, v in zip(todo, values):
            n.value = float(v)

    def needs_expansion(self, node: Node) -> bool:
        if not node.expanded:
            return True
        w = self.c.widen_every
        return w is not None and node.visits >= w * node.expansions

    def expand(self, node: Node) -> None:
        node.expanded = True
        if not self.ctx.budget_left():
            return
        proposals = list(self.proposer.propose(node, self.c.num_children, self.ctx))
        node.expansions += 1
        known = {e.action: e for e in node.children}
        self.ctx.charge(_sum_usage(proposals))
        groups: dict[str, list[Proposal]] = {}
        for p in proposals:
            action = str(p.action)
            groups.setdefault(action, []).append(p)
        total = max(len(proposals), 1)
        new: list[Node] = []
        for action, group in groups.items():
            if action in known:  # widening: a known action again
                known[action].count += len(group)
                continue
            if not self.ctx.budget_left():
                break
            env = self.ctx.restore(node)
            obs, reward, terminated, truncated, info = self.ctx.step(action)
            key = env.state_key()
            tkey = self.tkey(key, obs)
            child = self.table.get(tkey) if self.c.transpositions else None
            if child is node:
                continue  # the action led back here (think, an inadmissible command)
            if child is None:
                child = self.new_node(
                    key=key,
                    state=env.get_state(),
                    observation=obs,
                    info=info,
                    depth=node.depth + 1,
                    history=(*node.history, (group[0].thought, action, self.agent_text(obs, terminated))),
                    parent=node,
                    terminal=bool(terminated or truncated),
                    truncated=bool(truncated and not terminated),
                    success=bool(info.get("success", False)),
                )
                new.append(child)
            priors = [p.prior for p in group if p.prior is not None]
            prior = float(np.mean(priors)) if priors else len(group) / total
            node.children.append(
                Edge(
                    action=action,
                    child=child,
                    reward=self.ctx.search_reward(reward, info),
                    env_reward=float(reward),
                    prior=prior,
                    count=len(group),
                    thought=group[0].thought,
                )
            )
            if child.terminal and child.success and self.c.use_env_reward and self.solved is None:
                self.solved = child
                self.ctx.found(child.actions)
        if self.c.selection == "puct" and node.children:
            z = sum(e.prior for e in node.children)
            if z > 0:
                for e in node.children:
                    e.prior /= z
        if self.c.evaluate == "children":
            self.evaluate(new if self.ctx.budget_left() else [n for n in new if n.terminal])
        for e in node.children:
            if e.child.value is not None:
                e.init_value = e.reward + self.c.discount * e.child.value

    def leaf_value(self, node: Node) -> float:
        if node.terminal and self.c.use_env_reward:
            return 0.0
        if node.value is None and self.ctx.budget_left():
            self.evaluate([node])
        return float(node.value if node.value is not None else self.c.fpu)

    def simulate(self, root: Node) -> bool:
        """One simulation; False when nothing was left to do (fully explored or out of budget)."""
        node, path, on_path = root, [], {root.id}
        while True:
            if node.terminal:
                break
            depth_ok = self.c.max_depth is None or node.depth < self.c.max_depth
            if depth_ok and self.needs_expansion(node):
                if not self.ctx.budget_left():
                    return False
                self.expand(node)
            edge = select_edge(node, self.c, on_path) if depth_ok else None
            if edge is None:
                break
            path.append(edge)
            node = edge.child
            on_path.add(node.id)
            if edge.visits == 0:
                break
        if not path and (root.terminal or (root.expanded and not root.children)):
            return False
        backup(root, path, self.leaf_value(node), self.c.discount)
        return True

    def best(self, root: Node) -> Node:
        if self.solved is not None:
            return self.solved
        if self.c.final == "value":
            best, best_score = root, -math.inf
            pool = [n for n in self.nodes if n is not root and n.visits > 0]
            terminals = [n for n in pool if n.terminal]
            for n in terminals or pool:
                score = self._path_return(n) + self.c.discount ** (n.depth) * (n.value or 0.0)
                if score > best_score:
                    best, best_score = n, score
            return best
        node, seen = root, {root.id}
        while node.children:
            edges = [e for e in node.children if e.visits > 0 and e.child.id not in seen]
            if not edges:
                break
            edge = max(edges, key=lambda e: (e.visits, e.q))
            node = edge.child
            seen.add(node.id)
        return node

    def _path_return(self, node: Node) -> float:
        g, n = 0.0, node
        while n.parent is not None:
            edge = next(e for e in n.parent.children if e.child is n)
            g = edge.reward + self.c.discount * g
            n = n.parent
        return g


def _sum_usage(proposals: Sequence[Proposal]) -> dict[str, float]:
    """The tokens of one proposer call (the sum over its proposals)."""
    out: dict[str, float] = {}
    for p in proposals:
        for k in ("prompt_tokens", "completion_tokens"):
            out[k] = out.get(k, 0) + float(p.usage.get(k, 0) or 0)
    return out


def mcts_search(
    env: gym.Env,
    proposer: Proposer,
    evaluator: Evaluator,
    config: MCTSConfig | None = None,
    *,
    on_simulation: Callable[[SearchContext, int], None] | None = None,
    history: Sequence[tuple[str | None, str, str]] = (),
    first_observation: Any = None,
) -> SearchResult:
    """Search from ``env``'s current state (the env itself is not stepped; see the module docstring).

    Args:
        env: A toolgym env after ``reset`` (wrapped or not).
        proposer: Candidate actions at a node (:class:`PolicyProposer` wraps a prompting policy).
        evaluator: Node values (:class:`ConstantValue`, :class:`RolloutValue`, an LM or PRM value).
        config: Settings (default :class:`MCTSConfig`).
        on_simulation: Called after each simulation with the context and the simulation's index (tests,
            progress).
        history: The ``(thought, action, observation)`` steps the episode already took (an agent that searches
            again mid-episode): proposers and evaluators see them; :attr:`SearchResult.best_path` excludes them.
        first_observation: The episode's reset observation (the task), when the env is past its first step.

    Returns:
        The :class:`SearchResult`.

    Raises:
        ConfigError: ``env`` has no snapshots, or was not reset.
    """
    config = config or MCTSConfig()
    base: Any = env.unwrapped
    if not getattr(base, "_started", True):
        raise ConfigError("mcts_search: expected an env after reset(), got one never reset. Call env.reset().")
    search_env = clone_env(env)
    ctx = SearchContext(search_env, env, config)
    search = _Search(ctx, proposer, evaluator)
    obs = base.observe() if callable(getattr(base, "observe", None)) else None
    info0: dict[str, Any] = {"task_id": getattr(base, "task_id", None)}
    admissible = base.admissible_actions() if callable(getattr(base, "admissible_actions", None)) else None
    if admissible is not None:
        info0["admissible_actions"] = list(admissible)
    root = search.new_node(
        key=search_env.state_key(),
        state=search_env.get_state(),
        observation=obs,
        info=info0,
        history=tuple(tuple(h) for h in history),
        terminal=bool(getattr(base, "_done", False)),
    )
    ctx.root = root
    ctx.first_observation = first_observation if first_observation is not None else obs
    sims = 0
    stopped = "simulations"
    while sims < config.simulations:
        if ctx.solution is not None and config.stop_on_success:
            stopped = "success"
            break
        if not search.simulate(root):
            stopped = ctx.stopped_by or "exhausted"
            break
        sims += 1
        if on_simulation is not None:
            on_simulation(ctx, sims - 1)
    else:
        if ctx.solution is not None and config.stop_on_success:
            stopped = "success"
    if ctx.stopped_by and stopped == "simulations" and sims < config.simulations:
        stopped = ctx.stopped_by
    return SearchResult(
        root=root,
        nodes=search.nodes,
        best=search.best(root),
        solved=ctx.solution is not None,
        solution=ctx.solution,
        simulations=sims,
        env_steps=ctx.env_steps,
        prompt_tokens=ctx.prompt_tokens,
        completion_tokens=ctx.completion_tokens,
        model_calls=ctx.model_calls,
        wall_s=time.perf_counter() - ctx.start,
        stopped_by=stopped,
        config=config,
    )


# ---------------------------------------------------------------------------------------------- proposers


class FunctionProposer:
    """A proposer from a function ``fn(node, n, ctx) -> list of action strings``.

    Example:
        >>> FunctionProposer(lambda node, n, ctx: ["look"] * n).propose(None, 2, None)[0].action
        'look'
    """

    def __init__(self, fn: Callable[[Node, int, SearchContext], Sequence[str]]) -> None:
        """Wrap ``fn``."""
        self.fn = fn

    def propose(self, node: Node, n: int, ctx: SearchContext) -> list[Proposal]:
        """The function's actions as proposals."""
        return [Proposal(str(a)) for a in self.fn(node, n, ctx)]


class NoisyExpertProposer:
    """A proposer that is right with probability ``p`` (the controlled proposer of the search experiments).

    Each of the ``n`` candidates is the env's expert action with probability ``p``, else a uniformly random
    admissible action. It reads the expert, i.e. privileged state: a testbed for search, never an agent.

    Args:
        p: Probability that a candidate is the expert's action.
        seed: Seeds its generator (mixed with the node's key, so proposals do not depend on search order).
    """

    def __init__(self, p: float, seed: int = 0) -> None:
        """Create the proposer (see the class docstring)."""
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"NoisyExpertProposer.p: expected a probability in [0, 1], got {p!r}.")
        self.p = float(p)
        self.seed = int(seed)

    def rng_for(self, key: str, salt: int = 0) -> np.random.Generator:
        """The generator for a node (by its ``state_key``) and a salt."""
        return np.random.default_rng([self.seed, int(key[:15], 16), salt])

    def propose(self, node: Node, n: int, ctx: SearchContext) -> list[Proposal]:
        """``n`` candidates for ``node``."""
        env = ctx.restore(node)
        expert = str(env.expert_action())
        admissible = list(node.info.get("admissible_actions") or env.admissible_actions() or [expert])
        rng = self.rng_for(node.key, node.expansions)
        out = []
        for _ in range(n):
            if rng.random() < self.p:
                out.append(Proposal(expert))
            else:
                out.append(Proposal(rand_elem(rng, admissible)))
        return out

    def act(self, env: Any, info: Mapping[str, Any], rng: np.random.Generator) -> str:
        """One action for a plain rollout (best-of-k baselines) from ``env``'s current state."""
        expert = str(env.unwrapped.expert_action())
        if rng.random() < self.p:
            return expert
        admissible = list(info.get("admissible_actions") or [expert])
        return rand_elem(rng, admissible)


class PolicyProposer:
    """Proposals from a prompting policy (an :class:`~toolgym.agents.prompting.policy.LLMPolicy`).

    Its ``propose(slots, n, params)`` runs with the node's history as the episode so far.

    The policy is reset once per search with the root observation and the caller's env (for its instructions
    and few-shot examples); at each node its slot's history is set to the node's ``(thought, action,
    observation)`` steps. Sampling is per-prompt seeded, so the ``n`` candidates differ.

    Args:
        policy: An ``LLMPolicy`` (ReAct, Act, FireAct...), or a name for
            :func:`~toolgym.agents.make_policy` with ``policy_kwargs``.
        temperature: Sampling temperature of the proposals (LATS: 1.0).
        seed: Sampling seed.
        slot: The policy slot the search uses.
        **policy_kwargs: Options for :func:`~toolgym.agents.make_policy` when ``policy`` is a name.
    """

    def __init__(
        self, policy: Any, *, temperature: float = 1.0, seed: int = 0, slot: int = 0, **policy_kwargs: Any
    ) -> None:
        """Create the proposer (see the class docstring)."""
        if isinstance(policy, str):
            from toolgym.agents import make_policy

            policy = make_policy(policy, **policy_kwargs)
        if not callable(getattr(policy, "propose", None)) or not callable(getattr(policy, "episode", None)):
            raise ConfigError(
                f"PolicyProposer: expected an LLMPolicy (with propose() and per-slot episodes), got "
                f"{type(policy).__name__}. Use make_policy('react', llm=...) or wrap a function in FunctionProposer."
            )
        self.policy = policy
        self.params: SamplingParams = policy.params.replace(temperature=float(temperature), seed=int(seed))
        self.slot = int(slot)
        self._root: int | None = None

    def _ensure_reset(self, ctx: SearchContext) -> None:
        root = ctx.root
        if root is None or self._root == id(root):
            return
        info = dict(root.info)
        first = ctx.first_observation if ctx.first_observation is not None else root.observation
        self.policy.reset(first, info, env=ctx.source_env, slot=self.slot)
        self._root = id(root)

    def set_node(self, node: Node, ctx: SearchContext) -> None:
        """Make the policy's slot hold ``node``'s episode so far."""
        self._ensure_reset(ctx)
        state = self.policy.episode(self.slot)
        state["history"] = list(node.history)
        state["pending"] = None

    def propose(self, node: Node, n: int, ctx: SearchContext) -> list[Proposal]:
        """``n`` sampled candidates at ``node`` (one batched model call)."""
        self.set_node(node, ctx)
        params = self.params.replace(seed=mix_seed(self.params.seed, node.key, node.depth, node.expansions))
        actions: list[AgentAction] = self.policy.propose([self.slot], n, params)[0]
        return [
            Proposal(str(a), thought=getattr(a, "thought", None), usage=dict(getattr(a, "usage", {}) or {}))
            for a in actions
        ]


# ---------------------------------------------------------------------------------------------- evaluators


class ConstantValue:
    """Every node is worth ``value`` (search guided by rewards alone: plain UCT)."""

    def __init__(self, value: float = 0.0) -> None:
        """Create the evaluator."""
        self.value = float(value)

    def evaluate(self, nodes: Sequence[Node], ctx: SearchContext) -> list[float]:
        """``value`` for each node."""
        return [self.value] * len(nodes)


class RolloutValue:
    """A node's value is the return of rollouts from it (classic MCTS simulation).

    Each rollout restores the node's snapshot on the search env and plays ``act(env, info, rng) -> action``
    (for example :meth:`NoisyExpertProposer.act`) for up to ``depth`` steps; the value is the mean discounted
    return over ``rollouts`` rollouts. Steps are charged to the search's env-step budget; with
    ``use_env_reward=False`` the rollout's task rewards are hidden like the search's and it is worth its costs
    only.

    Args:
        act: ``(env, info, rng) -> action`` for one step.
        depth: Steps per rollout.
        rollouts: Rollouts per node.
    """

    def __init__(
        self, act: Callable[[Any, Mapping[str, Any], np.random.Generator], str], depth: int = 10, rollouts: int = 1
    ) -> None:
        """Create the evaluator (see the class docstring)."""
        if depth < 1 or rollouts < 1:
            raise ConfigError(f"RolloutValue: expected depth >= 1 and rollouts >= 1, got {depth} and {rollouts}.")
        self.act = act
        self.depth = int(depth)
        self.rollouts = int(rollouts)

    def evaluate(self, nodes: Sequence[Node], ctx: SearchContext) -> list[float]:
        """The mean rollout return from each node."""
        out = []
        for node in nodes:
            returns = []
            for _ in range(self.rollouts):
                env = ctx.restore(node)
                info: Mapping[str, Any] = node.info
                g, scale, actions = 0.0, 1.0, []
                for _ in range(self.depth):
                    if node.terminal or not ctx.budget_left():
                        break
                    action = self.act(env, info, ctx.rng)
                    actions.append(action)
                    _, r, term, trunc, info = ctx.step(action)
                    g += scale * ctx.search_reward(r, info)
                    scale *= ctx.config.discount
                    if term or trunc:
                        if info.get("success"):
                            ctx.found([*node.actions, *actions])
                        break
                returns.append(g)
            out.append(float(np.mean(returns)) if returns else 0.0)
        return out
