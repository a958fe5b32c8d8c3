"""Classical computer vision on pixels: segment flat coloured shapes, name their colour, shape and size.

Nothing here reads a scene description: every function takes an ``H x W x 3`` uint8 image (or a mask) and
works on its pixels with numpy and scipy (``scipy.ndimage`` for filtering and connected components,
``scipy.spatial.ConvexHull`` for shape measures). :func:`analyze` runs the whole pipeline once per image:

1. a 3x3 median filter per channel (removes pixel noise, keeps edges);
2. the **background** colour: the most common colour after quantising each channel to 8 levels (the median
   of the pixels in that bin);
3. **foreground**: pixels farther than :data:`FOREGROUND_DISTANCE` (RGB Euclidean) from the background;
4. each foreground pixel takes the **nearest named colour** of the palette;
5. per colour, a 3x3 morphological opening (drops the one-pixel anti-aliased rims, whose blended colours are
   nearest to some other name), then **connected components** (8-connected); components smaller than
   :func:`min_area` pixels are dropped;
6. each component's **shape** from its convex hull (:func:`classify_shape`) and **size** from its larger side.

Example:
    >>> from toolgym.envs.vqa.scene import SceneConfig, generate_scene, render_scene
    >>> scene = generate_scene(SceneConfig(), seed=1)
    >>> found = analyze(render_scene(scene)).detections
    >>> sorted(d.describe() for d in found) == sorted(
    ...     f"{o.color} {o.shape}" for o in scene.objects)
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from toolgym.envs.vqa.vocab import COLORS

__all__ = [
    "FOREGROUND_DISTANCE",
    "HIDDEN_COST",
    "NOISE_FILTER_SIGMA",
    "RECTANGLE_MIN_FILL",
    "TRIANGLE_MIN_OFFSET",
    "TRIANGLE_MAX_FILL",
    "Analysis",
    "Detection",
    "ShapeFeatures",
    "analyze",
    "classify_shape",
    "fit_occluded_shape",
    "min_area",
    "shape_features",
]

#: RGB distance from the background beyond which a pixel is foreground.
FOREGROUND_DISTANCE = 60.0
#: Pixel noise (estimated standard deviation on the background) above which a median filter runs first.
NOISE_FILTER_SIGMA = 1.5
#: A convex hull that fills at least this much of its bounding box is a rectangle (an ideal one fills 1.0).
RECTANGLE_MIN_FILL = 0.95
#: A convex hull that fills less than this is a triangle (ideal 0.5); above it, a circle (ideal pi/4).
TRIANGLE_MAX_FILL = 0.66
#: A centroid this far from the box centre (fraction of the side) marks a triangle (ideal 1/6).
TRIANGLE_MIN_OFFSET = 0.075
#: In occlusion-aware fitting, the cost of a shape pixel that lies under another object (1 for background).
HIDDEN_COST = 0.25

_SQUARE = np.ones((3, 3), dtype=bool)


def min_area(height: int, width: int) -> int:
    """The smallest component (in pixels) kept as an object: 0.15% of the image, at least 6 pixels."""
    return max(6, int(round(0.0015 * height * width)))


@dataclass(frozen=True)
class ShapeFeatures:
    """Measures of a mask used to name its shape.

    Attributes:
        area: Pixels in the mask.
        width: Width of its bounding box.
        height: Height of its bounding box.
        fill: ``area / (width * height)``.
        hull_fill: The area of the convex hull of the pixel centres over the area of their bounding box
            (rectangle 1, circle pi/4 = 0.785, triangle 0.5).
        offset: How far the centroid lies from the bounding-box centre, as a fraction of the box's side along
            the larger offset (a triangle's centroid sits a sixth of its height from the middle; circles and
            rectangles are symmetric: 0).
    """

    area: int
    width: int
    height: int
    fill: float
    hull_fill: float
    offset: float


def shape_features(mask: np.ndarray) -> ShapeFeatures:
    """Measure a boolean mask (only its ``True`` pixels count; it may be a crop of the image)."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return ShapeFeatures(0, 0, 0, 0.0, 0.0, 0.0)
    w, h = int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1
    off_x = abs(float(xs.mean()) - (float(xs.min()) + float(xs.max())) / 2) / w
    off_y = abs(float(ys.mean()) - (float(ys.min()) + float(ys.max())) / 2) / h
    # The hull of the pixel centres against the box of the centres: exactly 1 for an axis-aligned rectangle.
    # Interior pixels add nothing to the hull, so only the left- and right-most pixel of each row are used.
    order = np.lexsort((xs, ys))
    ys, xs = ys[order], xs[order]
    first = np.r_[True, ys[1:] != ys[:-1]]
    last = np.r_[ys[1:] != ys[:-1], True]
    pts = np.unique(np.concatenate([np.stack([xs[first], ys[first]], 1), np.stack([xs[last], ys[last]], 1)]), axis=0)
    span = float((w - 1) * (h - 1))
    try:
        hull_fill = float(ConvexHull(pts.astype(float)).volume) / span if span > 0 else 1.0
    except QhullError:  # all centres on one line
        hull_fill = 1.0
    return ShapeFeatures(len(xs), w, h, len(xs) / float(w * h), min(1.0, hull_fill), max(off_x, off_y))


