"""Reflectors: look at a failed attempt and say how to do better (Reflexion) or repair it (Re-ReST).

* :class:`VerbalReflector` (Reflexion): given the task, the failed trajectory and the env's feedback, the
  model writes a short diagnosis and a new high-level plan; the next trial gets it in its prompt.
* :class:`RepairReflector` (Re-ReST's R): the model sees the failed trial and the feedback, writes a
  reflection (primed with ``Reflection: I should have``) and then a corrected trajectory; its actions are
  re-executed in the env by :func:`repair` (the model's imagined observations are discarded), so a repaired
  trajectory is only kept when the env confirms it. ``style="alpaca"`` is the format of a reflector
  fine-tuned on (failed trial → successful trial) pairs.

Both batch: :meth:`reflect_batch` sends all prompts in one ``generate`` call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from toolgym.agents.base import LLM, Completion, Reflection, SamplingParams, observation_text
from toolgym.agents.llm import make_llm
from toolgym.agents.prompting.fewshot import parse_react_examples
from toolgym.agents.prompting.policy import ALPACA_HEADER
from toolgym.error import ConfigError
from toolgym.records import Step, Trajectory, to_jsonable
from toolgym.registry import family_of

__all__ = [
    "REFLECTION_EXAMPLES",
    "RepairReflector",
    "VerbalReflector",
    "reflection_examples",
    "render_attempt",
    "repair",
]

_REFLECT_LEAD = (
    "You are an agent that improves by reflecting on its mistakes. Below is a previous trial in which you tried to "
    "solve a task and failed, either because the final answer was wrong or because you ran out of steps. In a few "
    "sentences, diagnose a possible reason for the failure and devise a new, concise, high-level plan that avoids "
    "it. Use complete sentences."
)

#: A worked (failed trial -> reflection) example for :class:`VerbalReflector` on a tool-using arithmetic env.
REFLECTION_EXAMPLE = (
    "Previous trial:\n"
    "Question: What is 9696 × 455?\n"
    "Thought 1: 9696 × 455 is about 9700 × 450, so roughly 4,365,000.\n"
    "Action 1: finish[4365000]\n"
    "Observation 1: Episode finished, reward = False\n"
    "Feedback: The answer 4365000 is incorrect.\n"
    "Reflection: I estimated a product of large numbers instead of computing it exactly, and the estimate was "
    "wrong. Next time I will use the calculator for multiplications of large numbers and submit its exact result."
)

#: Worked reflection examples per env family (``env.unwrapped.family``). Their tasks are invented for the
#: prompt (no env generates them), so they cannot be an evaluated task.
REFLECTION_EXAMPLES: dict[str, tuple[str, ...]] = {
    "tools": (REFLECTION_EXAMPLE,),
    "search": (
        "Previous trial:\n"
        "Question: In which city was the architect of the Orvane Lighthouse born?\n"
        "Thought 1: I need to search Orvane Lighthouse.\n"
        "Action 1: search[Orvane Lighthouse]\n"
        "Observation 1: The Orvane Lighthouse is a tower on the coast of Medrin, designed by the architect "
        "Talis Brenk and completed in 1871.\n"
        "Thought 2: The lighthouse is on the coast of Medrin, so the answer is Medrin.\n"
        "Action 2: finish[Medrin]\n"
        "Observation 2: Episode finished, reward = False\n"
        "Feedback: The answer 'Medrin' is incorrect.\n"
        "Reflection: I answered with where the lighthouse stands, but the question asks where its architect was "
        "born, which needs a second page. Next time I will search the lighthouse, read the architect's name "
        "(Talis Brenk), search that name, and answer with the city of birth given on the architect's page.",
    ),
    "household": (
        "Previous trial:\n"
        "Question: Your task is to: put a clean mug in coffeemachine.\n"
        "Action 1: go to countertop 1\n"
        "Observation 1: On the countertop 1, you see a mug 1.\n"
        "Action 2: take mug 1 from countertop 1\n"
        "Observation 2: You pick up the mug 1 from the countertop 1.\n"
        "Action 3: go to coffeemachine 1\n"
        "Observation 3: You arrive at coffeemachine 1. On the coffeemachine 1, you see nothing.\n"
        "Action 4: put mug 1 in/on coffeemachine 1\n"
        "Observation 4: You put the mug 1 in/on the coffeemachine 1.\n"
        "Feedback: The step limit was reached before the task was done.\n"
        "Reflection: The task asks for a clean mug, and I put the mug in the coffeemachine without cleaning it. "
        "Next time, after I take the mug, I will go to sinkbasin 1, clean mug 1 with sinkbasin 1, and only then "
        "go to the coffeemachine and put it there.",
    ),
    "code": (
        "Previous trial:\n"
        "Question: Write a function second_largest(xs) that returns the second largest distinct value of a list, "
        "or None when there is none.\n"
        "Action 1: submit[def second_largest(xs):\n    return sorted(xs)[-2]]\n"
        "Observation 1: Submitted. Hidden tests passed: 2/5.\n"
        "Feedback: The submission passed 2 of 5 hidden tests.\n"
        "Reflection: I did not handle repeated values or lists with fewer than two distinct values, and I "
        "submitted without testing. Next time I will take the sorted set of the values, return None when it has "
        "fewer than two elements, and run my own checks on such cases before I submit.",
    ),
    "vqa": (
        "Previous trial:\n"
        "Question: How many red circles are in the image?\n"
        "Action 1: finish[3]\n"
        "Observation 1: Episode finished, reward = False\n"
        "Feedback: The answer '3' is incorrect.\n"
        "Reflection: I counted every circle, whatever its colour, without looking at the objects. Next time I "
        "will list the objects with the tool, keep only those that are both red and circles, and count them.",
    ),
}


def reflection_examples(env_id: str) -> list[str]:
    """The worked reflection examples for the env registered as ``env_id`` (by its family).

    Envs that are not toolgym's, or of a family without its own examples, get :data:`REFLECTION_EXAMPLE`.

    Example:
        >>> import toolgym
        >>> "architect" in reflection_examples("toolgym/MultiHop-v0")[0]
        True
    """
    return list(REFLECTION_EXAMPLES.get(family_of(env_id), (REFLECTION_EXAMPLE,)))


def _usage(completions: Sequence[Completion]) -> dict[str, float]:
    return {
        "prompt_tokens": sum(c.prompt_tokens for c in completions),
        "completion_tokens": sum(c.completion_tokens for c in completions),
        "llm_s": max((c.latency_s for c in completions), default=0.0),
    }


def render_attempt(task: str, trajectory: Trajectory, *, numbered: bool = True) -> str:
    """A failed attempt as ReAct text (``Question:`` then the steps).

    Example:
        >>> t = Trajectory("e", "t", "What is 2+2?", (Step("finish[5]", "Episode finished, reward = False"),))
        >>> print(render_attempt("What is 2+2?", t))
        Question: What is 2+2?
        Action 1: finish[5]
        Observation 1: Episode finished, reward = False
    """
    question = task.strip() or trajectory.question
    body = Trajectory(trajectory.env_id, trajectory.task_id, question, trajectory.steps)
    return body.to_react_text(numbered=numbered)


class _PromptedReflector:
    """What the prompted reflectors share: one batched model call over their prompts."""

    llm: LLM
    params: SamplingParams

    def prompt(self, task: str, trajectory: Trajectory, feedback: str) -> str:
        """The reflection prompt of one failed attempt."""
        raise NotImplementedError

    def _reflection(self, task: str, trajectory: Trajectory, completion: Completion) -> Reflection:
        """Turn the model's completion into a :class:`Reflection`."""
        raise NotImplementedError

    def reflect(self, task: str, trajectory: Trajectory, feedback: str) -> Reflection:
        """Reflect on one failed attempt."""
        return self.reflect_batch([task], [trajectory], [feedback])[0]

    def reflect_batch(
        self, tasks: Sequence[str], trajectories: Sequence[Trajectory], feedbacks: Sequence[str]
    ) -> list[Reflection]:
        """Reflect on several attempts with one batched model call."""
        if not (len(tasks) == len(trajectories) == len(feedbacks)):
            raise ConfigError("reflect_batch: expected as many tasks, trajectories and feedbacks.")
        if not tasks:
            return []
        prompts = [self.prompt(t, tr, f) for t, tr, f in zip(tasks, trajectories, feedbacks)]
        outs = self.llm.generate(prompts, self.params)
        return [self._reflection(t, tr, c) for t, tr, c in zip(tasks, trajectories, outs)]


