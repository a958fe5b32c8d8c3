"""Token-exact trajectories: the ids a model read and wrote at every step, and the training tensors made from them.

The commonest bug of multi-turn RL stacks is *token drift*: the trainer re-renders the conversation as text and
tokenises it again, and gets ids that differ from the ones the model sampled (a word the model wrote as two
tokens comes back as one; a chat template re-renders an earlier turn; a separator between the assistant's text
and the tool's answer is dropped). The log-probabilities are then computed for a sequence the model never
produced. Here a :class:`TokenTrajectory` keeps, per step, the prompt ids the model was given, the ids it
generated and the ids of the context the environment added after them, so :meth:`TokenTrajectory.to_tensors`
builds ``input_ids`` and a loss mask without touching text; :func:`drift_report` compares those ids with what
re-rendering through :func:`~toolgym.agents.prompting.training.training_segments` and
:func:`~toolgym.algorithms.sft.encode_segments` would give, and says where they part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DriftReport", "TokenStep", "TokenTrajectory", "chat_template_drift", "drift_report"]


@dataclass(frozen=True)
class TokenStep:
    """One step of a token-exact trajectory.

    Attributes:
        prompt_ids: Every id the model was conditioned on at this step (the first prompt, then all earlier
            steps' completion and context ids), exactly as fed to it.
        completion_ids: The ids the model generated at this step (through the token that completed a stop marker,
            or EOS, or the token limit).
        context_ids: The ids appended after the completion before the next step (the environment's answer and
            the next cue, e.g. ``": 6\\nAction:"``); empty after the last step.
        text: The completion decoded.
        action: The action the env received.
        reward: The env's reward of this step (tool costs included).
        observation: What the env answered.
        drift: Empty when the policy's next prompt extends ``prompt text + completion text`` as recorded; else
            what differed (the ids stay the model's; the context is the policy's rendering of what follows).
    """

    prompt_ids: tuple[int, ...]
    completion_ids: tuple[int, ...]
    context_ids: tuple[int, ...] = ()
    text: str = ""
    action: str = ""
    reward: float = 0.0
    drift: str = ""
    observation: str = ""


@dataclass(frozen=True)
class TokenTrajectory:
    """A multi-turn episode as token ids.

    Attributes:
        task_id: The env's task.
        steps: The steps in order (``steps[k+1].prompt_ids == steps[k].prompt_ids + completion + context``).
        episode_return: The sum of the env's rewards (tool costs included).
        success: ``info["success"]`` at the end.
        metadata: Free-form (env id, seed...).
    """

    task_id: str
    steps: tuple[TokenStep, ...]
    episode_return: float = 0.0
    success: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_ids(self) -> list[int]:
        """The first prompt's ids."""
        return list(self.steps[0].prompt_ids) if self.steps else []

    def completion(self) -> tuple[list[int], list[int]]:
        """Everything after the first prompt, and its mask: 1 on the model's ids, 0 on the env's context."""
        ids: list[int] = []
        mask: list[int] = []
        for s in self.steps:
            ids += s.completion_ids
            mask += [1] * len(s.completion_ids)
            ids += s.context_ids
            mask += [0] * len(s.context_ids)
        return ids, mask

    def to_tensors(self, ignore_index: int = -100) -> dict[str, list[int]]:
        """``input_ids`` and ``labels`` for a causal-LM loss on the model's own tokens only (no text involved)."""
        comp, mask = self.completion()
        ids = self.prompt_ids + comp
        labels = [ignore_index] * len(self.prompt_ids) + [t if m else ignore_index for t, m in zip(comp, mask)]
        return {"input_ids": ids, "labels": labels}

    def check(self) -> None:
        """Raise ``ValueError`` unless each step's prompt is the previous prompt plus its completion and context."""
        for k in range(1, len(self.steps)):
            prev, cur = self.steps[k - 1], self.steps[k]
            if cur.prompt_ids != prev.prompt_ids + prev.completion_ids + prev.context_ids:
                raise ValueError(
                    f"TokenTrajectory {self.task_id!r}: expected step {k}'s prompt to extend step {k - 1}'s prompt "
                    "with its completion and context, got other ids; record the ids the model was fed."
                )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    def to_trajectory(self, env_id: str, question: str) -> Any:
        """The episode as a text :class:`~toolgym.records.Trajectory` (to re-render it and compare)."""
        from toolgym.records import Step, Trajectory

        steps = tuple(
            Step(
                action=s.action,
                observation=s.observation,
                reward=s.reward,
                terminated=k == len(self.steps) - 1 and self.success,
                truncated=False,
            )
            for k, s in enumerate(self.steps)
        )
        return Trajectory(env_id, self.task_id, question, steps, self.success, float(self.success), {})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TokenTrajectory:
        """Inverse of :meth:`to_dict`."""
        steps = tuple(
            TokenStep(
                **{
                    **s,
                    "prompt_ids": tuple(s["prompt_ids"]),
                    "completion_ids": tuple(s["completion_ids"]),
                    "context_ids": tuple(s.get("context_ids", ())),
                }
            )
            for s in d["steps"]
        )
        return cls(d["task_id"], steps, float(d["episode_return"]), bool(d["success"]), dict(d.get("metadata", {})))


@dataclass(frozen=True)
class DriftReport:
    """Where recorded ids and re-rendered ids agree or part.

    Attributes:
        agree: The whole ``input_ids`` and the trained positions match.
        first_mismatch: The first position where the ids differ (``None`` when they agree).
        recorded_len: Length of the recorded sequence.
        rendered_len: Length of the re-rendered one.
        detail: The two texts around the first mismatch, for a human.
    """

    agree: bool
    first_mismatch: int | None
    recorded_len: int
    rendered_len: int
    detail: str = ""


def drift_report(recorded: dict[str, list[int]], rendered: dict[str, list[int]] | None, tokenizer: Any) -> DriftReport:
    """Compare token-exact tensors with re-rendered ones (``encode_segments`` of ``training_segments``).

    Args:
        recorded: :meth:`TokenTrajectory.to_tensors`.
        rendered: ``encode_segments(training_segments(policy, trajectory), tokenizer)``.
        tokenizer: For the human-readable detail.

    Returns:
        The report; ``agree`` only when ids and trained positions are identical.
    """
    if rendered is None:
        return DriftReport(False, 0, len(recorded["input_ids"]), 0, "the re-rendered example was dropped (too long)")
    a, b = recorded["input_ids"], rendered["input_ids"]
    la = [x != -100 for x in recorded["labels"]]
    lb = [x != -100 for x in rendered["labels"]]
    first = next((i for i, (x, y, p, q) in enumerate(zip(a, b, la, lb)) if x != y or p != q), None)
    if first is None and len(a) != len(b):
        first = min(len(a), len(b))
    if first is None:
        return DriftReport(True, None, len(a), len(b))
    lo = max(0, first - 4)
    detail = (
        f"recorded {tokenizer.convert_ids_to_tokens(a[lo : first + 4])} vs "
        f"re-rendered {tokenizer.convert_ids_to_tokens(b[lo : first + 4])}"
    )
    return DriftReport(False, first, len(a), len(b), detail)


def chat_template_drift(tokenizer: Any, messages: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
    """Where a chat template's incremental rendering differs from rendering the whole conversation at once.

    A multi-turn rollout feeds the model ``render(messages[:k], add_generation_prompt=True)`` and appends what
    it generates; a trainer that re-renders ``render(messages)`` trains on the same ids only when every such
    prompt, followed by the assistant's content, is a prefix of the full rendering. Templates that rewrite
    earlier turns (dropping reasoning, re-numbering) fail here.

    Args:
        tokenizer: A tokenizer with a chat template.
        messages: A conversation (user / assistant / tool turns).

    Returns:
        One entry per assistant turn that drifts: ``{"turn", "expected_prefix", "got"}`` (texts, cut short);
        empty when the template is prefix-preserving for this conversation.
    """
    full = tokenizer.apply_chat_template(list(messages), tokenize=False)
    out = []
    for k, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prompt = tokenizer.apply_chat_template(list(messages[:k]), tokenize=False, add_generation_prompt=True)
        want = prompt + m["content"]
        if not full.startswith(want):
            at = next((i for i, (x, y) in enumerate(zip(want, full)) if x != y), min(len(want), len(full)))
            out.append(
                {"turn": k, "expected_prefix": want[max(0, at - 40) : at + 40], "got": full[max(0, at - 40) : at + 40]}
            )
    return out
