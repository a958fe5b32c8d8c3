"""The budget ledger: what each phase of an experiment spent, so arms can be compared at equal cost.

Every phase (collecting demonstrations, sampling, training, evaluating) adds its prompt and completion tokens,
env steps, episodes, training tokens and steps, and wall time. Experiments report the ledger per arm.

Example:
    >>> ledger = Ledger()
    >>> ledger.add("train", train_tokens=1200, train_steps=10, wall_s=3.5)
    >>> ledger.total()["train_tokens"]
    1200.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FIELDS", "Ledger"]

#: What a phase can spend.
FIELDS = (
    "episodes",
    "env_steps",
    "prompt_tokens",
    "completion_tokens",
    "train_tokens",
    "train_steps",
    "wall_s",
)


@dataclass
class Ledger:
    """Spending per phase (an ordered mapping phase -> field -> amount).

    Attributes:
        phases: The amounts per phase, in the order the phases were first charged.
    """

    phases: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, phase: str, **amounts: float) -> None:
        """Charge ``amounts`` (keys among :data:`FIELDS`) to ``phase``."""
        unknown = sorted(set(amounts) - set(FIELDS))
        if unknown:
            raise ValueError(f"Ledger.add: expected fields among {list(FIELDS)}, got {unknown}.")
        row = self.phases.setdefault(phase, dict.fromkeys(FIELDS, 0))
        for k, v in amounts.items():
            row[k] = row[k] + v

    def add_episodes(self, phase: str, episodes: Iterable[Any], wall_s: float = 0.0) -> None:
        """Charge the token use and env steps of rollout :class:`~toolgym.agents.Episode` s to ``phase``."""
        n = steps = prompt = completion = 0
        for e in episodes:
            r = e.result
            n += 1
            steps += sum(len(t.steps) for t in (e.trials or (e.trajectory,)))
            prompt += int(r.tokens.get("prompt", 0))
            completion += int(r.tokens.get("completion", 0))
        self.add(phase, episodes=n, env_steps=steps, prompt_tokens=prompt, completion_tokens=completion, wall_s=wall_s)

    def total(self, phases: Iterable[str] | None = None) -> dict[str, float]:
        """The sum over ``phases`` (default: all)."""
        names = list(self.phases) if phases is None else list(phases)
        out: dict[str, float] = dict.fromkeys(FIELDS, 0.0)
        for p in names:
            for k, v in self.phases.get(p, {}).items():
                out[k] += v
        return out

    def merge(self, other: Ledger, prefix: str = "") -> None:
        """Add another ledger's phases (optionally renamed ``prefix + phase``)."""
        for p, row in other.phases.items():
            self.add(prefix + p, **row)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per phase, and the total."""
        return {"phases": {p: dict(r) for p, r in self.phases.items()}, "total": self.total()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Ledger:
        """Rebuild from :meth:`to_dict` output."""
        ledger = cls()
        for p, row in d.get("phases", {}).items():
            ledger.add(p, **{k: v for k, v in row.items() if k in FIELDS})
        return ledger
