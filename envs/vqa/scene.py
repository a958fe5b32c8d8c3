"""Procedural CLEVR-style scenes: flat coloured shapes on a light background, rendered with Pillow.

A :class:`Scene` is the *description* (the privileged state the oracle reads): every object's shape, colour,
size class, position and extent. :func:`generate_scene` draws one from a seeded generator under the difficulty
knobs of a :class:`SceneConfig`, and :func:`render_scene` turns it into an ``H x W x 3`` uint8 image
(anti-aliased by 4x supersampling, then optional Gaussian pixel noise). Same seed, same scene, same pixels.

Example:
    >>> scene = generate_scene(SceneConfig(), seed=3)
    >>> image = render_scene(scene)
    >>> image.shape, image.dtype.name
    ((128, 128, 3), 'uint8')
    >>> generate_scene(SceneConfig(), seed=3) == scene
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from toolgym.envs.vqa.vocab import COLORS, SHAPES, SIZES
from toolgym.error import ConfigError
from toolgym.rng import rand_elem

__all__ = [
    "DIFFICULTIES",
    "Scene",
    "SceneConfig",
    "SceneObject",
    "generate_scene",
    "object_mask",
    "render_scene",
    "scene_summary",
    "visible_box",
    "visible_labels",
]

_SUPERSAMPLE = 4


@dataclass(frozen=True)
class SceneObject:
    """One object of a scene.

    Attributes:
        shape: ``"circle"``, ``"rectangle"`` or ``"triangle"`` (an isosceles triangle pointing up).
        color: The colour name (a key of :data:`~toolgym.envs.vqa.vocab.COLORS`).
        size: ``"small"`` or ``"large"``.
        cx: Centre x in pixels (x grows to the right).
        cy: Centre y in pixels (y grows downwards).
        width: Full width in pixels (before any occlusion).
        height: Full height in pixels.
        rgb: The colour actually drawn (the named colour plus the scene's colour jitter).
        visible: The fraction of the object's pixels not hidden by objects drawn after it.
    """

    shape: str
    color: str
    size: str
    cx: float
    cy: float
    width: float
    height: float
    rgb: tuple[int, int, int]
    visible: float = 1.0

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The full extent as ``(x1, y1, x2, y2)`` pixel bounds (x2, y2 exclusive)."""
        return (
            math.floor(self.cx - self.width / 2),
            math.floor(self.cy - self.height / 2),
            math.ceil(self.cx + self.width / 2),
            math.ceil(self.cy + self.height / 2),
        )

    @property
    def area(self) -> float:
        """The full (unoccluded) area in square pixels."""
        if self.shape == "circle":
            return math.pi * self.width * self.height / 4
        if self.shape == "triangle":
            return self.width * self.height / 2
        return self.width * self.height

    def describe(self) -> str:
        """``"large red circle"``."""
        return f"{self.size} {self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """A scene description: the image size, the background and the objects in drawing order (back to front).

    Attributes:
        width: Image width in pixels.
        height: Image height in pixels.
        background: The background RGB colour.
        objects: The objects, back to front.
        noise: Standard deviation of the Gaussian pixel noise added after rendering (0-255 scale).
        seed: Seeds the noise, so rendering is deterministic.
    """

    width: int
    height: int
    background: tuple[int, int, int]
    objects: tuple[SceneObject, ...]
    noise: float = 0.0
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scene:
        """Rebuild a scene from :meth:`to_dict`."""
        objects = tuple(SceneObject(**{**o, "rgb": tuple(o["rgb"])}) for o in data["objects"])
        return cls(
            width=int(data["width"]),
            height=int(data["height"]),
            background=tuple(data["background"]),
            objects=objects,
            noise=float(data.get("noise", 0.0)),
            seed=int(data.get("seed", 0)),
        )


@dataclass(frozen=True)
class SceneConfig:
    """The difficulty knobs of generated scenes.

    Attributes:
        image_size: Width and height of the (square) image in pixels.
        num_objects: Inclusive range of the number of objects.
        colors: The colour names to draw from.
        shapes: The shape names to draw from.
        small: Range of a small object's larger side, as a fraction of the image size.
        large: Range of a large object's larger side, as a fraction of the image size.
        occlusion: The largest fraction of an object that later objects may hide (0: objects never overlap).
            Objects of the same colour never touch, whatever this value: flat shapes of one colour that
            overlap merge into one blob, and their count would be ill-defined.
        noise: Standard deviation of Gaussian pixel noise (0-255 scale).
        color_jitter: Each object's RGB channels are shifted by up to this much from the named colour.
        gap: Minimum gap in pixels between non-overlapping objects.
    """

    image_size: int = 128
    num_objects: tuple[int, int] = (3, 6)
    colors: tuple[str, ...] = tuple(COLORS)
    shapes: tuple[str, ...] = SHAPES
    small: tuple[float, float] = (0.10, 0.15)
    large: tuple[float, float] = (0.22, 0.30)
    occlusion: float = 0.0
    noise: float = 0.0
    color_jitter: int = 0
    gap: int = 3

    def __post_init__(self) -> None:
        lo, hi = self.num_objects
        if not (isinstance(self.image_size, (int, np.integer)) and 32 <= self.image_size <= 1024):
            raise ConfigError(f"image_size: expected an integer in [32, 1024], got {self.image_size!r}.")
        if not (1 <= lo <= hi <= 20):
            raise ConfigError(f"num_objects: expected (lo, hi) with 1 <= lo <= hi <= 20, got {self.num_objects!r}.")
        bad = [c for c in self.colors if c not in COLORS]
        if bad or not self.colors:
            raise ConfigError(f"colors: expected names among {list(COLORS)}, got {list(self.colors)!r}.")
        bad = [s for s in self.shapes if s not in SHAPES]
        if bad or not self.shapes:
            raise ConfigError(f"shapes: expected names among {list(SHAPES)}, got {list(self.shapes)!r}.")
        if not (0 < self.small[0] <= self.small[1] < self.large[0] <= self.large[1] <= 0.6):
            raise ConfigError(
                f"small/large: expected 0 < small[0] <= small[1] < large[0] <= large[1] <= 0.6, "
                f"got small={self.small!r}, large={self.large!r}."
            )
        if not 0.0 <= self.occlusion <= 0.6:
            raise ConfigError(f"occlusion: expected a fraction in [0, 0.6], got {self.occlusion!r}.")
        if not 0.0 <= self.noise <= 64:
            raise ConfigError(f"noise: expected a standard deviation in [0, 64], got {self.noise!r}.")
        if not 0 <= self.color_jitter <= 48:
            raise ConfigError(f"color_jitter: expected an integer in [0, 48], got {self.color_jitter!r}.")

    @property
    def large_threshold(self) -> float:
        """The larger side (in pixels) that separates small from large: midway between the two ranges."""
        return (self.small[1] + self.large[0]) / 2 * self.image_size


#: Difficulty presets for :class:`SceneConfig` (``ShapesVQAEnv(difficulty=...)``).
DIFFICULTIES: Mapping[str, SceneConfig] = {
    "easy": SceneConfig(num_objects=(1, 3)),
    "medium": SceneConfig(num_objects=(3, 6), noise=4.0, color_jitter=8),
    "hard": SceneConfig(num_objects=(5, 8), occlusion=0.3, noise=10.0, color_jitter=16),
}


def _polygon(shape: str, cx: float, cy: float, w: float, h: float, scale: float = 1.0) -> list[tuple[float, float]]:
    x1, y1, x2, y2 = (cx - w / 2) * scale, (cy - h / 2) * scale, (cx + w / 2) * scale, (cy + h / 2) * scale
    if shape == "triangle":
        return [(x1, y2), (x2, y2), ((x1 + x2) / 2, y1)]
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


def _draw(draw: ImageDraw.ImageDraw, obj: SceneObject, fill: Any, scale: float) -> None:
    if obj.shape == "circle":
        s = scale
        box = [(obj.cx - obj.width / 2) * s, (obj.cy - obj.height / 2) * s]
        box += [(obj.cx + obj.width / 2) * s - 1, (obj.cy + obj.height / 2) * s - 1]
        draw.ellipse(box, fill=fill)
    else:
        pts = _polygon(obj.shape, obj.cx, obj.cy, obj.width, obj.height, scale)
        if obj.shape == "rectangle":
            (x1, y1), (x2, y2) = pts[0], pts[2]
            draw.rectangle([x1, y1, x2 - 1, y2 - 1], fill=fill)
        else:
            draw.polygon(pts, fill=fill)


def object_mask(obj: SceneObject, width: int, height: int) -> np.ndarray:
    """The pixels an object covers (before occlusion), as a boolean ``height x width`` array."""
    img = Image.new("L", (width * _SUPERSAMPLE, height * _SUPERSAMPLE), 0)
    _draw(ImageDraw.Draw(img), obj, 255, _SUPERSAMPLE)
    small = np.asarray(img.resize((width, height), Image.Resampling.BOX))
    return small >= 128


def _fits(box: tuple[int, int, int, int], other: tuple[int, int, int, int], gap: int) -> bool:
    return box[2] + gap <= other[0] or other[2] + gap <= box[0] or box[3] + gap <= other[1] or other[3] + gap <= box[1]


def _still_visible(visible: np.ndarray, own: np.ndarray, occlusion: float) -> bool:
    """Enough of the object shows, in one piece (an object cut in two would read as two objects)."""
    if visible.sum() < (1 - occlusion) * own.sum():
        return False
    _, pieces = ndimage.label(visible, structure=np.ones((3, 3), dtype=bool))
    return pieces == 1


def generate_scene(config: SceneConfig, seed: int) -> Scene:
    """Draw a scene deterministically from ``seed`` under ``config``'s knobs.

    Objects are placed one by one at random positions fully inside the image. Without occlusion they keep
    ``config.gap`` pixels apart; with occlusion a new object (drawn in front) may overlap earlier ones of other
    colours as long as each keeps at least ``1 - config.occlusion`` of its pixels visible, in one piece. An
    object that finds no place in 200 tries is dropped, so a crowded scene may hold fewer objects than drawn.

    Args:
        config: The difficulty knobs.
        seed: Any non-negative integer.

    Returns:
        The scene.
    """
    rng = np.random.default_rng([int(seed), 0x5CE7E])
    size = config.image_size
    n = int(rng.integers(config.num_objects[0], config.num_objects[1] + 1))
    background = tuple(int(v) for v in rng.integers(225, 256, size=3))
    objects: list[SceneObject] = []
    masks: list[np.ndarray] = []  # each placed object's own pixels
    owner = np.full((size, size), -1, dtype=np.int16)  # which object is visible at each pixel
    for _ in range(n):
        shape = str(rand_elem(rng, config.shapes))
        color = str(rand_elem(rng, config.colors))
        size_class = rand_elem(rng, SIZES)
        lo, hi = config.small if size_class == "small" else config.large
        side = float(rng.uniform(lo, hi)) * size
        if shape == "circle":
            w = h = side
        elif shape == "rectangle":
            other = side * float(rng.uniform(0.55, 1.0))
            w, h = (side, other) if rng.random() < 0.5 else (other, side)
        else:
            w, h = side, side * float(rng.uniform(0.75, 1.0))
        jitter = rng.integers(-config.color_jitter, config.color_jitter + 1, size=3) if config.color_jitter else 0
        r, g, b = (int(v) for v in np.clip(np.array(COLORS[color]) + jitter, 0, 255))
        rgb = (r, g, b)
        for _try in range(200):
            cx = float(rng.uniform(w / 2 + 1, size - w / 2 - 1))
            cy = float(rng.uniform(h / 2 + 1, size - h / 2 - 1))
            obj = SceneObject(shape, color, size_class, round(cx, 2), round(cy, 2), round(w, 2), round(h, 2), rgb)
            box = obj.box
            ok = True
            for prev in objects:
                if config.occlusion <= 0 or prev.color == color:
                    ok = _fits(box, prev.box, config.gap)
                if not ok:
                    break
            if not ok:
                continue
            mask = object_mask(obj, size, size)
            if config.occlusion > 0:
                trial = owner.copy()
                trial[mask] = len(objects)
                if any(not _still_visible(trial == i, m, config.occlusion) for i, m in enumerate(masks)):
                    continue
                owner = trial
            else:
                owner[mask] = len(objects)
            objects.append(obj)
            masks.append(mask)
            break
    final = [
        SceneObject(**{**asdict(o), "rgb": o.rgb, "visible": round(float((owner == i).sum() / max(1, m.sum())), 4)})
        for i, (o, m) in enumerate(zip(objects, masks))
    ]
    return Scene(size, size, background, tuple(final), float(config.noise), int(seed))  # type: ignore[arg-type]


def render_scene(scene: Scene) -> np.ndarray:
    """Render a scene to a fresh ``height x width x 3`` uint8 array (anti-aliased, then noise if any)."""
    img = Image.new("RGB", (scene.width * _SUPERSAMPLE, scene.height * _SUPERSAMPLE), tuple(scene.background))
    draw = ImageDraw.Draw(img)
    for obj in scene.objects:
        _draw(draw, obj, tuple(obj.rgb), _SUPERSAMPLE)
    out = np.asarray(img.resize((scene.width, scene.height), Image.Resampling.BOX), dtype=np.uint8).copy()
    if scene.noise > 0:
        rng = np.random.default_rng([scene.seed, 0x0015E])
        noisy = out.astype(np.float32) + rng.normal(0.0, scene.noise, size=out.shape).astype(np.float32)
        out = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return out


def visible_labels(scene: Scene) -> np.ndarray:
    """Which object shows at each pixel: an ``H x W`` int array, ``i + 1`` for ``scene.objects[i]``, 0 for none."""
    owner = np.zeros((scene.height, scene.width), dtype=np.int32)
    for i, obj in enumerate(scene.objects, start=1):
        owner[object_mask(obj, scene.width, scene.height)] = i
    return owner


def visible_box(labels: np.ndarray, index: int) -> tuple[int, int, int, int] | None:
    """The pixel bounds ``(x1, y1, x2, y2)`` of object ``index`` (0-based) in :func:`visible_labels`."""
    ys, xs = np.nonzero(labels == index + 1)
    if len(xs) == 0:
        return None
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def scene_summary(objects: Sequence[SceneObject]) -> str:
    """One line per object, for docs and debugging."""
    return "\n".join(f"{o.describe()} at ({o.cx:.0f}, {o.cy:.0f}), {o.width:.0f}x{o.height:.0f}" for o in objects)
