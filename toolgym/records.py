"""Records of what happened: :class:`Step`, :class:`Trajectory` and :class:`EpisodeResult`.

All three are frozen dataclasses that round-trip through JSON (``to_dict``/``from_dict``) and JSON lines
(:func:`append_jsonl`, :func:`read_jsonl`; :func:`iter_jsonl` reads any JSON-lines file). A trajectory renders
to the three training formats the literature uses:

* the ReAct text format (``Thought: / Action: / Observation:``, numbered as in ReAct or un-numbered as in
  FireAct) - :meth:`Trajectory.to_react_text`;
* OpenAI chat messages (FireAct's ``gpt`` format: user question, assistant thought+action, user
  observation, ...) - :meth:`Trajectory.to_chat_messages`;
* the Alpaca instruction format (``{"instruction", "input", "output"}``) - :meth:`Trajectory.to_alpaca`.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from toolgym.error import ConfigError

__all__ = ["EpisodeResult", "Step", "Trajectory", "append_jsonl", "iter_jsonl", "read_jsonl", "to_jsonable"]

logger = logging.getLogger(__name__)

R = TypeVar("R", "Step", "Trajectory", "EpisodeResult")


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, tuples, sets and dataclasses into plain JSON values."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if hasattr(value, "__dataclass_fields__"):
        return to_jsonable(asdict(value))
    return repr(value)


@dataclass(frozen=True)
class Step:
    """One environment step.

    Attributes:
        action: The action text sent to the environment.
        observation: The observation that came back, as text.
        reward: The step's reward (task reward minus weighted tool cost minus penalties).
        terminated: Whether the task ended.
        truncated: Whether the step limit ended the episode.
        thought: The agent's reasoning before the action, if any.
        cost: The step's unweighted tool cost.
        tool_calls: The step's priced tool calls (``ToolCall.to_dict()`` records).
        invalid_action: Whether the action did not parse or could not be carried out.
        info: Other JSON-ready details (e.g. ``success``, ``score``, ``feedback``).
    """

    action: str
    observation: str
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    thought: str | None = None
    cost: float = 0.0
    tool_calls: tuple[Mapping[str, Any], ...] = ()
    invalid_action: bool = False
    info: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return to_jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Step:
        """Rebuild from :meth:`to_dict` output."""
        d = dict(d)
        d["tool_calls"] = tuple(d.get("tool_calls", ()))
        return cls(**_known(cls, d))


def _known(cls: type, d: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


@dataclass(frozen=True)
class Trajectory:
    """An episode as a sequence of steps, with the task it solved.

    Attributes:
        env_id: The registered id (e.g. ``"toolgym/MultiHop-v0"``).
        task_id: The task's id within the environment.
        question: The task as the agent first saw it (the reset observation's text).
        steps: The steps in order.
        success: Whether the task was solved (``info["success"]`` at the end).
        score: The task metric at the end (``info["score"]``).
        metadata: Anything else (policy name, seed, trial index...).
    """

    env_id: str
    task_id: str
    question: str
    steps: tuple[Step, ...] = ()
    success: bool = False
    score: float = 0.0
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def total_reward(self) -> float:
        """The undiscounted return."""
        return float(sum(s.reward for s in self.steps))

    @property
    def cost_total(self) -> float:
        """The sum of the steps' unweighted tool costs."""
        return float(sum(s.cost for s in self.steps))

    @property
    def done(self) -> bool:
        """Whether the last step ended the episode."""
        return bool(self.steps) and (self.steps[-1].terminated or self.steps[-1].truncated)

    def with_step(self, step: Step) -> Trajectory:
        """Return a copy with ``step`` appended and success/score taken from its info."""
        return replace(
            self,
            steps=(*self.steps, step),
            success=bool(step.info.get("success", self.success)),
            score=float(step.info.get("score", self.score)),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return to_jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Trajectory:
        """Rebuild from :meth:`to_dict` output."""
        d = dict(d)
        d["steps"] = tuple(Step.from_dict(s) for s in d.get("steps", ()))
        return cls(**_known(cls, d))

    def _turns(self) -> Iterator[tuple[str, str, str]]:
        for s in self.steps:
            yield (s.thought or "").strip(), s.action.strip(), s.observation.strip()

    def to_react_text(self, *, numbered: bool = True, include_question: bool = True) -> str:
        """Render in the ReAct format.

        Args:
            numbered: ``Thought 1:/Action 1:/Observation 1:`` as in ReAct's prompts (True), or un-numbered
                as in FireAct's fine-tuning data (False).
            include_question: Start with ``Question: ...``.

        Returns:
            The text, one ``Thought``/``Action``/``Observation`` line each per step (a step without a
            thought has no Thought line).

        Example:
            >>> t = Trajectory("e", "t", "What is 2+2?", (Step("finish[4]", "Episode finished, reward = True",
            ...     thought="It is 4."),))
            >>> print(t.to_react_text())
            Question: What is 2+2?
            Thought 1: It is 4.
            Action 1: finish[4]
            Observation 1: Episode finished, reward = True
        """
        lines = [f"Question: {self.question.strip()}"] if include_question else []
        for i, (thought, action, obs) in enumerate(self._turns(), start=1):
            n = f" {i}" if numbered else ""
            if thought:
                lines.append(f"Thought{n}: {thought}")
            lines.append(f"Action{n}: {action}")
            lines.append(f"Observation{n}: {obs}")
        return "\n".join(lines)

    def to_chat_messages(self, *, system: str | None = None) -> list[dict[str, str]]:
        """Render as OpenAI chat messages (FireAct's ``gpt`` fine-tuning format).

        Args:
            system: An optional system message placed first.

        Returns:
            ``[{"role": "user", "content": question}, {"role": "assistant", "content": "Thought: ...\\nAction:
            ..."}, {"role": "user", "content": "Observation: ..."}, ...]``.
        """
        msgs: list[dict[str, str]] = []
        if system:
            msgs.append({"role": "system", "content": system})
        msgs.append({"role": "user", "content": self.question.strip()})
        for thought, action, obs in self._turns():
            content = f"Thought: {thought}\nAction: {action}" if thought else f"Action: {action}"
            msgs.append({"role": "assistant", "content": content})
            msgs.append({"role": "user", "content": f"Observation: {obs}"})
        return msgs

    def to_alpaca(self) -> dict[str, str]:
        """Render in the Alpaca instruction format used by FireAct's LoRA fine-tuning.

        Returns:
            ``{"instruction": question, "input": "", "output": "Thought: ...\\nAction: ...\\nObservation: ...\\n..."}``.
        """
        out = self.to_react_text(numbered=False, include_question=False)
        return {"instruction": self.question.strip(), "input": "", "output": out + "\n" if out else ""}


@dataclass(frozen=True)
class EpisodeResult:
    """The summary of one episode, as a benchmark records it.

    Attributes:
        env_id: The registered id.
        task_id: The task's id.
        policy: The policy's name.
        seed: The reset seed.
        success: ``info["success"]`` at the end.
        score: ``info["score"]`` at the end.
        reward: The undiscounted return.
        cost_total: The unweighted tool cost of the episode.
        cost_breakdown: Cost per tool name and per component (``call``, ``latency``, ``output``).
        steps: Number of steps taken.
        tokens: Language-model tokens used (``prompt``, ``completion``), when a model was used.
        wall_s: Wall-clock seconds of the episode.
        error: Why the episode failed to run (a backend error), or ``None``.
        metadata: Anything else (config hash, trial index...).
    """

    env_id: str
    task_id: str
    policy: str
    seed: int | None
    success: bool
    score: float
    reward: float
    cost_total: float = 0.0
    cost_breakdown: Mapping[str, float] = field(default_factory=dict)
    steps: int = 0
    tokens: Mapping[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    error: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return to_jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EpisodeResult:
        """Rebuild from :meth:`to_dict` output."""
        return cls(**_known(cls, d))


def append_jsonl(path: str | os.PathLike[str], records: Iterable[Any], *, fsync: bool = True) -> int:
    """Append records as JSON lines, each line written whole.

    Each record is serialised first (``to_dict()`` if it has one), then all lines are written with one
    ``write`` call on a file opened in append mode, flushed and (by default) fsynced. A reader of the file
    tolerates a torn last line (see :func:`read_jsonl`).

    Args:
        path: The file (created with its parent folders when missing).
        records: Records or plain dicts.
        fsync: Force the data to disk before returning.

    Returns:
        The number of records written.
    """
    lines = []
    for r in records:
        d = r.to_dict() if hasattr(r, "to_dict") else to_jsonable(r)
        lines.append(json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n")
    if not lines:
        return 0
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "a", encoding="utf-8") as fh:
        fh.write("".join(lines))
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
    return len(lines)


def iter_jsonl(path: str | os.PathLike[str], *, torn_tail: bool = False) -> Iterator[tuple[int, Any]]:
    """Each non-empty line of a JSON-lines file, parsed, with its line number: the one JSON-lines reader.

    Args:
        path: The file; a name ending in ``.gz`` is read through gzip.
        torn_tail: Skip (with a warning) a last line without its newline, as an interrupted
            :func:`append_jsonl` leaves it, instead of parsing it.

    Yields:
        ``(line number from 1, value)``.

    Raises:
        ConfigError: A line is not valid JSON (the message names the file and the line).
    """
    opener: Any = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            if torn_tail and not line.endswith("\n"):
                logger.warning("%s: ignoring an incomplete last line (%d characters)", os.fspath(path), len(line))
                return
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{os.fspath(path)}, line {n}: expected one JSON value per line, got invalid JSON ({exc})."
                ) from None
            yield n, value


def read_jsonl(path: str | os.PathLike[str], cls: type[R] | None = None) -> list[Any]:
    """Read JSON lines, skipping a torn (incomplete) last line.

    Args:
        path: The file.
        cls: ``Step``, ``Trajectory`` or ``EpisodeResult`` to rebuild records; ``None`` returns dicts.

    Returns:
        The records in file order.

    Raises:
        ConfigError: A line other than the last is not valid JSON (the file is corrupt, not torn).
    """
    return [cls.from_dict(d) if cls is not None else d for _, d in iter_jsonl(path, torn_tail=True)]


def records_of(items: Sequence[Mapping[str, Any]], cls: type[R]) -> list[R]:
    """Rebuild many records from dicts."""
    return [cls.from_dict(d) for d in items]
