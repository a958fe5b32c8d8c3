"""Training text from a policy's own prompts: what it sends at inference is what it is trained on.

:func:`training_segments` replays a :class:`~toolgym.records.Trajectory` through a ReAct-family policy
(ReAct, Act, FireAct's Alpaca format, chat, ALFWorld transcripts): it resets the policy on the trajectory's
question, and after each step asks the policy for the prompt it would send next, exactly as during a rollout
(:meth:`~toolgym.agents.prompting.policy.LLMPolicy._prompt`). Each prompt extends the previous one; the
text between two prompts is what the model wrote (its thought and action, then the stop marker that ended its
completion, e.g. ``\\nObservation``) followed by what the environment answered. The first part is *trained*
(the loss sees it), the rest is context. So by construction every prompt the policy sends is a prefix of the
training text, and the supervised tokens are exactly the agent's.

Chat prompts are rendered by the model's chat template (``render=``, e.g. ``HFLLM.render``); an assistant
turn is trained with the template's end-of-turn text after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from toolgym.agents.base import AgentAction
from toolgym.error import ConfigError
from toolgym.records import Trajectory

__all__ = ["Segment", "training_segments", "training_text"]

#: The slot a replay uses (far from the rollout engine's 0..num_envs-1).
_REPLAY_SLOT = -7_000_001


@dataclass(frozen=True)
class Segment:
    """A piece of training text.

    Attributes:
        text: The text.
        trained: Whether the agent wrote it (the loss is computed on these tokens only).
    """

    text: str
    trained: bool


def training_text(segments: Sequence[Segment]) -> str:
    """The whole text of ``segments``."""
    return "".join(s.text for s in segments)


def _replay_prompts(policy: Any, trajectory: Trajectory, env: Any, slot: int) -> list[Any]:
    """The prompts the policy would send before each step of ``trajectory``, and after its last step."""
    info = {"task_id": trajectory.task_id, "trial": 0, "reset_seed": trajectory.metadata.get("seed")}
    policy.reset(trajectory.question, info, env=env, slot=slot)
    prompts = []
    for step in trajectory.steps:
        prompts.append(policy._prompt(slot))
        policy._commit(slot, AgentAction(step.action, thought=step.thought))
        policy._observe(slot, step.observation)
    prompts.append(policy._prompt(slot))
    return prompts


def _assistant_suffix(render: Callable[[Any], str]) -> str:
    """The text a chat template puts after an assistant message's content (its end of turn)."""
    mine, theirs = "\x01toolgym-assistant\x01", "\x01toolgym-user\x01"
    text = render(
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": mine}, {"role": "user", "content": theirs}]
    )
    after = text[text.index(mine) + len(mine) :]
    alone = render([{"role": "user", "content": theirs}])
    header = alone[: alone.index(theirs)]  # what opens a user turn (perhaps after a BOS or a default system turn)
    for i in range(len(header)):
        at = after.find(header[i:])
        if at >= 0:
            return after[:at]
    return after[: after.index(theirs)]


def training_segments(
    policy: Any,
    trajectory: Trajectory,
    *,
    env: Any = None,
    render: Callable[[Any], str] | None = None,
) -> list[Segment]:
    """The training text of ``trajectory`` in ``policy``'s format, split into agent and context segments.

    Args:
        policy: A ReAct-family policy (``make_policy("react" | "act" | "fireact", ...)``); its examples,
            instructions and style shape the prompt as at inference.
        trajectory: The episode to render (its steps' thoughts and actions become the trained text).
        env: The env the policy would run in (for few-shot examples and the family's format); ``None`` gives
            the format of an env without examples.
        render: For chat-style policies: turns a message list into the model's text (``HFLLM.render``).

    Returns:
        Segments in order, starting with the first prompt (context) and ending with the agent's last
        completion; the agent's segments include the stop marker that ends each completion.

    Raises:
        ConfigError: The policy cannot render this trajectory the way it prompts (e.g. a step without a thought
            for a policy that writes thoughts, or a chat template whose prompts do not extend each other).
    """
    from toolgym.agents.prompting.react import ReActPolicy

    if not isinstance(policy, ReActPolicy):
        raise ConfigError(
            f"training_segments: expected a ReAct-family LLM policy (react, act, fireact), got "
            f"{type(policy).__name__}. Render CoT data as one-step ReAct trajectories (thought = reasoning, "
            "action = finish[answer]), as FireAct does."
        )
    if not trajectory.steps:
        raise ConfigError(f"training_segments: trajectory {trajectory.task_id!r} has no steps to train on.")
    slot = _REPLAY_SLOT
    try:
        prompts = _replay_prompts(policy, trajectory, env, slot)
        stops = tuple(policy._stop(slot))
    finally:
        policy._episodes.pop(slot, None)
    chat = not isinstance(prompts[0], str)
    suffix = ""
    if chat:
        if render is None:
            raise ConfigError("training_segments: a chat-style policy needs render= (e.g. the model's HFLLM.render).")
        prompts = [render(p) for p in prompts]
        suffix = _assistant_suffix(render)
    segments = [Segment(prompts[0], False)]
    for k, step in enumerate(trajectory.steps):
        before, after = prompts[k], prompts[k + 1]
        if not after.startswith(before):
            raise ConfigError(
                f"training_segments: step {k + 1} of {trajectory.task_id!r}: the policy's next prompt does not "
                f"extend its previous one (at {before[-60:]!r}), so no training text can match its prompts. "
                + (
                    "A step without a thought cannot follow a 'Thought:' cue: use an Act policy (thoughts=False) "
                    "or give every step a thought."
                    if not step.thought
                    else "The chat template re-renders earlier turns; use the text or alpaca style."
                )
            )
        delta = after[len(before) :]
        if chat:
            head = len(delta) - len(delta.lstrip())
            content_end = _content_end(delta, head, step)
            cut = content_end + len(suffix) if delta.startswith(suffix, content_end) else content_end
        else:
            hits = [(delta.find(s), s) for s in stops if delta.find(s) >= 0]
            if not hits:
                raise ConfigError(
                    f"training_segments: step {k + 1}: no stop marker {stops} after the action in {delta[:80]!r}."
                )
            at, stop = min(hits)
            cut = at + len(stop)
        segments.append(Segment(delta[:cut], True))
        if k + 1 < len(trajectory.steps):
            segments.append(Segment(delta[cut:], False))
    return [s for s in segments if s.text]


def _content_end(delta: str, start: int, step: Any) -> int:
    """Where the assistant's content of ``step`` ends in a chat delta."""
    action = step.action.strip()
    at = delta.find(action, start)
    if at < 0:
        raise ConfigError(f"training_segments: the chat template did not render the action {action!r}.")
    return at + len(action)