def classify_shape(mask: np.ndarray) -> str:
    """Name the shape of a mask: ``"rectangle"``, ``"circle"`` or ``"triangle"``.

    Two measures of :func:`shape_features` decide. The convex hull's share of the bounding box is 1 for an
    axis-aligned rectangle, pi/4 for a circle and 1/2 for a triangle; the hull (rather than the pixels) keeps
    the measure steady when an occluding object bites into the shape. Pixelation blurs these values for small
    shapes (a 6-pixel circle fills up to 0.94 of its box, a 6-pixel triangle up to 0.81), so the centroid's
    offset from the box centre, which only triangles have, breaks the tie. Thresholds
    (:data:`RECTANGLE_MIN_FILL`, :data:`TRIANGLE_MAX_FILL`, :data:`TRIANGLE_MIN_OFFSET`) were set on shapes
    of 5-40 pixels drawn by this package's renderer, not on any evaluation data.
    """
    f = shape_features(mask)
    if f.hull_fill >= RECTANGLE_MIN_FILL:
        return "rectangle"
    if f.hull_fill < TRIANGLE_MAX_FILL or f.offset >= TRIANGLE_MIN_OFFSET:
        return "triangle"
    return "circle"


@dataclass(frozen=True)
class Detection:
    """An object found on the pixels.

    Attributes:
        index: Its component number in :attr:`Analysis.labels` (1-based).
        box: ``(x1, y1, x2, y2)`` pixel bounds of its visible pixels (x2, y2 exclusive).
        color: The nearest named colour.
        shape: The shape name from :func:`classify_shape`.
        size: ``"small"`` or ``"large"`` (larger side against the analysis's size threshold).
        area: Visible pixels.
        centroid: ``(x, y)`` mean of its pixel centres.
        mean_rgb: The mean colour of its pixels in the filtered image.
    """

    index: int
    box: tuple[int, int, int, int]
    color: str
    shape: str
    size: str
    area: int
    centroid: tuple[float, float]
    mean_rgb: tuple[int, int, int]

    def describe(self) -> str:
        """``"red circle"``."""
        return f"{self.color} {self.shape}"


@dataclass(frozen=True)
class Analysis:
    """The result of :func:`analyze` on one image.

    Attributes:
        height: Image height.
        width: Image width.
        background: The estimated background colour.
        labels: ``H x W`` int32 array: the 1-based component (detection ``index``) of each pixel, 0 elsewhere.
        detections: The objects found, ordered top to bottom, then left to right.
        large_threshold: The larger side, in pixels, from which an object counts as large.
    """

    height: int
    width: int
    background: tuple[int, int, int]
    labels: np.ndarray = field(repr=False)
    detections: tuple[Detection, ...]
    large_threshold: float

    def dominant(self, box: Sequence[int], min_pixels: int | None = None) -> Detection | None:
        """The detection with the most pixels inside ``box``, or ``None`` when the box shows only background.

        Args:
            box: ``(x1, y1, x2, y2)``, already validated.
            min_pixels: At least this many of its pixels must lie in the box (default :func:`min_area`).
        """
        x1, y1, x2, y2 = box
        inside = self.labels[y1:y2, x1:x2]
        counts = np.bincount(inside.ravel(), minlength=len(self.detections) + 1)
        counts[0] = 0
        best = int(counts.argmax())
        need = min_area(self.height, self.width) if min_pixels is None else min_pixels
        if best == 0 or counts[best] < need:
            return None
        return self.detections[best - 1]

    def mask_in_box(self, det: Detection, box: Sequence[int]) -> np.ndarray:
        """The detection's pixels inside ``box``, as a boolean array of the box's shape."""
        x1, y1, x2, y2 = box
        return self.labels[y1:y2, x1:x2] == det.index


