"""A closed-loop reflector (Re-ReST's R): re-solve a failed task in the environment, step by step.

:class:`ClosedLoopReflector` is a ReAct policy whose prompt also holds a failed attempt at the same task - its
actions and observations - and the environment's feedback on it (``info["feedback"]`` at the attempt's last
step; never the gold answer, which the reflector is given no way to read). It acts through the normal
``reset`` / ``step`` loop, so every step of a repair is executed by the env and a repair counts only when the
env says it succeeded. Compare :class:`~toolgym.agents.reflectors.RepairReflector`, which writes a whole
trajectory with imagined observations and replays its actions blind.

Which attempt an episode repairs is keyed by ``(task_id, reset seed)``: :meth:`ClosedLoopReflector.assign`
registers failed attempts and returns one :class:`~toolgym.agents.engine.EpisodeSpec` per attempt, to be run
by :func:`~toolgym.agents.rollout` (or ``collect_episodes``, which also charges the budget ledger). Its
prompts go through :class:`~toolgym.agents.prompting.react.ReActPolicy`, so
:func:`~toolgym.agents.prompting.training.training_segments` renders its training text from the same code
(register the attempt of a training example with :meth:`ClosedLoopReflector.assign` first).

``feedback=False`` leaves the feedback out (the Re-ReST paper's ablation); the failed attempt stays.

Example:
    >>> from toolgym.agents import rollout
    >>> from toolgym.agents.llm.scripted import ScriptedLLM
    >>> from toolgym.records import Step, Trajectory
    >>> failed = Trajectory("toolgym/ToolChoice-Arithmetic-v0", "L1-0", "What is 5 - 5?",
    ...     (Step("finish[1]", "Wrong.", info={"feedback": "The answer 1 is incorrect."}),), metadata={"seed": 3})
    >>> r = ClosedLoopReflector(ScriptedLLM(["I was wrong: 5 - 5 is 0.\\nAction 1: finish[0]"]), examples="none")
    >>> ep = rollout(r, "toolgym/ToolChoice-Arithmetic-v0", episodes=r.assign([failed]))[0]
    >>> ep.trajectory.success
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from toolgym.agents.base import mix_seed
from toolgym.agents.engine import EpisodeSpec
from toolgym.agents.prompting.react import ReActPolicy
from toolgym.agents.reflectors import render_attempt
from toolgym.error import ConfigError
from toolgym.records import Trajectory

if TYPE_CHECKING:
    import gymnasium as gym

__all__ = ["REPAIR_HEADER", "Attempt", "ClosedLoopReflector", "attempt_feedback", "attempt_specs"]

#: Put before the failed attempt in the reflector's prompt.
REPAIR_HEADER = (
    "You have attempted this task before and failed. The previous trial and the environment's feedback on it "
    "follow. Find the mistake and solve the task again, step by step, without repeating it."
)


def attempt_feedback(trajectory: Trajectory) -> str:
    """The env's feedback on an attempt: ``info["feedback"]`` of its last step that has one (else ``""``)."""
    for step in reversed(trajectory.steps):
        text = str(step.info.get("feedback", "") or "").strip()
        if text:
            return text
    return ""


@dataclass(frozen=True)
class Attempt:
    """A failed attempt the reflector works from.

    Attributes:
        trajectory: The attempt (its steps: actions, thoughts and the env's observations).
        feedback: The env's feedback on it (see :func:`attempt_feedback`).
    """

    trajectory: Trajectory
    feedback: str

    @classmethod
    def of(cls, trajectory: Trajectory) -> Attempt:
        """The attempt of ``trajectory``, with the feedback its steps recorded."""
        return cls(trajectory, attempt_feedback(trajectory))


def attempt_specs(attempts: Sequence[Trajectory], *, seed: int = 0) -> list[EpisodeSpec]:
    """One episode per attempt: same task, the attempt's reset seed where it is free, else a derived one.

    The seeds are distinct per task, so ``(task_id, seed)`` names the attempt an episode repairs.

    Args:
        attempts: The failed trajectories (their ``metadata["seed"]`` is the reset seed they ran with).
        seed: Mixed into the seeds derived for attempts without a free seed of their own.
    """
    taken: set[tuple[str, int]] = set()
    specs = []
    for i, t in enumerate(attempts):
        s = t.metadata.get("seed")
        s = int(s) if isinstance(s, int) and not isinstance(s, bool) else None
        j = 0
        while s is None or (t.task_id, s) in taken:
            s = mix_seed(seed, t.task_id, i, j) % 2**31
            j += 1
        taken.add((t.task_id, s))
        specs.append(EpisodeSpec(seed=s, task_id=t.task_id))
    return specs


