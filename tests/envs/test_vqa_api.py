"""The image API for programs (ViperGPT-style ImagePatch over the pixel tools)."""

from __future__ import annotations

import numpy as np
import pytest

from toolgym.envs.vqa.api import ImagePatch, Session, TrackedImage, bool_to_yesno, distance
from toolgym.envs.vqa.scene import Scene, SceneObject, render_scene


@pytest.fixture
def image():
    objects = (
        SceneObject("circle", "red", "large", 30, 30, 40, 40, (255, 0, 0)),  # top left (large: >= 32 px)
        SceneObject("triangle", "blue", "small", 100, 100, 16, 14, (0, 0, 255)),  # bottom right
        SceneObject("rectangle", "red", "small", 100, 25, 14, 10, (255, 0, 0)),  # top right
    )
    return render_scene(Scene(128, 128, (240, 240, 240), objects, 0.0, 0))


def test_find_exists_count_and_attributes(image):
    patch = ImagePatch(image)
    reds = patch.find("red object")
    assert len(reds) == 2 and patch.count("red") == 2 and patch.exists("blue triangle")
    assert not patch.exists("green circle") and patch.find("unicorn") == []
    assert sorted(p.shape() for p in reds) == ["circle", "rectangle"]
    tri = patch.find("triangle")[0]
    assert (tri.color(), tri.shape(), tri.size()) == ("blue", "triangle", "small")


def test_coordinates_follow_viper_gpt_y_up(image):
    patch = ImagePatch(image)
    circle = patch.find("circle")[0]
    triangle = patch.find("triangle")[0]
    assert circle.vertical_center > triangle.vertical_center  # the circle is higher in the image
    assert circle.horizontal_center < triangle.horizontal_center
    x1, y1, x2, y2 = circle.box  # image coordinates, y down
    assert y1 < 20 and circle.upper == 128 - y1 and circle.lower == 128 - y2
    assert circle.cropped_image.shape == (circle.height, circle.width, 3)
    assert distance(circle, triangle) > 0 and distance(circle, circle) == 0


def test_crop_and_find_within_a_patch(image):
    patch = ImagePatch(image)
    top = patch.crop(0, 64, 128, 128)  # the upper half (y up)
    assert top.count("object") == 2 and not top.exists("triangle")
    bottom = ImagePatch(image, 0, 0, 128, 64)
    assert bottom.count("object") == 1 and bottom.find("object")[0].color() == "blue"
    with pytest.raises(ValueError, match="non-empty region"):
        ImagePatch(image, 10, 10, 10, 20)


def test_simple_query_verify_property_best_text_match(image):
    patch = ImagePatch(image)
    circle = patch.find("circle")[0]
    assert circle.simple_query("What color is this?") == "red"
    assert circle.simple_query("What shape is it?") == "circle"
    assert circle.simple_query("What size is it?") == "large"
    assert patch.simple_query("How many red objects are there?") == "2"
    assert patch.simple_query("Is there a blue triangle?") == "yes"
    assert circle.simple_query() == "red circle"
    assert patch.verify_property("triangle", "blue") and not patch.verify_property("triangle", "red")
    assert circle.best_text_match(["blue square", "red circle"]) == "red circle"
    assert bool_to_yesno(True) == "yes" and bool_to_yesno(False) == "no"


def test_calls_are_counted_in_a_shared_session(image):
    tracked = TrackedImage.wrap(image)
    ImagePatch(tracked).find("red")
    ImagePatch(tracked).find("blue")[0].color()
    assert tracked.session.calls == {"find": 2, "color": 1}
    assert not tracked.flags.writeable
    plain = Session(image)
    ImagePatch(plain).count("object")
    assert plain.calls["find"] == 1


def test_a_re_rest_style_program(image):
    namespace = {"ImagePatch": ImagePatch, "bool_to_yesno": bool_to_yesno}
    code = """
def execute_command(image) -> str:
    image_patch = ImagePatch(image)
    circle_patches = image_patch.find("circle")
    if len(circle_patches) == 0:
        return image_patch.simple_query("Is the circle left of the triangle?")
    triangle_patches = image_patch.find("triangle")
    if len(triangle_patches) == 0:
        return "no"
    return bool_to_yesno(circle_patches[0].horizontal_center < triangle_patches[0].horizontal_center)
"""
    exec(code, namespace)  # noqa: S102 - trusted test code, run in-process to test the API alone
    assert namespace["execute_command"](np.asarray(image)) == "yes"