def _background(img: np.ndarray) -> tuple[np.ndarray, float]:
    """The most common colour (median of the largest 8-level bin) and the pixel noise around it."""
    q = (img // 32).astype(np.int32)
    keys = (q[..., 0] * 64 + q[..., 1] * 8 + q[..., 2]).ravel()
    mode = int(np.bincount(keys, minlength=512).argmax())
    pixels = img.reshape(-1, 3)[keys == mode].astype(np.float32)
    bg = np.median(pixels, axis=0)
    return bg, float(np.abs(pixels - bg).mean() * 1.2533)  # mean absolute deviation -> sigma (Gaussian)


def _template(shape: str, box: tuple[float, float, float, float], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Pixel centres (``xs``, ``ys`` grids) inside an ideal shape filling ``box`` = (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = box
    inside = (xs >= x1) & (xs <= x2) & (ys >= y1) & (ys <= y2)
    if shape == "rectangle":
        return inside
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, max((x2 - x1) / 2, 0.5), max((y2 - y1) / 2, 0.5)
    if shape == "circle":
        return ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0
    depth = (ys - y1) / max(y2 - y1, 1.0)  # 0 at the apex, 1 at the base
    return inside & (np.abs(xs - cx) <= rx * depth)


def fit_occluded_shape(visible: np.ndarray, hidden: np.ndarray) -> str:
    """Name the shape of a partly hidden object by fitting ideal shapes that may extend under its neighbours.

    For each shape (rectangle, circle, upright triangle) the fit starts from the visible pixels' box and
    stretches the sides that meet another object, one step at a time while that lowers the cost: visible
    pixels outside the shape plus the shape's pixels that show background count 1 each; the shape's pixels
    under another object (``hidden``) count :data:`HIDDEN_COST` (the shape may continue beneath them, but
    the simplest explanation wins). The shape with the lowest cost wins.

    Args:
        visible: Boolean window with the object's visible pixels.
        hidden: Boolean window (same shape) with the pixels covered by something else.

    Returns:
        ``"rectangle"``, ``"circle"`` or ``"triangle"``.
    """
    ys_v, xs_v = np.nonzero(visible)
    background = ~(visible | hidden)
    gy, gx = np.mgrid[0 : visible.shape[0], 0 : visible.shape[1]].astype(np.float32)
    h, w = visible.shape
    start = (float(xs_v.min()) - 0.5, float(ys_v.min()) - 0.5, float(xs_v.max()) + 0.5, float(ys_v.max()) + 0.5)
    size = max(start[2] - start[0], start[3] - start[1])
    step = max(1.0, size / 10)
    near = ndimage.binary_dilation(visible, structure=_SQUARE, iterations=2) & hidden
    ny, nx = np.nonzero(near)
    # Which sides may move outwards, and how far at most: (left, top, right, bottom) as signed directions.
    moves = []
    if len(nx):
        if nx.min() <= xs_v.min():
            moves.append((0, -1.0, -0.5))
        if ny.min() <= ys_v.min():
            moves.append((1, -1.0, -0.5))
        if nx.max() >= xs_v.max():
            moves.append((2, 1.0, w - 0.5))
        if ny.max() >= ys_v.max():
            moves.append((3, 1.0, h - 0.5))
    limit = 0.6 * size

    def cost(shape: str, box: tuple[float, ...]) -> float:
        t = _template(shape, box, gx, gy)  # type: ignore[arg-type]
        return float((visible & ~t).sum() + (t & background).sum() + HIDDEN_COST * (t & hidden).sum())

    best, best_cost = "circle", np.inf
    for shape in ("rectangle", "circle", "triangle"):
        box = list(start)
        current = cost(shape, tuple(box))
        improved = True
        while improved:
            improved = False
            for side, sign, bound in moves:
                trial = list(box)
                trial[side] += sign * step
                if abs(trial[side] - start[side]) > limit or (sign < 0 and trial[side] < bound):
                    continue
                if sign > 0 and trial[side] > bound:
                    continue
                c = cost(shape, tuple(trial))
                if c < current:
                    box, current, improved = trial, c, True
        if current < best_cost:
            best, best_cost = shape, current
    return best


def analyze(
    image: np.ndarray,
    *,
    palette: Mapping[str, Sequence[int]] = COLORS,
    large_threshold: float | None = None,
) -> Analysis:
    """Segment an image into coloured objects and name each one's colour, shape and size.

    Args:
        image: ``H x W x 3`` uint8 array.
        palette: The named colours to choose from.
        large_threshold: The larger side (pixels) from which an object is large (default a quarter of the
            smaller image side).

    Returns:
        The analysis (background, component labels, detections).
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"analyze: expected an H x W x 3 image, got shape {image.shape}")
    h, w = int(image.shape[0]), int(image.shape[1])
    bg, noise = _background(image)
    raw = image.astype(np.float32)
    img = ndimage.median_filter(image, size=(3, 3, 1)).astype(np.float32) if noise > NOISE_FILTER_SIGMA else raw
    fg = ((img - bg) ** 2).sum(axis=2) > FOREGROUND_DISTANCE**2
    names = list(palette)
    colors = np.asarray([palette[n] for n in names], dtype=np.float32)
    pix = img[fg]
    nearest = np.full((h, w), -1, dtype=np.int64)
    nearest[fg] = ((pix[:, None, :] - colors[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    keep = min_area(h, w)
    threshold = min(h, w) / 4 if large_threshold is None else float(large_threshold)
    # Seeds: per colour, the opened mask's connected components of at least `keep` pixels.
    seeds: list[tuple[tuple[int, int], np.ndarray, str]] = []
    for ci in np.unique(nearest[fg]).tolist():
        mask = ndimage.binary_opening(nearest == ci, structure=_SQUARE)
        comp, _ = ndimage.label(mask, structure=_SQUARE)
        for k, sl in enumerate(ndimage.find_objects(comp), start=1):
            if sl is None:
                continue
            ys, xs = np.nonzero(comp[sl] == k)
            if len(xs) >= keep:
                ys, xs = ys + sl[0].start, xs + sl[1].start
                seeds.append(((int(ys.min()), int(xs.min())), np.stack([ys, xs]), names[ci]))
    seeds.sort(key=lambda item: item[0])
    labels = np.zeros((h, w), dtype=np.int32)
    for index, (_, (ys, xs), _) in enumerate(seeds, start=1):
        labels[ys, xs] = index
    # Grow each seed back over its anti-aliased rim (on the unfiltered pixels: the median filter rounds off
    # corners and tips): pixels within two steps that blend this object with the background (close to the
    # line from the background colour to the object's) and are at least half covered. Blends of two objects
    # lie off that line and stay unassigned.
    grown = labels.copy()
    free = labels == 0
    means = []
    tolerance = 24.0 + 3.0 * noise
    for index, (_, (ys, xs), _) in enumerate(seeds, start=1):
        mean = img[ys, xs].mean(axis=0)
        means.append(mean)
        y0, y1 = max(0, int(ys.min()) - 2), min(h, int(ys.max()) + 3)
        x0, x1 = max(0, int(xs.min()) - 2), min(w, int(xs.max()) + 3)
        own = labels[y0:y1, x0:x1] == index
        rim = ndimage.binary_dilation(own, structure=_SQUARE, iterations=2) & free[y0:y1, x0:x1]
        axis = mean - bg
        diff = raw[y0:y1, x0:x1] - bg
        alpha = (diff @ axis) / max(float(axis @ axis), 1.0)
        off_line = np.sqrt(((diff - alpha[..., None] * axis) ** 2).sum(axis=2))
        take = rim & (alpha >= 0.5) & (off_line <= tolerance)
        grown[y0:y1, x0:x1][take] = index
        free[y0:y1, x0:x1][take] = False
    detections = []
    for index, ((_, _), _, color) in enumerate(seeds, start=1):
        ys, xs = np.nonzero(grown == index)
        x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        mean = means[index - 1]
        detections.append(
            Detection(
                index=index,
                box=(x1, y1, x2, y2),
                color=color,
                shape=_shape_in(grown, fg, index, (x1, y1, x2, y2)),
                size="large" if max(x2 - x1, y2 - y1) >= threshold else "small",
                area=len(xs),
                centroid=(round(float(xs.mean()) + 0.5, 2), round(float(ys.mean()) + 0.5, 2)),
                mean_rgb=(int(mean[0]), int(mean[1]), int(mean[2])),
            )
        )
    grown.flags.writeable = False
    return Analysis(h, w, (int(bg[0]), int(bg[1]), int(bg[2])), grown, tuple(detections), threshold)


def _shape_in(labels: np.ndarray, fg: np.ndarray, index: int, box: tuple[int, int, int, int]) -> str:
    """Name a detection's shape: from its features when it stands free, by occlusion-aware fitting otherwise."""
    x1, y1, x2, y2 = box
    h, w = labels.shape
    pad = max(x2 - x1, y2 - y1) // 2 + 2
    wy0, wy1, wx0, wx1 = max(0, y1 - pad), min(h, y2 + pad), max(0, x1 - pad), min(w, x2 + pad)
    window = labels[wy0:wy1, wx0:wx1]
    visible = window == index
    others = (window != 0) & ~visible
    touching = ndimage.binary_dilation(visible, structure=_SQUARE, iterations=2) & others
    if not touching.any():
        return classify_shape(visible)
    # Unassigned foreground (fringes between two objects) may hide the shape too.
    hidden = others | (fg[wy0:wy1, wx0:wx1] & (window == 0))
    return fit_occluded_shape(visible, hidden)
