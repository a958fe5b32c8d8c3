"""Scripted policies for the VQA environments, and :func:`policy_accuracy` to measure a policy on them.

:class:`ToolUsingPolicy` (``make_policy("vqa-tools")``) reads nothing but the observation (the question and the
last tool output): it parses the question with the templates of ShapesVQA and easy-VQA, calls the tools it
needs (``count``, ``find``, ``color``/``shape``/``size``, ``relation``), parses their text outputs and answers.
It never sees the scene description or the gold answer, so its accuracy measures the tools.
:class:`ProgramPolicy` (``make_policy("vqa-program")``) writes one program per question for program mode.
The oracle is the ``expert`` policy (:class:`~toolgym.agents.policies.ExpertPolicy`): it answers from the
privileged description through the env's ``expert_action``.

Example:
    >>> from toolgym.agents import run_episode
    >>> from toolgym.envs.vqa.env import ShapesVQAEnv
    >>> run_episode(ToolUsingPolicy(), ShapesVQAEnv(), seed=0).result.success
    True
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolgym.agents.base import BasePolicy
from toolgym.agents.engine import run_episode
from toolgym.envs.vqa.evaluate import Tally

if TYPE_CHECKING:
    import gymnasium as gym

__all__ = [
    "Intent",
    "PolicyReport",
    "ProgramPolicy",
    "ToolUsingPolicy",
    "parse_question",
    "policy_accuracy",
    "write_program",
]

_D = r"(?P<{}>.+?)"


def _pat(template: str) -> re.Pattern[str]:
    body = template.replace("{a}", _D.format("a")).replace("{b}", _D.format("b"))
    return re.compile(rf"^{body}\??$")


@dataclass(frozen=True)
class Intent:
    """What a question asks, in the terms of the tools.

    Attributes:
        kind: ``"exist"``, ``"count"``, ``"attribute"``, ``"relation"``, ``"choice"``, ``"more"``, ``"same"``,
            ``"larger"``, ``"smaller"`` or ``"same_size"``.
        a: The (first) object description, as tool query text.
        b: The second description.
        attribute: For ``attribute``: ``"color"``, ``"shape"`` or ``"size"``.
        relation: For ``relation``: ``"left"``, ``"right"``, ``"above"``, ``"below"``; for ``choice``:
            ``"horizontal"`` or ``"vertical"``.
        negated: For ``exist``: the question asks whether the object is absent.
    """

    kind: str
    a: str = ""
    b: str = ""
    attribute: str = ""
    relation: str = ""
    negated: bool = False


# Order matters: the first match wins (longer, more specific templates first).
_TEMPLATES: tuple[tuple[re.Pattern[str], dict[str, Any]], ...] = (
    # relations and comparisons between two objects
    (_pat(r"is the {a} to the left or to the right of the {b}"), {"kind": "choice", "relation": "horizontal"}),
    (_pat(r"is the {a} above or below the {b}"), {"kind": "choice", "relation": "vertical"}),
    (_pat(r"is the {a} to the left of the {b}"), {"kind": "relation", "relation": "left"}),
    (_pat(r"is the {a} (?:to the )?right of the {b}"), {"kind": "relation", "relation": "right"}),
    (_pat(r"is the {a} left of the {b}"), {"kind": "relation", "relation": "left"}),
    (_pat(r"is the {a} above the {b}"), {"kind": "relation", "relation": "above"}),
    (_pat(r"is the {a} below the {b}"), {"kind": "relation", "relation": "below"}),
    (_pat(r"is the {a} larger than the {b}"), {"kind": "larger"}),
    (_pat(r"is the {a} smaller than the {b}"), {"kind": "smaller"}),
    (_pat(r"are the {a} and the {b} the same size"), {"kind": "same_size"}),
    (_pat(r"are there more {a} than {b}"), {"kind": "more"}),
    (_pat(r"are there as many {a} as {b}"), {"kind": "same"}),
    # counting
    (_pat(r"how many {a} are (?:there|in the image)"), {"kind": "count"}),
    # attributes (ShapesVQA and easy-VQA phrasings)
    (_pat(r"what (?:colou?r|is the colou?r of) (?:is )?the {a}"), {"kind": "attribute", "attribute": "color"}),
    (_pat(r"what (?:shape|is the shape of) (?:is )?the {a}"), {"kind": "attribute", "attribute": "shape"}),
    (_pat(r"what (?:size|is the size of) (?:is )?the {a}"), {"kind": "attribute", "attribute": "size"}),
    (_pat(r"what shape (?:is in the image|is present|does the image contain)"), {"kind": "attribute_all_shape"}),
    (_pat(r"what is the {a} shape"), {"kind": "attribute", "attribute": "shape"}),
    # existence, negated (easy-VQA)
    (_pat(r"is no {a} present"), {"kind": "exist", "negated": True}),
    (_pat(r"does the image not contain (?:a |an )?{a}"), {"kind": "exist", "negated": True}),
    (_pat(r"is there not (?:a |an )?{a} in the image"), {"kind": "exist", "negated": True}),
    (_pat(r"is there not (?:a |an )?{a}"), {"kind": "exist", "negated": True}),
    # existence
    (_pat(r"is there (?:a |an )?{a} in the image"), {"kind": "exist"}),
    (_pat(r"is there (?:a |an )?{a}"), {"kind": "exist"}),
    (_pat(r"are there any {a}"), {"kind": "exist"}),
    (_pat(r"does the image contain (?:a |an )?{a}"), {"kind": "exist"}),
    (_pat(r"is (?:a |an )?{a} present"), {"kind": "exist"}),
)


def parse_question(question: str) -> Intent | None:
    """Map a ShapesVQA or easy-VQA question to an :class:`Intent` (``None`` when no template fits).

    Example:
        >>> parse_question("Is there not a red shape in the image?")
        Intent(kind='exist', a='red shape', b='', attribute='', relation='', negated=True)
        >>> parse_question("What is the color of the large triangle?").attribute
        'color'
    """
    q = re.sub(r"\s+", " ", question.strip().lower())
    for pattern, fields in _TEMPLATES:
        m = pattern.match(q)
        if m is None:
            continue
        groups = m.groupdict()
        if fields["kind"] == "attribute_all_shape":
            return Intent("attribute", a="object", attribute="shape")
        return Intent(a=groups.get("a") or "", b=groups.get("b") or "", **fields)
    return None


_COUNT = re.compile(r"There (?:is|are) (\d+)")
_BOX = re.compile(r"#\d+ \[(\d+), (\d+), (\d+), (\d+)\]")
_VALUE = re.compile(r"\] is (?:an? )?([a-z]+)[.:]")
_HORIZONTAL = re.compile(r"to the (left|right) of|level horizontally")
_VERTICAL = re.compile(r"(above|below) \(by|level vertically")

Plan = Generator[str, str, None]


def _relaxed(description: str) -> list[str]:
    """The description, then without its size word (for when the size tool misjudged an occluded object)."""
    words = description.split()
    kept = [w for w in words if w not in ("small", "large", "big", "tiny", "little")]
    return [description, " ".join(kept)] if kept and kept != words else [description]


class ToolUsingPolicy(BasePolicy):
    """A scripted policy that answers only through the visual tools (see the module docstring).

    When a question fits no template, it answers ``"no"`` (the commonest easy-VQA answer).

    Example:
        >>> p = ToolUsingPolicy()
        >>> obs = {"question": "Is there a red circle?", "output": ""}
        >>> p.reset(obs, {})
        >>> p.act(obs, {}), p.act({**obs, "output": "There are 2 red circles."}, {})
        ('count[red circle]', 'answer[yes]')
    """

    name = "vqa-tools"

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """The next action, from the observation's question and last tool output."""
        state = self.episode(slot)
        plan: Plan | None = state.get("plan")
        if plan is None:
            plan = state["plan"] = self._make_plan(parse_question(str(observation["question"])))
            return next(plan)
        try:
            return plan.send(str(observation["output"]))
        except StopIteration:  # the plan ended without answering (cannot happen with the plans below)
            return "answer[no]"

    # ------------------------------------------------------------------ plans
    def _make_plan(self, intent: Intent | None) -> Plan:
        if intent is None:
            yield "answer[no]"
            return
        k = intent.kind
        if k == "exist":
            n = yield from self._count(intent.a)
            yield f"answer[{'yes' if (n > 0) != intent.negated else 'no'}]"
        elif k == "count":
            n = yield from self._count(intent.a)
            yield f"answer[{n}]"
        elif k in ("more", "same"):
            na = yield from self._count(intent.a)
            nb = yield from self._count(intent.b)
            yield f"answer[{'yes' if (na > nb if k == 'more' else na == nb) else 'no'}]"
        elif k == "attribute":
            box = yield from self._find_one(intent.a)
            if box is None:
                yield "answer[none]"
                return
            value = yield from self._value(intent.attribute, box)
            yield f"answer[{value}]"
        elif k in ("relation", "choice"):
            a = yield from self._find_one(intent.a)
            b = yield from self._find_one(intent.b)
            if a is None or b is None:
                yield "answer[no]"
                return
            out = yield f"relation[{a}, {b}]"
            h = _HORIZONTAL.search(out)
            v = _VERTICAL.search(out)
            horizontal = h.group(1) if h and h.group(1) else "level"
            vertical = v.group(1) if v and v.group(1) else "level"
            if k == "choice":
                yield f"answer[{horizontal if intent.relation == 'horizontal' else vertical}]"
            else:
                holds = intent.relation in (horizontal, vertical)
                yield f"answer[{'yes' if holds else 'no'}]"
        else:  # larger / smaller / same_size
            a = yield from self._find_one(intent.a)
            b = yield from self._find_one(intent.b)
            if a is None or b is None:
                yield "answer[no]"
                return
            sa = yield from self._value("size", a)
            sb = yield from self._value("size", b)
            rank = {"small": 0, "large": 1}
            ra, rb = rank.get(sa, 0), rank.get(sb, 0)
            holds = {"larger": ra > rb, "smaller": ra < rb, "same_size": ra == rb}[k]
            yield f"answer[{'yes' if holds else 'no'}]"

    @staticmethod
    def _count(description: str) -> Generator[str, str, int]:
        out = yield f"count[{description}]"
        m = _COUNT.search(out)
        return int(m.group(1)) if m else 0

    @staticmethod
    def _find_one(description: str) -> Generator[str, str, str | None]:
        """Find the object a description names; its box as text, or None. Loosens the description if needed."""
        for query in _relaxed(description):
            out = yield f"find[{query}]"
            boxes = _BOX.findall(out)
            if boxes:
                return "[" + ", ".join(boxes[0]) + "]"
        return None

    @staticmethod
    def _value(tool: str, box: str) -> Generator[str, str, str]:
        out = yield f"{tool}[{box}]"
        m = _VALUE.search(out)
        return m.group(1) if m else "none"


