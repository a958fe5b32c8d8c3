"""The image API for programs (program mode): a ViperGPT / Re-ReST style ``ImagePatch`` over the visual tools.

A program receives ``image`` (an ``H x W x 3`` uint8 array) and answers the question, typically by defining
``execute_command(image)``, the signature of ViperGPT and Re-ReST's GQA prompt::

    def execute_command(image) -> str:
        image_patch = ImagePatch(image)
        circles = image_patch.find("red circle")
        if len(circles) == 0:
            return "no"
        return bool_to_yesno(circles[0].horizontal_center < image_patch.horizontal_center)

Coordinates follow ViperGPT: ``left``/``right`` count pixels from the left edge and ``lower``/``upper`` count
pixels **from the bottom** edge (y up), so a larger ``vertical_center`` is higher in the image. (The env's text
tools use image coordinates instead, y down from the top; :meth:`ImagePatch.box` converts.)

Every method calls the same pixel tools as the env (:mod:`toolgym.envs.vqa.tools`); nothing reads a scene
description. Calls are counted per tool in :attr:`Session.calls` so the env can price them.

Example:
    >>> from toolgym.envs.vqa.scene import Scene, SceneObject, render_scene
    >>> red = SceneObject("circle", "red", "large", 30, 30, 40, 40, (255, 0, 0))
    >>> blue = SceneObject("triangle", "blue", "small", 100, 100, 16, 14, (0, 0, 255))
    >>> image = render_scene(Scene(128, 128, (240, 240, 240), (red, blue)))
    >>> patch = ImagePatch(image)
    >>> [(p.color(), p.shape()) for p in patch.find("object")]
    [('red', 'circle'), ('blue', 'triangle')]
    >>> patch.find("circle")[0].vertical_center > patch.find("triangle")[0].vertical_center  # y up
    True
    >>> patch.simple_query("How many objects are there?")
    '2'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from toolgym.envs.vqa.questions import Filter
from toolgym.envs.vqa.tools import VisualTools, parse_query
from toolgym.envs.vqa.vision import Detection, classify_shape
from toolgym.envs.vqa.vocab import COLORS, SHAPES, SIZES, SYNONYMS

__all__ = ["ImagePatch", "Session", "TrackedImage", "bool_to_yesno", "distance"]


class Session:
    """The visual tools shared by every patch of one image, and the count of tool calls made through them.

    Args:
        image: The whole image.
        large_threshold: The size tool's threshold in pixels (default a quarter of the image side).
    """

    def __init__(self, image: np.ndarray, large_threshold: float | None = None) -> None:
        """Wrap the image."""
        self.tools = VisualTools(np.asarray(image, dtype=np.uint8), large_threshold)
        self.calls: Counter[str] = Counter()

    def count_call(self, tool: str) -> None:
        """Record one call of ``tool``."""
        self.calls[tool] += 1


def bool_to_yesno(bool_answer: bool) -> str:
    """``"yes"`` or ``"no"``."""
    return "yes" if bool_answer else "no"


def distance(patch_a: ImagePatch, patch_b: ImagePatch) -> float:
    """The distance in pixels between two patches' boxes (0 when they overlap)."""
    dx = max(patch_a.left - patch_b.right, patch_b.left - patch_a.right, 0)
    dy = max(patch_a.lower - patch_b.upper, patch_b.lower - patch_a.upper, 0)
    return float((dx**2 + dy**2) ** 0.5)


def _filter_words(text: str) -> Filter | None:
    flt = parse_query(text)
    return flt if isinstance(flt, Filter) else None


