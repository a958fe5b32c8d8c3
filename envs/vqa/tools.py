"""The visual tools: text arguments in, text (and boxes, crops) out, computed on the image's pixels.

:class:`VisualTools` wraps one image. Its methods take the agent's argument text exactly as written inside
``tool[...]``, validate it (boxes out of range, swapped or negative coordinates, unknown colours and shapes
give an explanatory :class:`ToolResult` with ``error=True``), and answer from :func:`~toolgym.envs.vqa.vision.
analyze` (run once per image, lazily). No tool sees a scene description.

Boxes are ``[x1, y1, x2, y2]`` in pixels, x to the right and y downwards from the top-left corner, with
``0 <= x1 < x2 <= width`` and ``0 <= y1 < y2 <= height`` (x2 and y2 exclusive, as in ``image[y1:y2, x1:x2]``).
Box arguments may also be ``#k``: the k-th box listed by the last ``find``.

:data:`TOOL_TABLE` is the env's one tool table (placeholder, default price, call per tool); the grammar's
:data:`TOOLS` and the prices :data:`DEFAULT_TOOL_COSTS` are read from it.

Example:
    >>> from toolgym.envs.vqa.scene import SceneConfig, generate_scene, render_scene
    >>> tools = VisualTools(render_scene(generate_scene(SceneConfig(num_objects=(1, 1)), seed=0)))
    >>> tools.count("object").text
    'There is 1 object.'
    >>> print(tools.color("[0, 0, 500, 10]").text)
    Invalid box [0, 0, 500, 10]: x2=500 is beyond the image width 128. A box is [x1, y1, x2, y2] with
    0 <= x1 < x2 <= 128 and 0 <= y1 < y2 <= 128 (pixels, x to the right, y downwards).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from toolgym.costs import ToolCost
from toolgym.envs.vqa.questions import Filter
from toolgym.envs.vqa.vision import Analysis, Detection, analyze, classify_shape
from toolgym.envs.vqa.vocab import COLORS, GENERIC_NOUNS, SHAPES, SIZES, SYNONYMS, plural
from toolgym.error import did_you_mean

__all__ = [
    "ALIASES",
    "DEFAULT_TOOL_COSTS",
    "TOOLS",
    "TOOL_TABLE",
    "Box",
    "ToolResult",
    "VQATool",
    "VisualTools",
    "format_box",
    "parse_query",
    "zoom",
]

Box = tuple[int, int, int, int]

_FILLER = frozenset({"a", "an", "the", "any", "all", "of", "every", "each", "there", "in", "image"})
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_TOKEN = re.compile(r"#\d+|[+-]?\d+(?:\.\d+)?|[^\s\[\](),;:{}\"']+")


def format_box(box: Sequence[int]) -> str:
    """``[x1, y1, x2, y2]``."""
    return "[" + ", ".join(str(int(v)) for v in box) + "]"


@dataclass(frozen=True)
class ToolResult:
    """What a tool returns.

    Attributes:
        text: The observation text.
        boxes: Boxes to draw in the render (the found objects, the boxes looked at).
        error: The arguments were invalid; ``text`` says why and what to write instead.
        crop: For ``crop``, the cropped pixels (``None`` otherwise).
        crop_box: For ``crop``, the box cropped.
        found: For ``find``, the boxes that later ``#k`` references point to.
        value: The answer as a plain value (a count, a colour name...), for the image API.
    """

    text: str
    boxes: tuple[Box, ...] = ()
    error: bool = False
    crop: np.ndarray | None = field(default=None, repr=False, compare=False)
    crop_box: Box | None = None
    found: tuple[Box, ...] | None = None
    value: object = None


def parse_query(text: str) -> Filter | str:
    """Parse an object description such as ``"large red circles"``; return the :class:`Filter` or an error.

    Accepted words: a size (small, large), a colour (the names of :data:`~toolgym.envs.vqa.vocab.COLORS`), a
    shape (circle, rectangle, triangle, or plurals), generic nouns (object, shape, thing...) and fillers
    (a, the, any, all). An empty description means every object.

    Example:
        >>> parse_query("the Large grey circles")
        Filter(size='large', color='gray', shape='circle')
        >>> print(parse_query("purple circel"))
        Unknown word 'circel' in the description 'purple circel'. Did you mean: circle? Describe objects with ...
    """
    words = re.findall(r"[a-z]+", text.lower())
    found: dict[str, str] = {}
    for raw in words:
        word = SYNONYMS.get(raw, raw)
        if word in _FILLER or word in GENERIC_NOUNS:
            continue
        kind = "size" if word in SIZES else "color" if word in COLORS else "shape" if word in SHAPES else None
        if kind is None:
            hint = did_you_mean(word, [*SIZES, *COLORS, *SHAPES, "grey"])
            return (
                f"Unknown word {raw!r} in the description {text.strip()!r}.{hint} Describe objects with a size "
                f"({', '.join(SIZES)}), a colour ({', '.join(COLORS)}) and a shape ({', '.join(SHAPES)}), "
                "e.g. find[red circle] or find[large object]."
            )
        if kind in found and found[kind] != word:
            return (
                f"The description {text.strip()!r} names two {kind}s ({found[kind]!r} and {word!r}); "
                f"an object has one {kind}. Ask about each separately."
            )
        found[kind] = word
    return Filter(size=found.get("size"), color=found.get("color"), shape=found.get("shape"))


def zoom(crop: np.ndarray, height: int, width: int, fill: int = 255) -> np.ndarray:
    """Enlarge a crop by the largest whole factor that fits ``height x width`` and centre it on ``fill``.

    Whole-factor nearest-neighbour enlargement keeps every pixel's colour and every shape's proportions.
    """
    ch, cw = crop.shape[:2]
    k = max(1, min(height // max(ch, 1), width // max(cw, 1)))
    big = np.repeat(np.repeat(crop, k, axis=0), k, axis=1)
    out = np.full((height, width, 3), fill, dtype=np.uint8)
    oy, ox = (height - big.shape[0]) // 2, (width - big.shape[1]) // 2
    out[oy : oy + big.shape[0], ox : ox + big.shape[1]] = big
    return out


def _describe(flt: Filter, n: int) -> str:
    words = [w for w in (flt.size, flt.color) if w]
    if flt.shape:
        noun = flt.shape if n == 1 else plural(flt.shape)
    else:
        noun = "object" if n == 1 else "objects"
    return " ".join([*words, noun])


class VisualTools:
    """The visual tools over one image.

    Args:
        image: ``H x W x 3`` uint8 array (not copied; do not modify it afterwards).
        large_threshold: The larger side in pixels from which an object is large (default a quarter of the
            smaller image side).
    """

    def __init__(self, image: np.ndarray, large_threshold: float | None = None) -> None:
        """Wrap an image (the analysis runs on the first tool call)."""
        self.image = image
        self.height, self.width = int(image.shape[0]), int(image.shape[1])
        self.large_threshold = min(self.height, self.width) / 4 if large_threshold is None else large_threshold
        self._analysis: Analysis | None = None

    @property
    def analysis(self) -> Analysis:
        """The pixel analysis (computed once)."""
        if self._analysis is None:
            self._analysis = analyze(self.image, large_threshold=self.large_threshold)
        return self._analysis

    # ------------------------------------------------------------------ argument parsing
    def _range_text(self) -> str:
        w, h = self.width, self.height
        return (
            f"A box is [x1, y1, x2, y2] with 0 <= x1 < x2 <= {w} and 0 <= y1 < y2 <= {h} "
            "(pixels, x to the right, y downwards)."
        )

    def check_box(self, values: Sequence[float]) -> Box | str:
        """Validate four numbers as a box; return it or an error message."""
        shown = format_box([round(v) for v in values]) if all(math.isfinite(v) for v in values) else str(values)
        if any(not math.isfinite(v) for v in values):
            return f"Invalid box {shown}: coordinates must be finite numbers. {self._range_text()}"
        x1, y1, x2, y2 = (int(round(v)) for v in values)
        problems = []
        for name, v in (("x1", x1), ("y1", y1), ("x2", x2), ("y2", y2)):
            if v < 0:
                problems.append(f"{name}={v} is negative")
        if x2 > self.width:
            problems.append(f"x2={x2} is beyond the image width {self.width}")
        if y2 > self.height:
            problems.append(f"y2={y2} is beyond the image height {self.height}")
        if x1 >= self.width and x1 >= 0:
            problems.append(f"x1={x1} is beyond the image width {self.width}")
        if y1 >= self.height and y1 >= 0:
            problems.append(f"y1={y1} is beyond the image height {self.height}")
        if x1 > x2 or y1 > y2:
            fixed = format_box([min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)])
            problems.append(f"the corners are swapped (did you mean {fixed}?)")
        elif x1 == x2 or y1 == y2:
            problems.append("the box is empty (x1 must be below x2 and y1 below y2)")
        if problems:
            return f"Invalid box {shown}: {'; '.join(problems)}. {self._range_text()}"
        return (x1, y1, x2, y2)

    def parse_boxes(self, text: str, count: int, refs: Sequence[Box] = ()) -> list[Box] | str:
        """Parse ``count`` boxes from an argument text (numbers in fours, or ``#k`` references).

        Args:
            text: The argument, e.g. ``"10, 20, 30, 40"``, ``"[10, 20, 30, 40], #2"`` or a JSON object/list.
            count: How many boxes the tool takes.
            refs: The boxes of the last ``find`` (``#1`` is the first).

        Returns:
            The boxes, or an error message.
        """
        what = "a box" if count == 1 else f"{count} boxes"
        example = "[x1, y1, x2, y2]" if count == 1 else "[x1, y1, x2, y2], [x1, y1, x2, y2]"
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                obj = json.loads(stripped)
            except json.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                stripped = " ".join(json.dumps(v) if not isinstance(v, str) else v for v in obj.values())
        tokens = _TOKEN.findall(stripped)
        boxes: list[Box] = []
        numbers: list[float] = []
        for tok in tokens:
            if tok.startswith("#"):
                if numbers:
                    return (
                        f"Invalid arguments {text.strip()!r}: a box needs 4 numbers, got {len(numbers)} before {tok}."
                    )
                k = int(tok[1:])
                if not refs:
                    return f"Invalid reference {tok}: there is no earlier find[...] result to refer to; give {example}."
                if not 1 <= k <= len(refs):
                    return f"Invalid reference {tok}: the last find[...] listed #1 to #{len(refs)}."
                boxes.append(refs[k - 1])
            elif _NUMBER.match(tok):
                numbers.append(float(tok))
                if len(numbers) == 4:
                    checked = self.check_box(numbers)
                    if isinstance(checked, str):
                        return checked
                    boxes.append(checked)
                    numbers = []
            else:
                return (
                    f"Invalid arguments {text.strip()!r}: expected {what} as {example} (or #k for the k-th box of "
                    f"the last find), got the word {tok!r}."
                )
        if numbers:
            return f"Invalid arguments {text.strip()!r}: a box needs 4 numbers [x1, y1, x2, y2], got {len(numbers)}."
        if len(boxes) != count:
            return f"Invalid arguments {text.strip()!r}: expected {what} ({example}), got {len(boxes)}."
        return boxes

    # ------------------------------------------------------------------ tools
    def find_objects(self, flt: Filter) -> list[Detection]:
        """The detections that fit a description (top to bottom, then left to right)."""
        return [
            d
            for d in self.analysis.detections
            if (flt.color is None or d.color == flt.color)
            and (flt.shape is None or d.shape == flt.shape)
            and (flt.size is None or d.size == flt.size)
        ]

    def find(self, query: str) -> ToolResult:
        """``find[description]``: the boxes of the objects that fit, numbered ``#1``, ``#2``..."""
        flt = parse_query(query)
        if isinstance(flt, str):
            return ToolResult(flt, error=True)
        dets = self.find_objects(flt)
        boxes = tuple(d.box for d in dets)
        if not dets:
            return ToolResult(f"Found no {_describe(flt, 1)}.", found=(), value=[])
        listed = ", ".join(f"#{i} {format_box(b)}" for i, b in enumerate(boxes, start=1))
        return ToolResult(
            f"Found {len(dets)} {_describe(flt, len(dets))}: {listed}.", boxes=boxes, found=boxes, value=list(boxes)
        )

    def count(self, query: str) -> ToolResult:
        """``count[description]``: how many objects fit."""
        flt = parse_query(query)
        if isinstance(flt, str):
            return ToolResult(flt, error=True)
        dets = self.find_objects(flt)
        n = len(dets)
        text = f"There is 1 {_describe(flt, 1)}." if n == 1 else f"There are {n} {_describe(flt, n)}."
        return ToolResult(text, boxes=tuple(d.box for d in dets), value=n)

    def _one_box(self, argument: str, refs: Sequence[Box]) -> Box | ToolResult:
        parsed = self.parse_boxes(argument, 1, refs)
        if isinstance(parsed, str):
            return ToolResult(parsed, error=True)
        return parsed[0]

    def _dominant(self, box: Box) -> Detection | None:
        return self.analysis.dominant(box)

    def _object_in(self, argument: str, refs: Sequence[Box]) -> tuple[Box, Detection] | ToolResult:
        """The box named by ``argument`` and its main object, or the result to return (a bad box, no object)."""
        box = self._one_box(argument, refs)
        if isinstance(box, ToolResult):
            return box
        det = self._dominant(box)
        return self._empty(box) if det is None else (box, det)

    def _empty(self, box: Box) -> ToolResult:
        bg = self.analysis.background
        return ToolResult(
            f"No object in {format_box(box)}: it shows only background (RGB {bg[0]}, {bg[1]}, {bg[2]}).",
            boxes=(box,),
            value=None,
        )

    def color(self, argument: str, refs: Sequence[Box] = ()) -> ToolResult:
        """``color[box]``: the colour name of the main object in the box."""
        found = self._object_in(argument, refs)
        if isinstance(found, ToolResult):
            return found
        box, det = found
        return ToolResult(f"The object in {format_box(box)} is {det.color}.", boxes=(box,), value=det.color)

    def shape(self, argument: str, refs: Sequence[Box] = ()) -> ToolResult:
        """``shape[box]``: the shape of the main object's pixels inside the box."""
        found = self._object_in(argument, refs)
        if isinstance(found, ToolResult):
            return found
        box, det = found
        part = self.analysis.mask_in_box(det, box)
        # The whole object (or nearly: a box drawn by hand may shave its rim) is named as a whole, with the
        # occlusion-aware fit; a box that cuts the object is named by the part it shows.
        shape = det.shape if part.sum() >= 0.9 * det.area else classify_shape(part)
        return ToolResult(f"The object in {format_box(box)} is a {shape}.", boxes=(box,), value=shape)

    def size(self, argument: str, refs: Sequence[Box] = ()) -> ToolResult:
        """``size[box]``: small or large, from the main object's visible extent inside the box."""
        found = self._object_in(argument, refs)
        if isinstance(found, ToolResult):
            return found
        box, det = found
        mask = self.analysis.mask_in_box(det, box)
        ys, xs = np.nonzero(mask)
        w, h = int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1
        label = "large" if max(w, h) >= self.large_threshold else "small"
        return ToolResult(
            f"The object in {format_box(box)} is {label}: {w}x{h} pixels visible, {int(mask.sum())} pixels in area "
            f"(large means a side of at least {self.large_threshold:g} pixels).",
            boxes=(box,),
            value=label,
        )

    def _center(self, box: Box) -> tuple[float, float]:
        det = self._dominant(box)
        if det is None:
            return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        ys, xs = np.nonzero(self.analysis.mask_in_box(det, box))
        return (box[0] + float(xs.mean()) + 0.5, box[1] + float(ys.mean()) + 0.5)

    def relation(self, argument: str, refs: Sequence[Box] = ()) -> ToolResult:
        """``relation[box_a, box_b]``: where A's object lies relative to B's (left/right, above/below)."""
        parsed = self.parse_boxes(argument, 2, refs)
        if isinstance(parsed, str):
            return ToolResult(parsed, error=True)
        a, b = parsed
        (ax, ay), (bx, by) = self._center(a), self._center(b)
        dx, dy = ax - bx, ay - by
        parts = []
        horizontal = "left" if dx < -0.5 else "right" if dx > 0.5 else "level"
        vertical = "above" if dy < -0.5 else "below" if dy > 0.5 else "level"
        parts.append(
            "level horizontally with" if horizontal == "level" else f"to the {horizontal} of (by {abs(dx):.0f} pixels)"
        )
        parts.append("level vertically with" if vertical == "level" else f"{vertical} (by {abs(dy):.0f} pixels)")
        text = f"The object in {format_box(a)} is {parts[0]} and {parts[1]} the object in {format_box(b)}."
        return ToolResult(text, boxes=(a, b), value=(horizontal, vertical))

    def crop(self, argument: str, refs: Sequence[Box] = ()) -> ToolResult:
        """``crop[box]``: cut out the box; the pixels come back as an image (shown enlarged)."""
        box = self._one_box(argument, refs)
        if isinstance(box, ToolResult):
            return box
        x1, y1, x2, y2 = box
        pixels = np.array(self.image[y1:y2, x1:x2], dtype=np.uint8)
        k = max(1, min(self.height // (y2 - y1), self.width // (x2 - x1)))
        return ToolResult(
            f"Cropped {format_box(box)} ({x2 - x1}x{y2 - y1} pixels); the observation's crop image shows it "
            f"enlarged {k}x.",
            boxes=(box,),
            crop=pixels,
            crop_box=box,
            value=box,
        )


@dataclass(frozen=True)
class VQATool:
    """One row of the VQA env's tool table.

    Attributes:
        argument: The argument's placeholder in the bracket grammar (``"box"``), or None for an action that is
            not a bracket tool (``program``: a fenced code block).
        cost: The default price; latencies are the nominal (charged) ones, near the measured medians.
        run: ``run(tools, argument, refs)`` calls the tool on :class:`VisualTools` (``refs``: the boxes that
            ``#k`` names); None for ``answer`` and ``program``, which the env handles itself.
        boxes: Whether the argument is boxes (a JSON call's ``args`` list is joined into the argument).
    """

    argument: str | None
    cost: ToolCost
    run: Callable[[VisualTools, str, Sequence[Box]], ToolResult] | None = None
    boxes: bool = False


def _find(tools: VisualTools, argument: str, refs: Sequence[Box]) -> ToolResult:
    return tools.find(argument)


def _count(tools: VisualTools, argument: str, refs: Sequence[Box]) -> ToolResult:
    return tools.count(argument)


#: The VQA tools: name -> placeholder, default price and call. ``answer`` is free; ``program`` is one run of a
#: program in program mode (its image-API calls are priced as the tools they call).
TOOL_TABLE: Mapping[str, VQATool] = {
    "find": VQATool("description", ToolCost(per_call=0.02, nominal_latency_s=0.01), _find),
    "count": VQATool("description", ToolCost(per_call=0.02, nominal_latency_s=0.01), _count),
    "color": VQATool("box", ToolCost(per_call=0.01, nominal_latency_s=0.001), VisualTools.color, boxes=True),
    "shape": VQATool("box", ToolCost(per_call=0.01, nominal_latency_s=0.001), VisualTools.shape, boxes=True),
    "size": VQATool("box", ToolCost(per_call=0.01, nominal_latency_s=0.001), VisualTools.size, boxes=True),
    "relation": VQATool(
        "box_a, box_b", ToolCost(per_call=0.005, nominal_latency_s=0.001), VisualTools.relation, boxes=True
    ),
    "crop": VQATool("box", ToolCost(per_call=0.005, nominal_latency_s=0.0005), VisualTools.crop, boxes=True),
    "program": VQATool(None, ToolCost(per_call=0.05, nominal_latency_s=0.05)),
    "answer": VQATool("answer", ToolCost()),
}
#: The tools of the bracket grammar and their argument placeholders (aliases map to these names).
TOOLS: Mapping[str, str] = {name: t.argument for name, t in TOOL_TABLE.items() if t.argument is not None}
#: Default prices, from :data:`TOOL_TABLE`.
DEFAULT_TOOL_COSTS: Mapping[str, ToolCost] = {name: t.cost for name, t in TOOL_TABLE.items()}
#: Other names the grammar accepts for a tool.
ALIASES: Mapping[str, str] = {"colour": "color", "finish": "answer"}