_FIND_ONE = """\
def find_one(patch, description):
    found = patch.find(description)
    if not found:  # the size judgement may miss an occluded object: try without the size word
        words = [w for w in description.split() if w not in ("small", "large")]
        found = patch.find(" ".join(words)) if words else []
    return found[0] if found else None

"""


def write_program(intent: Intent | None) -> str:
    """A ViperGPT-style program (``execute_command(image)``) that answers an intent with the image API.

    The API counts ``lower``/``upper`` from the bottom (y up), so "above" means a larger ``vertical_center``.

    Example:
        >>> print(write_program(parse_question("How many red circles are there?")))
        def execute_command(image) -> str:
            image_patch = ImagePatch(image)
            return str(image_patch.count('red circles'))
    """
    head = "def execute_command(image) -> str:\n    image_patch = ImagePatch(image)\n"
    if intent is None:
        return head + "    return 'no'"
    a, b, k = repr(intent.a), repr(intent.b), intent.kind
    if k == "exist":
        test = f"image_patch.exists({a})"
        return head + f"    return bool_to_yesno({'not ' if intent.negated else ''}{test})"
    if k == "count":
        return head + f"    return str(image_patch.count({a}))"
    if k in ("more", "same"):
        op = ">" if k == "more" else "=="
        return head + f"    return bool_to_yesno(image_patch.count({a}) {op} image_patch.count({b}))"
    if k == "attribute":
        return (
            _FIND_ONE
            + head
            + f"    target = find_one(image_patch, {a})\n"
            + "    if target is None:\n        return 'none'\n"
            + f"    return target.{intent.attribute}()"
        )
    body = (
        _FIND_ONE
        + head
        + f"    first, second = find_one(image_patch, {a}), find_one(image_patch, {b})\n"
        + "    if first is None or second is None:\n        return 'no'\n"
    )
    if k == "choice" and intent.relation == "horizontal":
        return body + "    return 'left' if first.horizontal_center < second.horizontal_center else 'right'"
    if k == "choice":
        return body + "    return 'above' if first.vertical_center > second.vertical_center else 'below'"
    if k == "relation":
        test = {
            "left": "first.horizontal_center < second.horizontal_center",
            "right": "first.horizontal_center > second.horizontal_center",
            "above": "first.vertical_center > second.vertical_center",
            "below": "first.vertical_center < second.vertical_center",
        }[intent.relation]
        return body + f"    return bool_to_yesno({test})"
    rank = "    rank = {'small': 0, 'large': 1}\n    ra, rb = rank.get(first.size(), 0), rank.get(second.size(), 0)\n"
    op = {"larger": ">", "smaller": "<", "same_size": "=="}[k]
    return body + rank + f"    return bool_to_yesno(ra {op} rb)"


