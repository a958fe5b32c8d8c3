"""Task decomposition on nested arithmetic: answer directly, or push subtasks on a stack, solve them, backtrack."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any, Union

import numpy as np

from toolgym.core import TextEnv, Transition
from toolgym.costs import ToolCost
from toolgym.envs.calculator import format_number, parse_number
from toolgym.error import ConfigError, UnknownTaskError
from toolgym.parsing import AnyOf, BracketGrammar, JsonToolGrammar, ParsedAction
from toolgym.rng import rand_elem
from toolgym.splits import normalize_question

__all__ = ["DEPTHS", "DecomposeArithmeticEnv", "Tree", "make_tree", "render", "value"]

#: An expression: an integer leaf, or ``(operator, left, right)``; a solved subtask becomes a Fraction leaf.
Tree = Union[int, Fraction, tuple[str, "Tree", "Tree"]]  # noqa: UP007 (a recursive alias needs Union)

#: Nesting depths (difficulty levels) of the generated expressions.
DEPTHS: tuple[int, ...] = (1, 2, 3, 4)
_OPS = ("+", "-", "×")
_TOOLS = {"push": "subexpression", "solve": "value", "answer": "value", "backtrack": ""}


def value(tree: Tree) -> Fraction:
    """The exact value of an expression.

    Example:
        >>> value(("×", ("+", 3, 4), 5))
        Fraction(35, 1)
    """
    if not isinstance(tree, tuple):
        return Fraction(tree)
    op, left, right = tree
    a, b = value(left), value(right)
    return a + b if op == "+" else a - b if op == "-" else a * b


def render(tree: Tree) -> str:
    """The expression as text, every compound operand in parentheses.

    Example:
        >>> render(("×", ("+", 3, 4), ("-", 9, 2)))
        '(3 + 4) × (9 - 2)'
    """
    if not isinstance(tree, tuple):
        return format_number(Fraction(tree))
    op, left, right = tree

    def side(t: Tree) -> str:
        return f"({render(t)})" if isinstance(t, tuple) else render(t)

    return f"{side(left)} {op} {side(right)}"


def make_tree(depth: int, seed: int) -> Tree:
    """Generate the expression of a task deterministically: nesting exactly ``depth``, at most ``2·depth`` operators.

    One operand of each operator carries the nesting on; the other is a number, or (with probability 0.4,
    below the top two levels' budget) a single ``a op b``.

    Example:
        >>> make_tree(2, 0) == make_tree(2, 0), isinstance(make_tree(1, 3), tuple)
        (True, True)
    """
    if depth not in DEPTHS:
        raise ConfigError(f"depth: expected one of {list(DEPTHS)}, got {depth!r}.")
    rng = np.random.default_rng([depth, seed, 17])

    def leaf() -> int:
        return int(rng.integers(2, 20))

    def op() -> str:
        return rand_elem(rng, _OPS)

    def build(d: int) -> Tree:
        if d == 0:
            return leaf()
        deep = build(d - 1)
        other: Tree = (op(), leaf(), leaf()) if d >= 2 and rng.random() < 0.4 else leaf()
        return (op(), deep, other) if rng.random() < 0.5 else (op(), other, deep)

    return build(depth)


def _children(tree: Tree) -> list[tuple[int, Tree]]:
    """The compound operands of ``tree`` with their side (1 left, 2 right)."""
    if not isinstance(tree, tuple):
        return []
    return [(i, t) for i, t in ((1, tree[1]), (2, tree[2])) if isinstance(t, tuple)]


def _replace(tree: Tree, side: int, new: Tree) -> Tree:
    assert isinstance(tree, tuple)
    op, left, right = tree
    return (op, new, right) if side == 1 else (op, left, new)


def _norm(text: str) -> str:
    return "".join(text.replace("*", "×").replace("x", "×").split())


class DecomposeArithmeticEnv(TextEnv[str]):
    """Nested arithmetic solved directly or by decomposition into subtasks on a stack.

    ## Description

    A testbed for task decomposition and tree search. The task is a nested expression such as
    ``((7 + 4) × 3) - (9 × 2)``. The agent may answer at once, or split the work: ``push`` a compound operand
    as a subtask (it becomes the top of a stack), ``solve`` the top subtask with a value (it is popped and
    its value replaces it in its parent), and finally ``answer`` the whole task. ``solve`` is *not* checked:
    a wrong value silently propagates, and only the final answer is verified - so a search (MCTS) needs a
    value model or rollouts to judge partial work, and ``backtrack`` undoes the last push or solve. Every
    expression is generated from the task id: nothing to download.

    ## Action Space

    Text (:class:`~toolgym.spaces.Utf8Text`), one of

    * ``push[<subexpression>]`` - make a compound operand of the current subtask the new current subtask; the
      argument is its text as shown (spaces and ``*``/``x`` for ``×`` do not matter), or ``left``/``right``.
    * ``solve[<value>]`` - give the value of the current subtask (not the whole task): it is popped and the
      value substituted into its parent.
    * ``answer[<value>]`` - answer the whole task (from any depth) and end the episode.
    * ``backtrack[]`` - undo the last ``push`` or ``solve``.

    JSON tool calls (``{"tool": "push", "args": "7 + 4"}``) are accepted too. Anything else, pushing a
    non-operand, solving the root or backtracking with nothing to undo is an invalid action: an explanatory
    observation, ``info["invalid_action"] = True`` and the ``invalid_action_penalty``.

    ## Observation Space

    Text: the task, the current subtask with its depth, the stack from the root, and the subexpressions that
    can be pushed, e.g.::

        Task: What is ((7 + 4) × 3) - (9 × 2)?
        Current subtask (depth 1 of the stack): 7 + 4
        Stack: ((7 + 4) × 3) - (9 × 2) > (7 + 4) × 3 > 7 + 4
        Can push: none (solve it)

    ## Rewards

    1 for a correct ``answer``, else 0. ``push``, ``solve`` and ``backtrack`` are recorded as tool calls,
    free by default: price them with ``tool_costs`` (e.g. ``{"solve": 0.01}``, a sub-solver call) and the
    reward becomes ``success - λ·cost``.

    ## Episode End

    Terminated by ``answer``; truncated after ``max_steps`` (default 24; a full decomposition of a depth-4
    task takes at most 2·8 - 1 = 15 steps).

    ## Arguments

    * ``depth`` - a nesting depth 1-4 or a sequence to draw from uniformly (default all).
    * plus the shared :class:`~toolgym.core.TextEnv` arguments.

    Task ids are ``"D<depth>-<n>"``; ``info`` adds ``depth`` (the task's), ``stack_depth`` and ``subtask``
    (the current subtask's text). For search, :meth:`structural_actions` lists the pushes and the backtrack
    available now (the values of ``solve``/``answer`` are a policy's to propose); :meth:`gold_value` gives the
    current subtask's true value (for training a value model on verified answers).

    ## Version History

    * v0: initial version.
    """

    family = "tools"
    default_max_steps = 24
    max_action_length = 1024
    max_observation_length = 4096
    default_tool_costs = {"push": ToolCost(), "solve": ToolCost(), "backtrack": ToolCost()}
    #: Task ids per depth listed by :meth:`task_ids`.
    tasks_per_depth = 200

    def __init__(self, depth: int | Sequence[int] = DEPTHS, **kwargs: Any) -> None:
        """Create the env (see the class docstring for the arguments)."""
        super().__init__(**kwargs)
        depths = (depth,) if isinstance(depth, (int, np.integer)) else tuple(depth)
        if not depths or any(d not in DEPTHS for d in depths):
            raise ConfigError(f"depth: expected depths among {list(DEPTHS)}, got {depth!r}.")
        self.depths = tuple(int(d) for d in depths)
        self.grammar = AnyOf((BracketGrammar(_TOOLS), JsonToolGrammar(_TOOLS)))
        self._depth = self.depths[0]
        self._root: Tree = 0
        # Each frame: (its current expression, the side it came from in its parent; 0 for the root).
        self._stack: tuple[tuple[Tree, int], ...] = ()
        self._history: tuple[tuple[tuple[Tree, int], ...], ...] = ()

    # ------------------------------------------------------------------ tasks
    def instructions(self) -> str:
        """How to act, for prompts and the ``play`` command."""
        return (
            "Compute the value of the expression. Answer at once with answer[<value>], or decompose: "
            "push[<subexpression>] makes an operand in parentheses the current subtask, solve[<value>] gives "
            "the current subtask's value (it replaces the subtask in its parent), backtrack[] undoes the last "
            "push or solve. Only the final answer is checked."
        )

    def task_ids(self) -> list[str]:
        """``tasks_per_depth`` ids per configured depth."""
        return [f"D{d}-{n}" for d in self.depths for n in range(self.tasks_per_depth)]

    def iter_task_ids(self) -> Iterator[str]:
        """``D<depth>-0`` of each configured depth, then ``-1``, ... without end."""
        return (f"D{d}-{n}" for n in itertools.count() for d in self.depths)

    def _reset_task(self, task_id: str | None, options: Mapping[str, Any]) -> tuple[str, str]:
        if task_id is None:
            depth = rand_elem(self.np_random, self.depths)
            n = int(self.np_random.integers(2**31 - 1))
        else:
            head, _, tail = task_id.partition("-")
            ok = head[:1] == "D" and head[1:].isdigit() and tail.isdigit() and int(head[1:]) in DEPTHS
            if not ok:
                raise UnknownTaskError(task_id, type(self).__name__, self.task_ids()[:50])
            depth, n = int(head[1:]), int(tail)
        self._depth = depth
        self._root = make_tree(depth, n)
        self._stack = ((self._root, 0),)
        self._history = ()
        return self._view("New task."), f"D{depth}-{n}"

    # ------------------------------------------------------------------ observation
    def _pushable(self) -> list[tuple[int, Tree]]:
        return _children(self._stack[-1][0])

    def _view(self, head: str) -> str:
        current = self._stack[-1][0]
        chain = " > ".join(render(t) for t, _ in self._stack)
        push = "; ".join(render(t) for _, t in self._pushable())
        if not push:
            push = "none (answer it)" if len(self._stack) == 1 else "none (solve it)"
        return (
            f"{head}\nTask: What is {render(self._root)}?\n"
            f"Current subtask (depth {len(self._stack) - 1} of the stack): {render(current)}\n"
            f"Stack: {chain}\nCan push: {push}"
        )

    def split_key(self) -> str:
        """The task's expression, normalised (what decides its split)."""
        return normalize_question(render(self._root))

    # ------------------------------------------------------------------ actions
    def _act(self, action: ParsedAction) -> Transition:
        name, arg = action.name, action.argument.strip()
        if name == "answer":
            return self._answer(arg)
        if name == "push":
            return self._push(arg)
        if name == "solve":
            return self._solve(arg)
        return self._backtrack()

    def _record(self, name: str, arg: str, out: str) -> None:
        self.record_tool_call(name, arg, len(out), 0.0)

    def _push(self, arg: str) -> Transition:
        options = self._pushable()
        chosen = None
        key = _norm(arg)
        for side, t in options:
            text = _norm(render(t))
            if key in (text, f"({text})", ("left" if side == 1 else "right")):
                chosen = (side, t)
                break
        if chosen is None:
            listed = "; ".join(render(t) for _, t in options) or "none"
            return Transition(
                observation=(
                    f"Invalid action: push[...] expected a compound operand of the current subtask "
                    f"({listed}), got {arg!r}. Push one of those, or solve/answer the current subtask."
                ),
                invalid=True,
            )
        self._history = (*self._history, self._stack)
        self._stack = (*self._stack, (chosen[1], chosen[0]))
        out = self._view(f"Pushed subtask {render(chosen[1])}.")
        self._record("push", arg, out)
        return Transition(observation=out)

    def _solve(self, arg: str) -> Transition:
        if len(self._stack) == 1:
            return Transition(
                observation="Invalid action: solve[...] gives a subtask's value; the current task is the whole "
                "expression, so use answer[<value>] (or push a subtask first).",
                invalid=True,
            )
        claimed = parse_number(arg)
        if claimed is None:
            return Transition(observation=f"Invalid action: solve[...] expected a number, got {arg!r}.", invalid=True)
        tree, side = self._stack[-1]
        parent, parent_side = self._stack[-2]
        self._history = (*self._history, self._stack)
        self._stack = (*self._stack[:-2], (_replace(parent, side, claimed), parent_side))
        out = self._view(f"Solved {render(tree)} = {format_number(claimed)}.")
        self._record("solve", arg, out)
        return Transition(observation=out)

    def _backtrack(self) -> Transition:
        if not self._history:
            return Transition(observation="Invalid action: backtrack[] has nothing to undo.", invalid=True)
        self._stack = self._history[-1]
        self._history = self._history[:-1]
        out = self._view("Undid the last push or solve.")
        self._record("backtrack", "", out)
        return Transition(observation=out)

    def _answer(self, arg: str) -> Transition:
        given = parse_number(arg)
        gold = value(self._root)
        correct = given is not None and given == gold
        if given is None:
            feedback = f"The answer {arg!r} is not a number, so it is incorrect."
        else:
            feedback = f"The answer {format_number(given)} is {'correct' if correct else 'incorrect'}."
        return Transition(
            observation=f"Episode finished, reward = {correct}",
            reward=1.0 if correct else 0.0,
            terminated=True,
            success=correct,
            score=1.0 if correct else 0.0,
            feedback=feedback,
        )

    def _on_truncate(self) -> Transition:
        return Transition(
            observation=f"Step limit reached ({self.max_steps}) without answer[...]; the episode scores 0.",
            feedback=f"The step limit of {self.max_steps} was reached before an answer was submitted.",
        )

    def _extra_info(self) -> dict[str, Any]:
        return {"depth": self._depth, "stack_depth": len(self._stack) - 1, "subtask": render(self._stack[-1][0])}

    # ------------------------------------------------------------------ snapshots
    def _get_state(self) -> tuple[Any, ...]:
        return (self._depth, self._root, self._stack, self._history)

    def _set_state(self, state: tuple[Any, ...]) -> None:
        self._depth, self._root, self._stack, self._history = state

    # ------------------------------------------------------------------ search hooks and expert
    def structural_actions(self) -> list[str]:
        """The pushes and the backtrack available now (values for ``solve``/``answer`` are not enumerable)."""
        out = [f"push[{render(t)}]" for _, t in self._pushable()]
        if self._history:
            out.append("backtrack[]")
        return out

    def gold_value(self) -> Fraction:
        """The true value of the current subtask *as written now* (claimed values included) - privileged."""
        return value(self._stack[-1][0])

    def _consistent(self) -> bool:
        """Whether every value substituted so far was right (the stack still evaluates to the task's value)."""
        return all(value(t) == value(self._subtree(i)) for i, (t, _) in enumerate(self._stack))

    def _subtree(self, index: int) -> Tree:
        """The original subtree of stack frame ``index`` (following the sides from the root)."""
        tree = self._root
        for _, side in self._stack[1 : index + 1]:
            assert isinstance(tree, tuple)
            tree = tree[1] if side == 1 else tree[2]
        return tree

    def expert_action(self) -> str:
        """The decomposing expert: push the first compound operand, solve leaves, answer at the root.

        When an earlier ``solve`` was wrong, or at most one step is left, it answers the task directly (from
        privileged state), so it solves every task from any state.
        """
        gold = value(self._root)
        if self.max_steps - self._steps <= 1 or not self._consistent():
            return f"answer[{format_number(gold)}]"
        pushable = self._pushable()
        if pushable:
            return f"push[{render(pushable[0][1])}]"
        if len(self._stack) == 1:
            return f"answer[{format_number(self.gold_value())}]"
        return f"solve[{format_number(self.gold_value())}]"
