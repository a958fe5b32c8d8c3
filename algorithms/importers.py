"""Importers of published trajectories into :class:`~toolgym.records.Trajectory` records.

* :func:`import_fireact` - FireAct's GPT-4 ReAct trajectories on HotpotQA (chat format; 500 ReAct, and the
  733 of the multi-method mix with its one-step CoT answers), from ``TOOLGYM_DATA_DIR/fireact/``. Their
  questions are HotpotQA *train* questions (none is in the dev set toolgym evaluates on); their observations are
  2023 Google snippets, so replaying their actions in ``toolgym/HotpotQA-v0`` gives other observations — they
  are training text, not env episodes.
* :func:`import_alfworld_expert` - the official ALFWorld expert's games (``TOOLGYM_DATA_DIR/alfworld/``),
  recorded with the official engine, as Act-style trajectories (no thoughts).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from toolgym.data import data_dir
from toolgym.error import ConfigError
from toolgym.records import Step, Trajectory, iter_jsonl

__all__ = ["FIREACT_SETS", "import_alfworld_expert", "import_fireact"]

#: FireAct's sets: name -> file under ``TOOLGYM_DATA_DIR/fireact/finetune_gpt_format/``.
FIREACT_SETS = {"hotpotqa": "hotpotqa.jsonl", "hotpotqa_multimethod": "hotpotqa_multimethod.jsonl"}

_THOUGHT_ACTION = re.compile(r"^\s*(?:Thought:\s*(?P<thought>.*?)\s*)?Action:\s*(?P<action>.+?)\s*$", re.DOTALL)


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise ConfigError(
            f"{what}: expected {path} (toolgym's shared data: set TOOLGYM_DATA_DIR to the folder holding fireact/ "
            "and alfworld/), found nothing."
        )
    return path


def import_fireact(name: str = "hotpotqa") -> list[Trajectory]:
    """FireAct's GPT-4 trajectories as toolgym trajectories (``env_id="toolgym/HotpotQA-v0"``).

    Args:
        name: ``"hotpotqa"`` (500 ReAct trajectories) or ``"hotpotqa_multimethod"`` (733: ReAct and one-step CoT).

    Returns:
        One trajectory per line; ``task_id`` is ``fireact-<hash of the question>``, ``success`` from the final
        observation (``reward = True``), ``metadata["method"]`` ``"react"`` or ``"cot"`` (a single finish step).
    """
    if name not in FIREACT_SETS:
        raise ConfigError(f"import_fireact: expected a set among {sorted(FIREACT_SETS)}, got {name!r}.")
    path = _need(data_dir() / "fireact" / "finetune_gpt_format" / FIREACT_SETS[name], "import_fireact")
    out = []
    for line_no, row in iter_jsonl(path):
        msgs = row["messages"]
        question = msgs[0]["content"].strip()
        steps: list[Step] = []
        for i in range(1, len(msgs), 2):
            m = _THOUGHT_ACTION.match(msgs[i]["content"])
            if m is None:
                raise ConfigError(f"{path}:{line_no}: message {i} is not 'Thought: ... Action: ...'.")
            obs = msgs[i + 1]["content"] if i + 1 < len(msgs) else ""
            obs = obs[len("Observation:") :].strip() if obs.startswith("Observation:") else obs.strip()
            action = m.group("action").strip()
            final = action.lower().startswith("finish[")
            success = final and obs.endswith("reward = True")
            steps.append(
                Step(
                    action=action,
                    observation=obs,
                    thought=(m.group("thought") or "").strip() or None,
                    terminated=final,
                    info={"success": success, "score": float(success)} if final else {},
                )
            )
        digest = hashlib.sha256(question.encode("utf-8")).hexdigest()[:12]
        method = "cot" if len(steps) == 1 else "react"
        traj = Trajectory("toolgym/HotpotQA-v0", f"fireact-{digest}", question, metadata={"method": method})
        for s in steps:
            traj = traj.with_step(s)
        out.append(traj)
    return out


def import_alfworld_expert(split: str = "valid_seen", *, won_only: bool = True) -> list[Trajectory]:
    """The official ALFWorld expert's games as Act-style trajectories (``env_id="toolgym/ALFWorld-v0"``).

    Args:
        split: ``"valid_seen"`` or ``"valid_unseen"``.
        won_only: Keep only the games the expert won (111/134 and 115/140).
    """
    if split not in ("valid_seen", "valid_unseen"):
        raise ConfigError(f"import_alfworld_expert: expected 'valid_seen' or 'valid_unseen', got {split!r}.")
    path = _need(data_dir() / "alfworld" / f"expert_trajectories_{split}.jsonl.gz", "import_alfworld_expert")
    out = []
    for _, rec in iter_jsonl(path):
        won = bool(rec.get("won"))
        if won_only and not won:
            continue
        task_id = f"{split}/" + rec["path"].split(f"{split}/", 1)[-1]
        steps = rec["steps"]
        traj = Trajectory("toolgym/ALFWorld-v0", task_id, rec["initial_observation"], metadata={"method": "act"})
        for i, s in enumerate(steps):
            last = i == len(steps) - 1
            info = {"success": won, "score": float(won)} if last else {}
            traj = traj.with_step(Step(s["action"], s["observation"], terminated=last and won, info=info))
        out.append(traj)
    return out
