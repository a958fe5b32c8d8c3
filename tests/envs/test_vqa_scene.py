"""ShapesVQA scenes: determinism, knobs, placement constraints, rendering, and the generated questions."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from toolgym.envs.vqa.questions import (
    KINDS,
    RELATION_MARGIN,
    Filter,
    answer_question,
    generate_question,
    matches,
)
from toolgym.envs.vqa.scene import (
    DIFFICULTIES,
    Scene,
    SceneConfig,
    generate_scene,
    object_mask,
    render_scene,
    visible_labels,
)
from toolgym.envs.vqa.vocab import COLORS, SHAPES, SIZES
from toolgym.error import ConfigError


def test_same_seed_same_scene_and_pixels():
    for name, cfg in DIFFICULTIES.items():
        a, b = generate_scene(cfg, 11), generate_scene(cfg, 11)
        assert a == b, name
        assert np.array_equal(render_scene(a), render_scene(b)), name
    assert generate_scene(SceneConfig(), 1) != generate_scene(SceneConfig(), 2)


def test_scene_json_round_trip():
    scene = generate_scene(DIFFICULTIES["hard"], 5)
    assert Scene.from_dict(scene.to_dict()) == scene


def test_render_shape_dtype_and_noise():
    clean = render_scene(generate_scene(SceneConfig(image_size=96), 3))
    assert clean.shape == (96, 96, 3) and clean.dtype == np.uint8
    noisy_cfg = SceneConfig(image_size=96, noise=8.0)
    noisy = render_scene(generate_scene(noisy_cfg, 3))
    diff = noisy.astype(int) - clean.astype(int)
    assert 5.0 < diff.std() < 11.0  # Gaussian noise of the configured size (clipping shrinks it a little)


@pytest.mark.parametrize("seed", range(20))
def test_objects_inside_and_apart_without_occlusion(seed):
    cfg = DIFFICULTIES["medium"]
    scene = generate_scene(cfg, seed)
    assert cfg.num_objects[0] <= len(scene.objects) <= cfg.num_objects[1]
    for o in scene.objects:
        x1, y1, x2, y2 = o.box
        assert 0 <= x1 and 0 <= y1 and x2 <= scene.width and y2 <= scene.height
        assert o.visible == 1.0
        assert o.color in COLORS and o.shape in SHAPES and o.size in SIZES
        lo, hi = cfg.small if o.size == "small" else cfg.large
        assert lo * cfg.image_size - 1e-6 <= max(o.width, o.height) <= hi * cfg.image_size + 1e-6
    for i, a in enumerate(scene.objects):
        for b in scene.objects[i + 1 :]:
            ax1, ay1, ax2, ay2 = a.box
            bx1, by1, bx2, by2 = b.box
            apart = ax2 + cfg.gap <= bx1 or bx2 + cfg.gap <= ax1 or ay2 + cfg.gap <= by1 or by2 + cfg.gap <= ay1
            assert apart


@pytest.mark.parametrize("seed", range(15))
def test_occlusion_keeps_objects_visible_and_whole(seed):
    cfg = DIFFICULTIES["hard"]
    scene = generate_scene(cfg, seed)
    labels = visible_labels(scene)
    for i, o in enumerate(scene.objects):
        own = object_mask(o, scene.width, scene.height).sum()
        shown = labels == i + 1
        assert shown.sum() >= (1 - cfg.occlusion) * own - 1
        assert ndimage.label(shown, structure=np.ones((3, 3)))[1] == 1
        for j, p in enumerate(scene.objects):
            if j != i and p.color == o.color:  # same-coloured objects never touch
                a, b = o.box, p.box
                assert (
                    a[2] + cfg.gap <= b[0] or b[2] + cfg.gap <= a[0] or a[3] + cfg.gap <= b[1] or b[3] + cfg.gap <= a[1]
                )


def test_occlusion_actually_happens_in_hard_scenes():
    hidden = [o.visible for s in range(30) for o in generate_scene(DIFFICULTIES["hard"], s).objects]
    assert min(hidden) < 0.9


@pytest.mark.parametrize(
    "kwargs",
    [
        {"image_size": 8},
        {"num_objects": (0, 3)},
        {"num_objects": (4, 2)},
        {"colors": ("magenta",)},
        {"shapes": ("star",)},
        {"small": (0.3, 0.4)},
        {"occlusion": 0.9},
        {"noise": -1.0},
        {"color_jitter": 100},
    ],
)
def test_bad_config_raises_clear_error(kwargs):
    with pytest.raises(ConfigError, match="expected"):
        replace(SceneConfig(), **kwargs)


def test_questions_oracle_matches_gold_and_covers_all_kinds():
    kinds, answers = Counter(), Counter()
    for seed in range(300):
        scene = generate_scene(DIFFICULTIES["medium"], seed)
        q = generate_question(scene, np.random.default_rng(seed))
        assert q.answer == answer_question(scene, q.spec)
        kinds[q.kind] += 1
        answers[q.answer] += 1
    assert set(kinds) == set(KINDS)
    assert min(kinds.values()) > 30
    assert answers["yes"] > 20 and answers["no"] > 20


def test_question_references_are_unique_and_relations_have_margin():
    for seed in range(200):
        scene = generate_scene(DIFFICULTIES["hard"], seed)
        q = generate_question(scene, np.random.default_rng([seed, 3]), ("attribute", "relation"))
        spec = q.spec
        if spec.kind in ("attribute", "relation"):
            assert sum(matches(o, spec.a) for o in scene.objects) == 1, q.text
        if spec.kind == "relation":
            a = next(o for o in scene.objects if matches(o, spec.a))
            b = next(o for o in scene.objects if matches(o, spec.b))
            d = abs(a.cx - b.cx) if spec.relation in ("left", "right") else abs(a.cy - b.cy)
            assert d >= RELATION_MARGIN * scene.width, q.text
        if spec.kind == "attribute":
            assert getattr(spec.a, spec.form) is None, f"the question names the attribute it asks: {q.text}"


def test_answer_question_examples():
    scene = generate_scene(SceneConfig(num_objects=(2, 2)), 0)
    a, b = scene.objects
    from toolgym.envs.vqa.questions import QuestionSpec

    assert answer_question(scene, QuestionSpec("count", a=Filter())) == "2"
    assert answer_question(scene, QuestionSpec("exist", a=Filter(color=a.color))) == "yes"
    left = "yes" if a.cx < b.cx else "no"
    spec = QuestionSpec("relation", "yesno", Filter(a.size, a.color, a.shape), Filter(b.size, b.color, b.shape), "left")
    if (a.size, a.color, a.shape) != (b.size, b.color, b.shape):
        assert answer_question(scene, spec) == left