class ImagePatch:
    """A region of the image, with the methods of ViperGPT's ``ImagePatch`` backed by pixel tools.

    Args:
        image: The whole image (``H x W x 3`` uint8), or a :class:`Session` over it.
        left: Left edge (pixels from the left), default 0.
        lower: Bottom edge (pixels from the bottom), default 0.
        right: Right edge (exclusive), default the width.
        upper: Top edge (pixels from the bottom, exclusive), default the height.

    Attributes:
        cropped_image: The region's pixels (``upper - lower`` rows by ``right - left`` columns).
        left, lower, right, upper, width, height, horizontal_center, vertical_center: The geometry.
    """

    def __init__(
        self,
        image: np.ndarray | Session,
        left: int | None = None,
        lower: int | None = None,
        right: int | None = None,
        upper: int | None = None,
    ) -> None:
        """Make a patch (the whole image when no coordinates are given)."""
        self.session = image if isinstance(image, Session) else _default_session(image)
        tools = self.session.tools
        h, w = tools.height, tools.width
        left = 0 if left is None else int(left)
        lower = 0 if lower is None else int(lower)
        right = w if right is None else int(right)
        upper = h if upper is None else int(upper)
        self.left, self.right = max(0, min(left, right)), min(w, max(left, right))
        self.lower, self.upper = max(0, min(lower, upper)), min(h, max(lower, upper))
        if self.right <= self.left or self.upper <= self.lower:
            raise ValueError(
                f"ImagePatch: expected a non-empty region inside the {w}x{h} image, got left={left}, lower={lower}, "
                f"right={right}, upper={upper} (lower/upper count from the bottom)."
            )
        self.width = self.right - self.left
        self.height = self.upper - self.lower
        self.horizontal_center = (self.left + self.right) / 2
        self.vertical_center = (self.lower + self.upper) / 2
        x1, y1, x2, y2 = self.box
        self.cropped_image = np.array(tools.image[y1:y2, x1:x2], dtype=np.uint8)

    def __repr__(self) -> str:
        return f"ImagePatch(left={self.left}, lower={self.lower}, right={self.right}, upper={self.upper})"

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The region in image coordinates ``(x1, y1, x2, y2)``, y down from the top (the text tools' boxes)."""
        h = self.session.tools.height
        return (self.left, h - self.upper, self.right, h - self.lower)

    def _patch_of(self, det: Detection) -> ImagePatch:
        h = self.session.tools.height
        x1, y1, x2, y2 = det.box
        return ImagePatch(self.session, x1, h - y2, x2, h - y1)

    def _detections(self, flt: Filter) -> list[Detection]:
        x1, y1, x2, y2 = self.box
        out = []
        for det in self.session.tools.find_objects(flt):
            cx, cy = det.centroid
            if x1 <= cx < x2 and y1 <= cy < y2:
                out.append(det)
        return out

    def _main(self) -> Detection | None:
        return self.session.tools.analysis.dominant(self.box)

    # ------------------------------------------------------------------ ViperGPT methods
    def find(self, object_name: str) -> list[ImagePatch]:
        """Patches around the objects in this patch that fit ``object_name`` (e.g. ``"red circle"``).

        Unknown words (not a colour, shape, size or generic noun) find nothing.
        """
        self.session.count_call("find")
        flt = _filter_words(object_name)
        if flt is None:
            return []
        return [self._patch_of(d) for d in self._detections(flt)]

    def exists(self, object_name: str) -> bool:
        """Whether an object that fits ``object_name`` is in this patch."""
        return len(self.find(object_name)) > 0

    def count(self, object_name: str) -> int:
        """How many objects in this patch fit ``object_name``."""
        return len(self.find(object_name))

    def color(self) -> str:
        """The colour of the main object in this patch (``""`` when it shows only background)."""
        self.session.count_call("color")
        det = self._main()
        return det.color if det else ""

    def shape(self) -> str:
        """The shape of the main object in this patch (``""`` when it shows only background)."""
        self.session.count_call("shape")
        det = self._main()
        if det is None:
            return ""
        x1, y1, x2, y2 = self.box
        inside = det.box[0] >= x1 and det.box[1] >= y1 and det.box[2] <= x2 and det.box[3] <= y2
        return det.shape if inside else classify_shape(self.session.tools.analysis.mask_in_box(det, self.box))

    def size(self) -> str:
        """``"small"`` or ``"large"`` for the main object in this patch (``""`` when only background)."""
        self.session.count_call("size")
        det = self._main()
        if det is None:
            return ""
        mask = self.session.tools.analysis.mask_in_box(det, self.box)
        ys, xs = np.nonzero(mask)
        side = max(int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1)
        return "large" if side >= self.session.tools.large_threshold else "small"

    def verify_property(self, object_name: str, property: str) -> bool:  # noqa: A002 - ViperGPT's name
        """Whether an object named ``object_name`` in this patch has ``property`` (a colour, shape or size)."""
        prop = SYNONYMS.get(property.strip().lower(), property.strip().lower())
        flt = _filter_words(object_name) or Filter()
        kind = "color" if prop in COLORS else "shape" if prop in SHAPES else "size" if prop in SIZES else None
        if kind is None:
            return False
        self.session.count_call("find")
        dets = self._detections(flt)
        if not dets:
            main = self._main()
            dets = [main] if main is not None else []
        return any(getattr(d, kind) == prop for d in dets)

    def best_text_match(self, option_list: Sequence[str], prefix: str | None = None) -> str:
        """The option whose colour/shape/size words best fit the main object (the first on a tie)."""
        if not option_list:
            raise ValueError("best_text_match: expected at least one option, got an empty list.")
        det = self._main()
        self.session.count_call("color")
        if det is None:
            return str(option_list[0])
        attrs = {det.color, det.shape, det.size}

        def score(option: str) -> int:
            words = {SYNONYMS.get(w, w) for w in re.findall(r"[a-z]+", option.lower())}
            return len(words & attrs)

        return str(max(option_list, key=score))

    def simple_query(self, question: str | None = None) -> str:
        """Answer a simple question about this patch with the tools.

        Understood forms: "what color / shape / size ...", "how many <description> ...", "is there / are
        there <description> ...". Anything else (or no question) answers "what is this?" with the main
        object's colour and shape, e.g. ``"red circle"``.
        """
        q = (question or "").strip().lower()
        if re.search(r"\b(?:colou?r)\b", q) and q.startswith(("what", "which")):
            return self.color()
        if re.search(r"\bshape\b", q) and q.startswith(("what", "which")):
            return self.shape()
        if re.search(r"\bsize\b", q) and q.startswith(("what", "which")):
            return self.size()
        m = re.match(r"how many (.+?)(?: are there| are in| in| do| does|\?|$)", q)
        if m:
            return str(self.count(m.group(1)))
        m = re.match(r"(?:is|are) there (?:a |an |any )?(.+?)(?: in the image)?\??$", q)
        if m:
            return bool_to_yesno(self.exists(m.group(1)))
        det = self._main()
        self.session.count_call("color")
        return f"{det.color} {det.shape}" if det else "background"

    def crop(self, left: int, lower: int, right: int, upper: int) -> ImagePatch:
        """A patch of this patch (coordinates relative to this patch, y up)."""
        self.session.count_call("crop")
        return ImagePatch(self.session, self.left + left, self.lower + lower, self.left + right, self.lower + upper)

    def overlaps_with(self, left: int, lower: int, right: int, upper: int) -> bool:
        """Whether this patch overlaps the given box (same coordinates)."""
        return self.left < right and left < self.right and self.lower < upper and lower < self.upper

    def llm_query(self, question: str, long_answer: bool = True) -> str:
        """Not available here (no language model): answers like :meth:`simple_query`."""
        return self.simple_query(question)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, ImagePatch) and self.box == other.box and self.session is other.session

    def __hash__(self) -> int:
        return hash(self.box)


class TrackedImage(np.ndarray):
    """An image array that carries its :class:`Session`.

    Every ``ImagePatch(image)`` of a ``TrackedImage`` shares one analysis and one call count. The program
    harness hands programs a ``TrackedImage``; any other array gets a session of its own.
    """

    session: Session | None = None

    def __array_finalize__(self, obj: Any) -> None:
        self.session = getattr(obj, "session", None)

    @classmethod
    def wrap(cls, image: np.ndarray, large_threshold: float | None = None) -> TrackedImage:
        """A read-only view of ``image`` with a fresh session."""
        view = np.asarray(image, dtype=np.uint8).view(cls)
        view.flags.writeable = False
        view.session = Session(np.asarray(image, dtype=np.uint8), large_threshold)
        return view


def _default_session(image: np.ndarray) -> Session:
    session = getattr(image, "session", None)
    if isinstance(session, Session) and session.tools.image.shape == image.shape:
        return session
    return Session(np.asarray(image, dtype=np.uint8))
