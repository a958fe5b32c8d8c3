"""The HTML report renders in a real browser: headless Chromium takes a screenshot we check pixel by pixel."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from bench_helpers import mini_suite

from toolgym.benchmarks.report import write_report
from toolgym.benchmarks.runner import run_suite

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package `chromium`)")
def test_report_renders_in_headless_chromium(tmp_path):
    from PIL import Image

    run = tmp_path / "run"
    run_suite(mini_suite(seeds=[0, 1, 2], episodes=4), run, workers=1)
    report = write_report(run)
    shot = tmp_path / "shot.png"
    width, height = 1280, 2200
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={width},{height}",
        f"--screenshot={shot}",
        report.resolve().as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), done.stderr[-2000:]
    img = Image.open(shot).convert("RGB")
    assert img.size == (width, height)
    pixels = np.asarray(img).reshape(-1, 3).astype(int)
    not_white = (pixels < 245).any(axis=1).mean()
    assert not_white > 0.03, f"the page looks blank ({not_white:.1%} of pixels are not white)"
    colours = np.unique(pixels // 8, axis=0)
    assert len(colours) > 50, "too few colours for text, tables and figures"
    # matplotlib's first colour (tab:blue, #1f77b4) fills the bars: the embedded figures were decoded and drawn.
    blue = (np.abs(pixels - np.array([31, 119, 180])).sum(axis=1) < 30).mean()
    assert blue > 0.002, f"no figure pixels found ({blue:.3%})"