_END_OF_EXAMPLES = "(END OF EXAMPLES)"


class VerbalReflector(_PromptedReflector):
    """Reflexion's self-reflection: a diagnosis and a new plan, in a few sentences.

    Args:
        llm: The model (an :class:`~toolgym.agents.base.LLM` or a spec for :func:`~toolgym.agents.make_llm`).
        examples: Worked (trial → reflection) examples put in the prompt (default: those of the failed
            trajectory's env family, :func:`reflection_examples`).
        max_tokens: New tokens per reflection (Reflexion used 250).
        temperature: Sampling temperature (Reflexion used 0).
    """

    def __init__(
        self, llm: Any, *, examples: Sequence[str] | None = None, max_tokens: int = 250, temperature: float = 0.0
    ) -> None:
        """Create the reflector (see the class docstring)."""
        self.llm = make_llm(llm)
        self.examples = list(examples) if examples is not None else None
        self.params = SamplingParams(
            max_tokens=max_tokens,
            temperature=temperature,
            stop=("\nPrevious trial:", "\nQuestion:", _END_OF_EXAMPLES),
        )

    def prompt(self, task: str, trajectory: Trajectory, feedback: str) -> str:
        """The reflection prompt of one attempt."""
        parts = [_REFLECT_LEAD]
        examples = self.examples if self.examples is not None else reflection_examples(trajectory.env_id)
        if examples:
            parts.append("Here are some examples:\n" + "\n\n".join(examples) + "\n" + _END_OF_EXAMPLES)
        attempt = render_attempt(task, trajectory)
        parts.append(f"Previous trial:\n{attempt}\nFeedback: {feedback.strip() or 'The task was not solved.'}")
        return "\n\n".join(parts) + "\nReflection:"

    def _reflection(self, task: str, trajectory: Trajectory, completion: Completion) -> Reflection:
        text = completion.text.split(_END_OF_EXAMPLES, 1)[0]  # a backend without stop strings
        return Reflection(text=text.strip(), usage=_usage([completion]))


