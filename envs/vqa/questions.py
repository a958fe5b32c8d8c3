"""Questions generated from a scene description, and the oracle that answers them from it.

Each question has a structured form (:class:`QuestionSpec`) and a text. :func:`answer_question` computes the
answer of a spec from the scene description alone: this is the oracle, and the generator uses it to fill in the
gold answer, so the oracle is right by construction. Five kinds of question:

* ``exist`` - "Is there a red circle?" (yes / no)
* ``count`` - "How many large triangles are there?" (a number, written as digits)
* ``attribute`` - "What color is the small circle?" / "What shape is the blue object?" / "What size is ...?"
* ``relation`` - "Is the red circle to the left of the blue triangle?" (yes / no) or "Is the red circle above
  or below the blue triangle?" (above / below). Relations compare object centres, and are asked only when the
  centres are at least :data:`RELATION_MARGIN` of the image size apart along the asked axis.
* ``compare`` - "Are there more circles than triangles?", "Are there as many ... as ...?" (counts) and "Is the
  red circle larger than the blue square?", "Are the A and the B the same size?" (size classes; only asked
  when the answer does not hinge on a near tie).

Objects are referred to by their shortest unique description ("the circle", "the red object", "the large
red circle"), so every question has one answer.

Example:
    >>> from toolgym.envs.vqa.scene import SceneConfig, generate_scene
    >>> scene = generate_scene(SceneConfig(), seed=0)
    >>> q = generate_question(scene, np.random.default_rng(0))
    >>> q.answer == answer_question(scene, q.spec)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np

from toolgym.envs.vqa.scene import Scene, SceneObject
from toolgym.envs.vqa.vocab import SHAPES, SIZES, plural
from toolgym.rng import rand_elem

__all__ = [
    "KINDS",
    "RELATION_MARGIN",
    "Filter",
    "Question",
    "QuestionSpec",
    "answer_question",
    "generate_question",
    "matches",
]

#: The question kinds, in the order :func:`generate_question` tries them when one cannot be asked.
KINDS: tuple[str, ...] = ("exist", "count", "attribute", "relation", "compare")

#: Relations are asked only when object centres are this fraction of the image size apart along the axis.
RELATION_MARGIN = 0.1


@dataclass(frozen=True)
class Filter:
    """A description of objects: any of size, colour and shape (``None`` matches anything)."""

    size: str | None = None
    color: str | None = None
    shape: str | None = None

    def phrase(self, *, many: bool = False, noun: str = "object") -> str:
        """``"large red circle"``, ``"red objects"`` (with ``many``), ``"object"``."""
        words = [w for w in (self.size, self.color) if w]
        shape = self.shape or noun
        words.append(plural(self.shape) if many and self.shape else (f"{noun}s" if many else shape))
        return " ".join(words)


def matches(obj: SceneObject, flt: Filter) -> bool:
    """Whether an object fits a description."""
    return (
        (flt.size is None or obj.size == flt.size)
        and (flt.color is None or obj.color == flt.color)
        and (flt.shape is None or obj.shape == flt.shape)
    )


@dataclass(frozen=True)
class QuestionSpec:
    """The structured form of a question.

    Attributes:
        kind: One of :data:`KINDS`.
        form: The variant within the kind (``"yesno"``/``"choice"`` for relations; ``"more"``/``"same"``/
            ``"larger"``/``"smaller"``/``"same_size"`` for comparisons; the attribute name for attributes).
        a: The (first) description.
        b: The second description, for relations and comparisons.
        relation: ``"left"``, ``"right"``, ``"above"`` or ``"below"`` (for relation questions).
    """

    kind: str
    form: str = ""
    a: Filter = Filter()
    b: Filter | None = None
    relation: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Question:
    """A question with its text, gold answer and structured form."""

    text: str
    answer: str
    spec: QuestionSpec

    @property
    def kind(self) -> str:
        """The question kind."""
        return self.spec.kind


def _select(scene: Scene, flt: Filter) -> list[SceneObject]:
    return [o for o in scene.objects if matches(o, flt)]


def _unique(scene: Scene, flt: Filter) -> SceneObject:
    found = _select(scene, flt)
    if len(found) != 1:
        raise ValueError(f"the description {flt.phrase()!r} fits {len(found)} objects, not exactly one")
    return found[0]


def _relation_holds(a: SceneObject, b: SceneObject, relation: str) -> bool:
    return {
        "left": a.cx < b.cx,
        "right": a.cx > b.cx,
        "above": a.cy < b.cy,
        "below": a.cy > b.cy,
    }[relation]


def answer_question(scene: Scene, spec: QuestionSpec) -> str:
    """The oracle: answer a question from the scene description.

    Args:
        scene: The scene.
        spec: The question's structured form.

    Returns:
        The answer word (``"yes"``, ``"3"``, ``"red"``, ``"left"``...).

    Raises:
        ValueError: The spec refers to an object that is not unique in the scene.
    """
    if spec.kind == "exist":
        return "yes" if _select(scene, spec.a) else "no"
    if spec.kind == "count":
        return str(len(_select(scene, spec.a)))
    if spec.kind == "attribute":
        return str(getattr(_unique(scene, spec.a), spec.form))
    assert spec.b is not None
    if spec.kind == "relation":
        a, b = _unique(scene, spec.a), _unique(scene, spec.b)
        if spec.form == "choice":
            first, second = ("left", "right") if spec.relation in ("left", "right") else ("above", "below")
            return first if _relation_holds(a, b, first) else second
        return "yes" if _relation_holds(a, b, spec.relation) else "no"
    if spec.kind == "compare":
        if spec.form in ("more", "same"):
            na, nb = len(_select(scene, spec.a)), len(_select(scene, spec.b))
            return "yes" if (na > nb if spec.form == "more" else na == nb) else "no"
        a, b = _unique(scene, spec.a), _unique(scene, spec.b)
        ra, rb = SIZES.index(a.size), SIZES.index(b.size)
        holds = {"larger": ra > rb, "smaller": ra < rb, "same_size": ra == rb}[spec.form]
        return "yes" if holds else "no"
    raise ValueError(f"unknown question kind {spec.kind!r}")


def _article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def _ref_filters(obj: SceneObject, exclude: str = "") -> list[Filter]:
    """Descriptions of ``obj`` from shortest to longest, leaving out the attribute ``exclude``."""
    attrs = [a for a in ("shape", "color", "size") if a != exclude]
    out = []
    for k in range(1, len(attrs) + 1):
        for combo in combinations(attrs, k):
            out.append(Filter(**{a: getattr(obj, a) for a in combo}))
    return out


def _reference(scene: Scene, obj: SceneObject, exclude: str = "") -> Filter | None:
    for flt in _ref_filters(obj, exclude):
        if len(_select(scene, flt)) == 1:
            return flt
    return None


def _random_filter(scene: Scene, rng: np.random.Generator) -> Filter:
    """A description that fits some object half of the time, and a random combination otherwise."""
    if scene.objects and rng.random() < 0.5:
        obj = rand_elem(rng, scene.objects)
        choices = _ref_filters(obj)
        return rand_elem(rng, choices)
    colors = sorted({o.color for o in scene.objects} | {"red", "green", "blue", "yellow", "gray"})
    flt = Filter(
        size=rand_elem(rng, SIZES) if rng.random() < 0.3 else None,
        color=rand_elem(rng, colors) if rng.random() < 0.7 else None,
        shape=rand_elem(rng, SHAPES) if rng.random() < 0.7 else None,
    )
    return flt if (flt.color or flt.shape) else Filter(shape=rand_elem(rng, SHAPES))


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return rand_elem(rng, options)


def _exist(scene: Scene, rng: np.random.Generator) -> Question:
    flt = _random_filter(scene, rng)
    one, many = flt.phrase(), flt.phrase(many=True)
    text = _pick(
        rng,
        (
            f"Is there {_article(one)}?",
            f"Are there any {many}?",
            f"Does the image contain {_article(one)}?",
            f"Is there {_article(one)} in the image?",
        ),
    )
    spec = QuestionSpec("exist", a=flt)
    return Question(text, answer_question(scene, spec), spec)


def _count(scene: Scene, rng: np.random.Generator) -> Question:
    flt = _random_filter(scene, rng)
    if rng.random() < 0.15:
        flt = Filter()
    many = flt.phrase(many=True)
    text = _pick(rng, (f"How many {many} are there?", f"How many {many} are in the image?"))
    spec = QuestionSpec("count", a=flt)
    return Question(text, answer_question(scene, spec), spec)


def _attribute(scene: Scene, rng: np.random.Generator) -> Question | None:
    by_attr = {}
    for attr in ("color", "shape", "size"):
        refs = [r for r in (_reference(scene, obj, exclude=attr) for obj in scene.objects) if r is not None]
        if refs:
            by_attr[attr] = refs
    if not by_attr:
        return None
    attr = _pick(rng, sorted(by_attr))
    ref = rand_elem(rng, by_attr[attr])
    the = "the " + ref.phrase()
    text = {
        "color": _pick(rng, (f"What color is {the}?", f"What is the color of {the}?")),
        "shape": _pick(rng, (f"What shape is {the}?", f"What is the shape of {the}?")),
        "size": _pick(rng, (f"What size is {the}?", f"What is the size of {the}?")),
    }[attr]
    spec = QuestionSpec("attribute", form=attr, a=ref)
    return Question(text, answer_question(scene, spec), spec)


def _referable_pairs(scene: Scene) -> list[tuple[SceneObject, Filter, SceneObject, Filter]]:
    refs = [(o, _reference(scene, o)) for o in scene.objects]
    named = [(o, r) for o, r in refs if r is not None]
    return [(a, ra, b, rb) for a, ra in named for b, rb in named if a is not b]


def _relation(scene: Scene, rng: np.random.Generator) -> Question | None:
    margin = RELATION_MARGIN * max(scene.width, scene.height)
    options = []
    for a, ra, b, rb in _referable_pairs(scene):
        if abs(a.cx - b.cx) >= margin:
            options.append((ra, rb, "horizontal"))
        if abs(a.cy - b.cy) >= margin:
            options.append((ra, rb, "vertical"))
    if not options:
        return None
    ra, rb, axis = rand_elem(rng, options)
    ta, tb = "the " + ra.phrase(), "the " + rb.phrase()
    if rng.random() < 0.5:
        relation = _pick(rng, ("left", "right") if axis == "horizontal" else ("above", "below"))
        phrase = {"left": "to the left of", "right": "to the right of", "above": "above", "below": "below"}[relation]
        text = f"Is {ta} {phrase} {tb}?"
        spec = QuestionSpec("relation", form="yesno", a=ra, b=rb, relation=relation)
    else:
        if axis == "horizontal":
            text, relation = f"Is {ta} to the left or to the right of {tb}?", "left"
        else:
            text, relation = f"Is {ta} above or below {tb}?", "above"
        spec = QuestionSpec("relation", form="choice", a=ra, b=rb, relation=relation)
    return Question(text, answer_question(scene, spec), spec)


def _compare(scene: Scene, rng: np.random.Generator) -> Question | None:
    if rng.random() < 0.5:
        fa, fb = _random_filter(scene, rng), _random_filter(scene, rng)
        if fa == fb:
            return None
        pa, pb = fa.phrase(many=True), fb.phrase(many=True)
        if rng.random() < 0.6:
            text, form = f"Are there more {pa} than {pb}?", "more"
        else:
            text, form = f"Are there as many {pa} as {pb}?", "same"
        spec = QuestionSpec("compare", form=form, a=fa, b=fb)
        return Question(text, answer_question(scene, spec), spec)
    pairs = _referable_pairs(scene)
    if not pairs:
        return None
    a, ra, b, rb = rand_elem(rng, pairs)
    # Size comparisons are asked only between size classes, or for "same size" within one class.
    ta, tb = "the " + ra.phrase(), "the " + rb.phrase()
    if a.size != b.size:
        form = _pick(rng, ("larger", "smaller", "same_size"))
    else:
        form = "same_size"
    text = {
        "larger": f"Is {ta} larger than {tb}?",
        "smaller": f"Is {ta} smaller than {tb}?",
        "same_size": f"Are {ta} and {tb} the same size?",
    }[form]
    spec = QuestionSpec("compare", form=form, a=ra, b=rb)
    return Question(text, answer_question(scene, spec), spec)


_MAKERS = {"exist": _exist, "count": _count, "attribute": _attribute, "relation": _relation, "compare": _compare}


def generate_question(scene: Scene, rng: np.random.Generator, kinds: Sequence[str] = KINDS) -> Question:
    """Draw a question about ``scene``.

    A kind is drawn uniformly from ``kinds``; when the scene cannot support it (e.g. a relation question
    needs two objects that can be named uniquely), the next kinds are tried in order, ending with ``count``
    and ``exist``, which every scene supports.

    Args:
        scene: The scene.
        rng: The generator to draw from.
        kinds: The allowed kinds (a subset of :data:`KINDS`).

    Returns:
        The question, with its gold answer from :func:`answer_question`.
    """
    start = int(rng.integers(len(kinds)))
    order = [kinds[(start + i) % len(kinds)] for i in range(len(kinds))]
    for kind in order:
        for _ in range(3):
            q = _MAKERS[kind](scene, rng)
            if q is not None:
                return q
    fallback = "count" if "count" in kinds else "exist"
    q = _MAKERS[fallback](scene, rng)
    assert q is not None
    return q