class ProgramPolicy(BasePolicy):
    """A scripted program-mode policy: it writes one program per question and submits it.

    Like :class:`ToolUsingPolicy` it sees only the question, and the program sees only the pixels (through
    the image API in the sandbox). Use it with ``mode="program"``.
    """

    name = "vqa-program"

    def act(self, observation: Any, info: Mapping[str, Any], *, slot: int = 0) -> str:
        """Submit a program for the question."""
        program = write_program(parse_question(str(observation["question"])))
        return f"Submit:\n```python\n{program}\n```"


# ---------------------------------------------------------------------------------------------- accuracy


@dataclass
class PolicyReport:
    """The outcome of :func:`policy_accuracy`.

    Attributes:
        per_kind: Success tally per question kind.
        steps: Steps taken in all.
        seconds: Wall-clock time of the episodes (resets included).
        failures: ``(task_id, question, gold, last action)`` of failed episodes (the first 50); an episode that
            raised has ``error: <the exception>`` as its last action.
    """

    per_kind: dict[str, Tally] = field(default_factory=dict)
    steps: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def overall(self) -> Tally:
        """The tally over all kinds."""
        return Tally(sum(t.correct for t in self.per_kind.values()), sum(t.total for t in self.per_kind.values()))

    @property
    def steps_per_second(self) -> float:
        """Steps per second, resets included."""
        return self.steps / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "overall": self.overall.to_dict(),
            "per_kind": {k: v.to_dict() for k, v in sorted(self.per_kind.items())},
            "steps": self.steps,
            "seconds": round(self.seconds, 4),
            "steps_per_second": round(self.steps_per_second, 2),
            "failures": self.failures[:10],
        }