_TRIAL_START = re.compile(r"\n\s*(?:Thought|Action)\s*1\s*:", re.IGNORECASE)


class RepairReflector(_PromptedReflector):
    """Re-ReST's reflector: reflect on a failed trial, then write a corrected trajectory.

    ``style="text"`` (prompted): the env's instructions, optional worked examples (ReAct text), then
    ``Question: ...``, ``Previous Trial:`` with the failed steps, ``Feedback: ...`` and ``Reflection: I should
    have``; the model completes the reflection and then writes ``Thought 1: ... Action 1: ...``.
    ``style="alpaca"`` (a fine-tuned reflector): Alpaca header, the question and the previous trial as the
    instruction, and the corrected trajectory (un-numbered) as the response.

    Args:
        llm: The model.
        instructions: What the agent can do (e.g. ``env.unwrapped.instructions()``).
        examples: Worked examples (ReAct text) for the prompted style.
        style: ``"text"`` or ``"alpaca"``.
        max_tokens: New tokens per repair.
        temperature: Sampling temperature.
    """

    def __init__(
        self,
        llm: Any,
        *,
        instructions: str = "",
        examples: Sequence[str] = (),
        style: str = "text",
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> None:
        """Create the reflector (see the class docstring)."""
        if style not in ("text", "alpaca"):
            raise ConfigError(f"RepairReflector.style: expected 'text' or 'alpaca', got {style!r}.")
        self.llm = make_llm(llm)
        self.instructions = instructions
        self.examples = list(examples)
        self.style = style
        self.params = SamplingParams(
            max_tokens=max_tokens, temperature=temperature, stop=("\nQuestion:", _END_OF_EXAMPLES)
        )

    def prompt(self, task: str, trajectory: Trajectory, feedback: str) -> str:
        """The repair prompt of one attempt."""
        question = task.strip() or trajectory.question
        if self.style == "alpaca":
            attempt = render_attempt(question, trajectory, numbered=False).split("\n", 1)
            previous = attempt[1] if len(attempt) > 1 else ""
            instruction = f"{question}\nPrevious Trial:\n{previous}"
            if feedback.strip():
                instruction += f"\nFeedback: {feedback.strip()}"
            return f"{ALPACA_HEADER}\n\n### Instruction:\n{instruction}\n\n### Response:\n"
        parts = []
        if self.instructions:
            parts.append(self.instructions.strip())
        if self.examples:
            parts.append("Here are some examples.\n" + "\n".join(self.examples) + "\n" + _END_OF_EXAMPLES)
        attempt = render_attempt(question, trajectory).split("\n", 1)
        previous = attempt[1] if len(attempt) > 1 else "(no steps)"
        parts.append(
            f"Question: {question}\nPrevious Trial:\n{previous}\n"
            f"Feedback: {feedback.strip() or 'The task was not solved.'}\nReflection: I should have"
        )
        return "\n".join(parts)

    def _parse(self, task: str, completion: Completion) -> Reflection:
        text = completion.text.split(_END_OF_EXAMPLES, 1)[0]  # a backend without stop strings
        if self.style == "alpaca":
            reflection, body = "", text
        else:
            m = _TRIAL_START.search("\n" + text)
            if m is None:
                text = ("I should have " + text.strip()).strip()
                return Reflection(text=text, actions=(), thoughts=(), usage=_usage([completion]))
            cut = max(m.start() - 1, 0)
            reflection, body = "I should have " + text[:cut].strip(), text[cut:]
        parsed = parse_react_examples(f"Question: {task}\n{body}")
        steps = parsed[0].steps if parsed else ()
        return Reflection(
            text=reflection.strip(),
            actions=tuple(a for _, a, _ in steps),
            thoughts=tuple(t for t, _, _ in steps),
            usage=_usage([completion]),
        )

    def _reflection(self, task: str, trajectory: Trajectory, completion: Completion) -> Reflection:
        return self._parse(task.strip() or trajectory.question, completion)


def repair(
    env: gym.Env,
    reflection: Reflection,
    *,
    task_id: str,
    seed: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> Trajectory | None:
    """Re-execute a reflector's repaired actions in the env, on the same task.

    Args:
        env: The environment (reset here to ``task_id``).
        reflection: A :class:`~toolgym.agents.base.Reflection` with ``actions``.
        task_id: The task of the failed attempt.
        seed: The reset seed.
        metadata: Stored in the trajectory (``reflection`` text is added).

    Returns:
        The repaired trajectory with the env's real observations (check ``.success``), or ``None`` when the
        reflection has no actions.
    """
    if not reflection.actions:
        return None
    obs, info = env.reset(seed=seed, options={"task_id": task_id})
    question = observation_text(obs).strip()
    if question.lower().startswith("question:"):
        question = question[len("question:") :].strip()
    spec = getattr(env, "spec", None)
    traj = Trajectory(
        env_id=str(getattr(spec, "id", "") or type(env.unwrapped).__name__),
        task_id=str(info.get("task_id", task_id)),
        question=question,
        metadata={**(metadata or {}), "reflection": reflection.text, "repaired": True},
    )
    thoughts = reflection.thoughts or (None,) * len(reflection.actions)
    for action, thought in zip(reflection.actions, thoughts):
        obs, reward, terminated, truncated, info = env.step(action)
        traj = traj.with_step(
            Step(
                action=action,
                observation=observation_text(obs),
                reward=float(reward),
                terminated=bool(terminated),
                truncated=bool(truncated),
                thought=thought,
                cost=float(info.get("cost", 0.0)),
                tool_calls=tuple(to_jsonable(info.get("tool_calls", ()))),
                invalid_action=bool(info.get("invalid_action", False)),
                info=to_jsonable({k: info[k] for k in ("step", "success", "score", "feedback") if k in info}),
            )
        )
        if terminated or truncated:
            break
    return traj