class ClosedLoopReflector(ReActPolicy):
    """Re-ReST's reflector as a policy: ReAct with a failed attempt and its feedback in the prompt.

    Args:
        llm: The model (any :class:`~toolgym.agents.base.LLM` or a spec for :func:`~toolgym.agents.make_llm`).
        feedback: Show the env's feedback on the attempt (``False``: the paper's no-feedback ablation).
        attempt_steps: Show only the last this many steps of the attempt (``None``: all), so that a long failure
            does not push the prompt past a small model's context (where it would be cut from the left, the attempt
            first).
        **kwargs: Options of :class:`~toolgym.agents.prompting.react.ReActPolicy` (``style``, ``thoughts``,
            ``examples``, ``max_tokens``, ``temperature``, ``seed``...).
    """

    memory_header = REPAIR_HEADER

    def __init__(self, llm: Any, *, feedback: bool = True, attempt_steps: int | None = None, **kwargs: Any) -> None:
        """Create the reflector (see the class docstring)."""
        if attempt_steps is not None and (not isinstance(attempt_steps, int) or attempt_steps < 1):
            raise ConfigError(
                f"ClosedLoopReflector.attempt_steps: expected None or an int >= 1, got {attempt_steps!r}."
            )
        super().__init__(llm, **kwargs)
        self.feedback = bool(feedback)
        self.attempt_steps = attempt_steps
        self.name = "reflector" if self.feedback else "reflector-nofeedback"
        self._attempts: dict[tuple[str, int], Attempt] = {}

    def assign(self, attempts: Sequence[Trajectory], *, seed: int = 0) -> list[EpisodeSpec]:
        """Register failed attempts; returns the episodes that re-solve them (see :func:`attempt_specs`).

        Attempts registered earlier stay registered (a later one with the same task and seed replaces one).
        """
        specs = attempt_specs(attempts, seed=seed)
        for t, spec in zip(attempts, specs):
            self._attempts[(str(spec.task_id), int(spec.seed or 0))] = Attempt.of(t)
        return specs

    def forget(self) -> None:
        """Drop every registered attempt."""
        self._attempts.clear()

    def attempt(self, task_id: str, seed: int | None) -> Attempt:
        """The attempt registered for ``(task_id, seed)``.

        Raises:
            ConfigError: None is registered.
        """
        key = (str(task_id), int(seed or 0))
        if key not in self._attempts:
            raise ConfigError(
                f"ClosedLoopReflector: expected a failed attempt registered for task {task_id!r} with reset seed "
                f"{seed!r}, got none. Run the episodes that assign(failed_trajectories) returns."
            )
        return self._attempts[key]

    def reset(self, observation: Any, info: Mapping[str, Any], *, env: gym.Env | None = None, slot: int = 0) -> None:
        """Start an episode: the ReAct state plus the attempt of this task and reset seed.

        Raises:
            ConfigError: No attempt is registered for the episode, or the env puts the gold answer into its
                feedback (VQA's ``reveal_answer=True``) while the reflector shows the feedback.
        """
        self._check_env(env)
        attempt = self.attempt(str(info.get("task_id", "")), info.get("reset_seed"))
        self.start(attempt, observation, info, env=env, slot=slot)

    def start(
        self,
        attempt: Attempt,
        observation: Any,
        info: Mapping[str, Any],
        *,
        env: gym.Env | None = None,
        slot: int = 0,
    ) -> None:
        """Start an episode that re-solves ``attempt`` (given, not looked up: for policies that hold it themselves).

        Raises:
            ConfigError: The env puts the gold answer into its feedback while the reflector shows the feedback.
        """
        self._check_env(env)
        super().reset(observation, info, env=env, slot=slot)
        self.episode(slot)["attempt"] = attempt

    def _check_env(self, env: gym.Env | None) -> None:
        if self.feedback and env is not None and getattr(env.unwrapped, "reveal_answer", False):
            raise ConfigError(
                "ClosedLoopReflector: expected an env whose feedback does not reveal the gold answer, got one made "
                "with reveal_answer=True. Make it with reveal_answer=False, or use feedback=False."
            )

    def memory_text(self, slot: int) -> str:
        """The failed attempt (and the feedback, unless ``feedback=False``) for the prompt."""
        attempt: Attempt = self.episode(slot)["attempt"]
        t = attempt.trajectory
        cut = self.attempt_steps is not None and len(t.steps) > self.attempt_steps
        if cut:
            t = replace(t, steps=t.steps[-int(self.attempt_steps or 0) :])
        lines = render_attempt(t.question, t).split("\n", 1)
        text = "Previous trial:\n" + ("(earlier steps omitted)\n" if cut else "")
        text += lines[1] if len(lines) > 1 else "(no steps)"
        if self.feedback:
            text += f"\nFeedback: {attempt.feedback or 'The task was not solved.'}"
        return text
