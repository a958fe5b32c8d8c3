"""Pixel vision and the text tools: detection, colours, shapes, sizes, relations, crops and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from toolgym.envs.vqa.evaluate import shapes_tool_accuracy
from toolgym.envs.vqa.questions import Filter
from toolgym.envs.vqa.scene import DIFFICULTIES, Scene, SceneObject, generate_scene, render_scene
from toolgym.envs.vqa.tools import VisualTools, parse_query, zoom
from toolgym.envs.vqa.vision import analyze, classify_shape, fit_occluded_shape, shape_features
from toolgym.envs.vqa.vocab import COLORS


def _one(shape, side, color="red", size=64, cx=32.3, cy=31.7, aspect=1.0, background=(240, 245, 250)):
    w, h = (side, side * aspect) if shape != "triangle" else (side, side * 0.85)
    obj = SceneObject(shape, color, "small", cx, cy, w, h, COLORS[color])
    return render_scene(Scene(size, size, background, (obj,), 0.0, 0))


@pytest.mark.parametrize("shape", ["circle", "rectangle", "triangle"])
@pytest.mark.parametrize("side", [7, 12, 20, 34])
def test_single_shapes_are_named(shape, side):
    for color in ("red", "teal", "yellow", "black", "gray", "brown"):
        found = analyze(_one(shape, side, color)).detections
        assert len(found) == 1
        assert (found[0].color, found[0].shape) == (color, shape), (color, shape, side)


def test_shape_features_of_ideal_masks():
    yy, xx = np.mgrid[0:41, 0:41]
    disc = (xx - 20) ** 2 + (yy - 20) ** 2 <= 400
    square = np.ones((20, 30), dtype=bool)
    tri = np.abs(xx - 20) <= yy / 2
    assert shape_features(square).hull_fill == 1.0
    assert abs(shape_features(disc).hull_fill - np.pi / 4) < 0.03
    assert abs(shape_features(tri).hull_fill - 0.5) < 0.03 and shape_features(tri).offset > 0.1
    assert [classify_shape(m) for m in (disc, square, tri)] == ["circle", "rectangle", "triangle"]


def test_occluded_rectangle_is_still_a_rectangle():
    visible = np.zeros((40, 40), dtype=bool)
    visible[5:30, 5:30] = True
    hidden = np.zeros_like(visible)
    yy, xx = np.mgrid[0:40, 0:40]
    occluder = (xx - 30) ** 2 + (yy - 30) ** 2 <= 81  # a disc in front bites the corner
    visible &= ~occluder
    hidden |= occluder
    assert classify_shape(visible) != "rectangle"  # the bite fools the plain measure
    assert fit_occluded_shape(visible, hidden) == "rectangle"


def test_background_and_noise_are_handled():
    scene = generate_scene(DIFFICULTIES["hard"], 4)
    an = analyze(render_scene(scene), large_threshold=DIFFICULTIES["hard"].large_threshold)
    assert np.abs(np.array(an.background) - np.array(scene.background)).max() <= 3
    assert sorted((d.color, d.shape) for d in an.detections) == sorted((o.color, o.shape) for o in scene.objects)


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_measured_tool_accuracy_on_generated_scenes(difficulty):
    report = shapes_tool_accuracy(DIFFICULTIES[difficulty], seeds=range(1000, 1025))
    floor = 0.98 if difficulty == "hard" else 1.0
    for tool, tally in report.items():
        assert tally.total > 0
        assert tally.accuracy >= floor, f"{difficulty} {tool}: {tally.correct}/{tally.total}"


@pytest.fixture
def tools():
    scene = generate_scene(DIFFICULTIES["easy"], 2)
    return VisualTools(render_scene(scene), large_threshold=DIFFICULTIES["easy"].large_threshold), scene


def test_find_count_and_box_tools_agree_with_the_scene(tools):
    t, scene = tools
    res = t.find("object")
    assert len(res.found) == len(scene.objects) and res.text.startswith(f"Found {len(scene.objects)}")
    for i in range(1, len(res.found) + 1):
        color = t.color(f"#{i}", res.found).value
        shape = t.shape(f"#{i}", res.found).value
        size = t.size(f"#{i}", res.found).value
        assert any((o.color, o.shape, o.size) == (color, shape, size) for o in scene.objects)
        assert t.count(f"{size} {color} {shape}").value >= 1
    assert t.count(
        "object"
    ).text == f"There {'is' if len(scene.objects) == 1 else 'are'} {len(scene.objects)} object" + (
        "." if len(scene.objects) == 1 else "s."
    )


def test_relation_reports_both_axes():
    left = SceneObject("circle", "red", "small", 20, 20, 12, 12, (255, 0, 0))
    right = SceneObject("rectangle", "blue", "small", 90, 100, 12, 12, (0, 0, 255))
    t = VisualTools(render_scene(Scene(128, 128, (240, 240, 240), (left, right), 0.0, 0)))
    a, b = t.find("red").found[0], t.find("blue").found[0]
    out = t.relation(f"{list(a)}, {list(b)}")
    assert out.value == ("left", "above")
    assert "to the left of (by 70 pixels)" in out.text and "above (by 80 pixels)" in out.text
    assert t.relation(f"{list(b)}, {list(a)}").value == ("right", "below")


def test_crop_returns_the_pixels_and_zoom_keeps_them():
    t = VisualTools(render_scene(generate_scene(DIFFICULTIES["easy"], 0)))
    out = t.crop("10, 20, 30, 60")
    assert np.array_equal(out.crop, t.image[20:60, 10:30]) and out.crop_box == (10, 20, 30, 60)
    big = zoom(out.crop, 128, 128)
    assert big.shape == (128, 128, 3)
    assert np.array_equal(big[4:124:3, 34:94:3], out.crop)  # 3x, centred: 40 rows -> 120, 20 cols -> 60
    assert (big[:4] == 255).all() and (big[:, :34] == 255).all()


@pytest.mark.parametrize(
    ("argument", "expect"),
    [
        ("0, 0, 500, 10", "x2=500 is beyond the image width 128"),
        ("-3, 0, 10, 10", "x1=-3 is negative"),
        ("50, 10, 20, 40", "the corners are swapped (did you mean [20, 10, 50, 40]?)"),
        ("10, 10, 10, 40", "the box is empty"),
        ("1, 2, 3", "a box needs 4 numbers"),
        ("red circle", "got the word 'red'"),
        ("#1", "no earlier find"),
        ("", "expected a box"),
        ("1, 2, 3, 4, 5, 6, 7, 8", "expected a box ([x1, y1, x2, y2]), got 2"),
        ("nan, 1, 2, 3", "got the word 'nan'"),
    ],
)
def test_bad_boxes_explain_themselves(tools, argument, expect):
    t, _ = tools
    for tool in (t.color, t.shape, t.size, t.crop):
        out = tool(argument)
        assert out.error and expect in out.text, out.text
        assert "[x1, y1, x2, y2]" in out.text, out.text


def test_box_references_and_relation_arguments(tools):
    t, scene = tools
    found = t.find("object").found
    assert t.color("#9", found).error and "#1 to #" in t.color("#9", found).text
    assert t.relation("#1", found).error  # needs two boxes
    if len(found) >= 2:
        assert not t.relation("#1, #2", found).error
        assert not t.relation('{"a": [0, 0, 10, 10], "b": [20, 20, 40, 40]}', found).error


def test_background_box_says_so(tools):
    t, _ = tools
    out = t.color("0, 0, 2, 2")
    assert not out.error and out.value is None and "only background" in out.text


def test_parse_query_vocabulary():
    assert parse_query("the Large grey circles") == Filter("large", "gray", "circle")
    assert parse_query("") == Filter()
    assert parse_query("any objects") == Filter()
    assert "Unknown word 'magenta'" in parse_query("magenta circle")
    assert "names two colors" in parse_query("red blue circle")
    assert "Did you mean: circle" in parse_query("circel")
