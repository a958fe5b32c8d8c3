"""Re-ReST's agent and reflector as one multi-trial policy: :class:`RepairPolicy` (``make_policy("repair")``).

Trial 0 is the agent M (a prompting method, ReAct by default). When a trial fails, the next trial is the
closed-loop reflector R (:class:`~toolgym.agents.closed_loop.ClosedLoopReflector`): a ReAct policy whose prompt
holds the failed trial - its actions and observations - and the env's feedback on it (``info["feedback"]``, never
the gold answer), and which re-solves the task in the env, up to ``max_trials`` trials. It runs through the
rollout engine's ``end_episodes`` hook like :class:`~toolgym.agents.reflexion.ReflexionPolicy`, so it works in
benchmark suites (``{name: repair, config: {llm: gemma, max_trials: 3}}``); the tokens of M and R are in each
trial's actions, so the episode's usage counts both. Whether a trial failed is read from ``info["success"]``
(the env's evaluator, an oracle: report it as such, as for Reflexion). ``feedback=False`` is the paper's ablation
(the failed trial without the feedback).

``vote=True`` is the paper's inference-time variant, reflector plus self-consistency *without* ground truth.
Trials alternate: even trials are fresh samples of M, each odd trial is R repairing the sample just before it
(one repair per sample, as in the paper), for ``max_trials`` trials whatever their outcome. What R sees is
the attempt *blind*: its tool calls and their observations, but not the env's verdict on the submitted answer
(the observation of the answer step is withheld, its ``info`` dropped, no feedback). The policy never reads
``info["success"]`` or ``info["feedback"]``: every trial runs. Then one more trial submits the majority answer
(answers compared as CoT-SC compares them, :meth:`~toolgym.agents.prompting.family.EnvAdapter.vote_key`; ties go
to the earliest) as the env's answer action in one step, and that trial's success is the episode's. The env does
score each proposing trial - a held-out task's env would reveal correctness through it, which is why the policy
reads neither the score nor the observation of an answer step. It needs an env with an answer action and
``temperature > 0`` for M's samples to differ. The vote trial costs one env step and no tokens.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from toolgym.agents.base import AgentAction, BasePolicy, _check_batch
from toolgym.agents.closed_loop import Attempt, ClosedLoopReflector
from toolgym.agents.llm import make_llm
from toolgym.agents.prompting.answer import _base_policy, base_method_options
from toolgym.agents.prompting.family import EnvAdapter
from toolgym.agents.prompting.policy import _default_adapter, act_into
from toolgym.error import ConfigError
from toolgym.records import Trajectory

if TYPE_CHECKING:
    import gymnasium as gym

__all__ = ["WITHHELD", "RepairPolicy", "blind_attempt"]

#: The observation of an answer step in an attempt shown to the test-time (``vote=True``) reflector.
WITHHELD = "(answer submitted; its result is not shown)"
#: ``info`` keys that carry the env's verdict; dropped from a blind attempt.
_VERDICT_KEYS = ("success", "score", "task_reward", "feedback")


def blind_attempt(trajectory: Trajectory) -> Trajectory:
    """``trajectory`` as a test-time reflector may see it: without the env's verdict on the submitted answer.

    The observation of the last step, when it ended the episode (the answer step), becomes :data:`WITHHELD`;
    every step's ``info`` loses its verdict keys (success, score, task reward, feedback), the rewards are zeroed
    and the trajectory's success and score are reset. Tool calls and their observations stay.

    Example:
        >>> from toolgym.records import Step
        >>> t = Trajectory("e", "t", "What is 2+3?", (Step("calc[2+3]", "5"),
        ...     Step("finish[6]", "Episode finished, reward = False", terminated=True, info={"feedback": "wrong"})))
        >>> [s.observation for s in blind_attempt(t).steps]
        ['5', '(answer submitted; its result is not shown)']
    """
    steps = [
        replace(s, reward=0.0, info={k: v for k, v in s.info.items() if k not in _VERDICT_KEYS})
        for s in trajectory.steps
    ]
    if steps and steps[-1].terminated:
        steps[-1] = replace(steps[-1], observation=WITHHELD)
    return replace(trajectory, steps=tuple(steps), success=False, score=0.0)


class RepairPolicy(BasePolicy):
    """Re-ReST at inference: the agent M, then the closed-loop reflector R on each failure (see the module docstring).

    Args:
        llm: M's model (an :class:`~toolgym.agents.base.LLM` or a spec for :func:`~toolgym.agents.make_llm`).
        base: M's method: ``"react"`` (default), ``"act"``, ``"cot"`` or ``"io"``. R is ReAct (Act-only when
            ``base="act"``).
        max_trials: Trials per task, M's first included (with ``vote=True``: proposing trials, before the vote).
        feedback: R sees the env's feedback on the failed trial (default: True; ``vote=True`` needs False, its
            default there).
        vote: The inference-time self-consistency variant (see the module docstring).
        attempt_steps: R sees only the last this many steps of a trial (``None``: all of them).
        reflector_llm: R's model when it is not M's (a trained reflector); default ``llm``.
        **kwargs: Prompting options shared by M and R (examples, max_tokens, temperature, seed, style...).
    """

    @classmethod
    def accepted_options(cls) -> dict[str, inspect.Parameter]:
        """Its own options and those of the base methods (``base`` picks M's method)."""
        return base_method_options(cls)

    def __init__(
        self,
        llm: Any,
        *,
        base: str = "react",
        max_trials: int = 3,
        feedback: bool | None = None,
        vote: bool = False,
        attempt_steps: int | None = None,
        reflector_llm: Any = None,
        **kwargs: Any,
    ) -> None:
        """Create the policy (see the class docstring)."""
        super().__init__()
        if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
            raise ConfigError(f"max_trials: expected a positive int, got {max_trials!r}.")
        if vote and feedback:
            raise ConfigError(
                "RepairPolicy: vote=True is the test-time variant, whose reflector sees no env feedback (it reveals "
                "whether an answer is correct); expected feedback=False or unset, got feedback=True."
            )
        self.vote = bool(vote)
        self.feedback = not self.vote if feedback is None else bool(feedback)
        self.max_trials = max_trials
        self.llm = make_llm(llm)
        self.agent = _base_policy(self.llm, base, dict(kwargs))
        if self.vote and max_trials > 2 and self.agent.params.temperature <= 0:
            raise ConfigError(
                "RepairPolicy: vote=True with max_trials > 2 votes over several samples of M, which are copies of "
                "each other at temperature 0; expected temperature > 0 (and a seed, for reproducible samples)."
            )
        r_kwargs = dict(kwargs, thoughts=False) if base == "act" else dict(kwargs)
        r_llm = self.llm if reflector_llm is None else make_llm(reflector_llm)
        self.reflector = ClosedLoopReflector(r_llm, feedback=self.feedback, attempt_steps=attempt_steps, **r_kwargs)
        name = "repair" if base == "react" else f"repair-{base}"
        self.name = name + ("-vote" if self.vote else "" if self.feedback else "-nofeedback")

    # ------------------------------------------------------------------------------------------ trials
    def role(self, trial: int) -> str:
        """Who acts in trial ``trial``: ``"agent"`` (M), ``"reflector"`` (R) or ``"vote"`` (the majority answer).

        Example:
            >>> from toolgym.agents.llm.scripted import ScriptedLLM
            >>> p = RepairPolicy(ScriptedLLM(["x"]), max_trials=3, vote=True, temperature=0.7)
            >>> [p.role(t) for t in range(4)]
            ['agent', 'reflector', 'agent', 'vote']
        """
        if not self.vote:
            return "agent" if trial == 0 else "reflector"
        if trial >= self.max_trials:
            return "vote"
        return "reflector" if trial % 2 else "agent"

    def answers(self, slot: int = 0) -> list[str]:
        """The answer actions M and R proposed in ``slot``'s episode so far (``vote=True``)."""
        return list(self.episode(slot).get("answers", []))

    def reset(self, observation: Any, info: Mapping[str, Any], *, env: gym.Env | None = None, slot: int = 0) -> None:
        """Start a trial: M on the first, R (with the previous trial) or the vote on the next ones.

        Raises:
            ConfigError: ``vote=True`` on an env without an answer action.
        """
        trial = int(info.get("trial", 0) or 0)
        state = self.episode(slot)
        keep = {k: state[k] for k in ("answers", "attempt") if k in state} if trial > 0 else {}
        super().reset(observation, info, env=env, slot=slot)
        state = self.episode(slot)
        adapter = EnvAdapter.from_env(env) if env is not None else _default_adapter()
        if self.vote and not adapter.has_answer_action:
            raise ConfigError(
                "RepairPolicy: vote=True submits the majority answer, so it needs an env with an answer action "
                "(finish[...], answer[...], Submit); this env has none."
            )
        role = self.role(trial)
        state.update(keep, trial=trial, role=role, adapter=adapter)
        state.setdefault("answers", [])
        if role == "agent":
            self.agent.reset(observation, info, env=env, slot=slot)
        elif role == "reflector":
            self.reflector.start(state["attempt"], observation, info, env=env, slot=slot)

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """The next action of one episode."""
        return self.act_batch([observation], [info], slots=[slot])[0]

    def act_batch(
        self, observations: Sequence[Any], infos: Sequence[Mapping[str, Any]], *, slots: Sequence[int] | None = None
    ) -> list[str]:
        """The next actions: M's and R's episodes each in one batched call; a vote trial submits its majority."""
        slots = _check_batch(observations, infos, slots)
        out: list[str] = [""] * len(slots)
        roles = [self.episode(s)["role"] for s in slots]
        for role, policy in (("agent", self.agent), ("reflector", self.reflector)):
            ks = [k for k, r in enumerate(roles) if r == role]
            act_into(out, policy.act_batch, ks, observations, infos, slots)
        for k, r in enumerate(roles):
            if r == "vote":
                out[k] = self._majority(slots[k])
        return out

    def _majority(self, slot: int) -> AgentAction:
        state = self.episode(slot)
        answers: list[str] = state["answers"]
        adapter: EnvAdapter = state["adapter"]
        keys = [adapter.vote_key(a) for a in answers]
        best, votes = max(Counter(keys).items(), key=lambda kv: (kv[1], -keys.index(kv[0])))
        # the tally goes to raw (never trained on), not into a thought
        return AgentAction(answers[keys.index(best)], raw=f"[vote: {votes} of {len(answers)} answers]")

    def end_episodes(
        self, trajectories: Sequence[Trajectory], infos: Sequence[Mapping[str, Any]], slots: Sequence[int]
    ) -> list[bool]:
        """After trials end: hand a failed trial to R (``vote=True``: every trial, blind) and ask for another."""
        retry = []
        for traj, slot in zip(trajectories, slots):
            state = self.episode(slot)
            trial = int(state.get("trial", 0))
            if not self.vote:
                again = not traj.success and trial + 1 < self.max_trials
                if again:
                    state["attempt"] = Attempt.of(traj)
                retry.append(again)
                continue
            if state["role"] == "vote":
                retry.append(False)
                continue
            answer = self._answer(state["adapter"], traj)
            if answer is not None:
                state["answers"].append(answer)
            if self.role(trial + 1) == "reflector":
                state["attempt"] = Attempt(blind_attempt(traj), "")
            retry.append(self.role(trial + 1) != "vote" or bool(state["answers"]))
        return retry

    @staticmethod
    def _answer(adapter: EnvAdapter, trajectory: Trajectory) -> str | None:
        """The answer action that ended ``trajectory`` (``None`` when it ended otherwise)."""
        if not trajectory.steps or not trajectory.steps[-1].terminated:
            return None
        action = trajectory.steps[-1].action
        return action if adapter.answer_of(action) is not None else None