def policy_accuracy(env: gym.Env, policy: Any, task_ids: Iterable[str], *, max_failures: int = 50) -> PolicyReport:
    """Run ``policy`` on each task of a VQA ``env`` (with :func:`~toolgym.agents.run_episode`) and tally its answers.

    Args:
        env: A VQA environment (its unwrapped env's ``task`` gives each question's kind, text and gold answer).
        policy: A :class:`~toolgym.agents.base.Policy` (``make_policy("vqa-tools")``, ``"vqa-program"``,
            ``"expert"``...).
        task_ids: The tasks to run, one episode each.
        max_failures: The most failed episodes listed in the report.

    Example:
        >>> from toolgym.envs.vqa.env import ShapesVQAEnv
        >>> policy_accuracy(ShapesVQAEnv(), ToolUsingPolicy(), ["shapes-0", "shapes-1"]).overall.accuracy
        1.0
    """
    base = env.unwrapped
    report = PolicyReport()
    kinds: dict[str, Tally] = defaultdict(Tally)
    t0 = time.perf_counter()
    for task_id in task_ids:
        episode = run_episode(policy, env, task_id=task_id)
        task = getattr(base, "task", None)  # the episode's VQATask; stale when the reset failed
        if getattr(task, "task_id", None) != task_id:
            task = None
        report.steps += episode.result.steps
        kinds[task.kind if task else ""].add(episode.result.success)
        if not episode.result.success and len(report.failures) < max_failures:
            steps = episode.trajectory.steps
            last = f"error: {episode.result.error}" if episode.result.error else (steps[-1].action if steps else "")
            report.failures.append((task_id, task.question if task else "", task.answer if task else "", last))
    report.seconds = time.perf_counter() - t0
    report.per_kind = dict(kinds)
    return report
