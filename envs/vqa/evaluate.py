"""Measuring the visual tools: accuracy on ShapesVQA scenes and on easy-VQA images.

Tool accuracy is measured against ground truth the tools never see:

* **ShapesVQA** (:func:`shapes_tool_accuracy`): the scene description. For every object, the tools are asked
  about its *visible* box (from the rendered ownership of each pixel): ``color``, ``shape`` and ``size`` must
  name its attributes; ``find[<size> <colour> <shape>]`` must return exactly the objects of that description
  (each matched one-to-one to a visible box with IoU >= 0.5); ``count`` on random descriptions must give the
  true count; ``relation`` on pairs whose centres are at least 10% of the image apart along an axis must
  give the true side; ``crop`` must return exactly the box's pixels.
* **easy-VQA** (:func:`easy_vqa_tool_accuracy`): the gold answers. Each image's colour and shape are read off
  its questions ("what color is the shape?" -> colour, "what is the red shape?" -> colour red and the
  answer's shape, "what is the color of the triangle?" -> shape triangle...). ``find[object]`` must return
  one box, and ``color``/``shape`` on it must name the image's colour and shape.

A policy's accuracy (success rate per question kind, steps and time) is
:func:`toolgym.agents.vqa.policy_accuracy`, which runs it with the rollout engine.

Example:
    >>> report = shapes_tool_accuracy(seeds=range(3))
    >>> report["color"].total > 0 and report["color"].accuracy == 1.0
    True
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from toolgym.envs.vqa.easyvqa import EasyVQAData
from toolgym.envs.vqa.questions import RELATION_MARGIN, Filter, matches
from toolgym.envs.vqa.scene import SceneConfig, generate_scene, render_scene, visible_box, visible_labels
from toolgym.envs.vqa.tools import Box, VisualTools, format_box
from toolgym.envs.vqa.vocab import COLORS, SHAPES, SIZES
from toolgym.rng import rand_elem

__all__ = [
    "Tally",
    "easy_vqa_image_labels",
    "easy_vqa_tool_accuracy",
    "shapes_tool_accuracy",
]


@dataclass
class Tally:
    """Correct answers out of a total."""

    correct: int = 0
    total: int = 0

    def add(self, ok: bool) -> None:
        """Count one trial."""
        self.correct += int(bool(ok))
        self.total += 1

    @property
    def accuracy(self) -> float:
        """``correct / total`` (1.0 when nothing was counted)."""
        return self.correct / self.total if self.total else 1.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"correct": self.correct, "total": self.total, "accuracy": round(self.accuracy, 5)}


def _iou(a: Sequence[int], b: Sequence[int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def _same_boxes(found: Sequence[Box], truth: Sequence[Box], threshold: float = 0.5) -> bool:
    if len(found) != len(truth):
        return False
    left = list(truth)
    for box in found:
        best = max(left, key=lambda t: _iou(box, t), default=None)
        if best is None or _iou(box, best) < threshold:
            return False
        left.remove(best)
    return True


_BOXES = re.compile(r"#\d+ \[(\d+), (\d+), (\d+), (\d+)\]")


def shapes_tool_accuracy(
    config: SceneConfig | None = None, seeds: Iterable[int] = range(200), count_queries: int = 4
) -> dict[str, Tally]:
    """Measure each tool on generated scenes (see the module docstring).

    Args:
        config: The scene knobs (default :class:`SceneConfig`).
        seeds: The scene seeds.
        count_queries: Random descriptions counted per scene.

    Returns:
        A :class:`Tally` per tool name (``find``, ``count``, ``color``, ``shape``, ``size``, ``relation``,
        ``crop``).
    """
    cfg = config or SceneConfig()
    out: dict[str, Tally] = defaultdict(Tally)
    for seed in seeds:
        scene = generate_scene(cfg, seed)
        image = render_scene(scene)
        tools = VisualTools(image, large_threshold=cfg.large_threshold)
        labels = visible_labels(scene)
        vboxes = [visible_box(labels, i) for i in range(len(scene.objects))]
        for obj, vb in zip(scene.objects, vboxes):
            if vb is None:
                continue
            arg = format_box(vb)
            out["color"].add(tools.color(arg).value == obj.color)
            out["shape"].add(tools.shape(arg).value == obj.shape)
            out["size"].add(tools.size(arg).value == obj.size)
            flt = Filter(obj.size, obj.color, obj.shape)
            truth = [b for o, b in zip(scene.objects, vboxes) if b is not None and matches(o, flt)]
            found = [tuple(int(v) for v in m) for m in _BOXES.findall(tools.find(obj.describe()).text)]
            out["find"].add(_same_boxes(found, truth))
            x1, y1, x2, y2 = vb
            out["crop"].add(np.array_equal(tools.crop(arg).crop, image[y1:y2, x1:x2]))
        rng = np.random.default_rng([seed, 0xC0])
        for _ in range(count_queries):
            flt = Filter(
                size=SIZES[int(rng.integers(2))] if rng.random() < 0.3 else None,
                color=rand_elem(rng, list(cfg.colors)) if rng.random() < 0.7 else None,
                shape=rand_elem(rng, SHAPES) if rng.random() < 0.6 else None,
            )
            want = sum(matches(o, flt) for o in scene.objects)
            out["count"].add(tools.count(flt.phrase()).value == want)
        margin = RELATION_MARGIN * max(scene.width, scene.height)
        for i, (a, ba) in enumerate(zip(scene.objects, vboxes)):
            for j, (b, bb) in enumerate(zip(scene.objects, vboxes)):
                if i == j or ba is None or bb is None:
                    continue
                horizontal, vertical = tools.relation(f"{format_box(ba)}, {format_box(bb)}").value
                if abs(a.cx - b.cx) >= margin:
                    out["relation"].add(horizontal == ("left" if a.cx < b.cx else "right"))
                if abs(a.cy - b.cy) >= margin:
                    out["relation"].add(vertical == ("above" if a.cy < b.cy else "below"))
    return dict(out)


def easy_vqa_image_labels(data: EasyVQAData) -> dict[int, dict[str, str]]:
    """Each image's colour and shape, read off the gold answers of its questions (see the module docstring)."""
    labels: dict[int, dict[str, str]] = defaultdict(dict)
    for q in data.questions:
        text, answer = q.text.lower(), q.answer
        if answer in SHAPES:
            labels[q.image_id]["shape"] = answer
        elif answer in COLORS:
            labels[q.image_id]["color"] = answer
        m = re.fullmatch(r"what is the (\w+) shape\?", text)
        if m and m.group(1) in COLORS:
            labels[q.image_id]["color"] = m.group(1)
        m = re.fullmatch(r"what (?:is the color of|color is) the (\w+)\?", text)
        if m and m.group(1) in SHAPES:
            labels[q.image_id]["shape"] = m.group(1)
    return dict(labels)


def easy_vqa_tool_accuracy(data: EasyVQAData, image_ids: Iterable[int] | None = None) -> dict[str, Tally]:
    """Measure ``find``, ``color`` and ``shape`` on easy-VQA images against the labels of their questions."""
    labels = easy_vqa_image_labels(data)
    out: dict[str, Tally] = defaultdict(Tally)
    ids = sorted({q.image_id for q in data.questions}) if image_ids is None else list(image_ids)
    for image_id in ids:
        tools = VisualTools(data.image(image_id))
        found = tools.find("object").found or ()
        out["find"].add(len(found) == 1)
        if not found:
            continue
        box = format_box(found[0])
        truth = labels.get(image_id, {})
        if "color" in truth:
            out["color"].add(tools.color(box).value == truth["color"])
        if "shape" in truth:
            out["shape"].add(tools.shape(box).value == truth["shape"])
    return dict(out)
