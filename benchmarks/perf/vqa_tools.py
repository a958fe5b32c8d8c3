"""VQA perf and quality: tool latency, scene generation, scripted-policy speed and accuracy, tool accuracy.

Run: TOOLGYM_DATA_DIR=/work/shared/data python benchmarks/perf/vqa_tools.py [--quick] [--out FILE]

Measures, on one core:
* tool latency (median, p95) per tool, on ShapesVQA (128x128, medium and hard) and easy-VQA (64x64) images:
  the pixel analysis that the first tool call of an image pays ("analyze"), then each tool with the analysis
  cached, and one env.step through the whole stack;
* scene generation and rendering time per difficulty, and env.reset time;
* the tool-using scripted policy's steps per second and accuracy (all 9,673 easy-VQA questions; ShapesVQA
  tasks per difficulty), the oracle's accuracy, and the program-mode policy's (one program per question,
  run in the code sandbox; its steps/s is programs/s);
* each tool's accuracy against ground truth (see toolgym.envs.vqa.evaluate).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

import toolgym
from toolgym.agents import ExpertPolicy
from toolgym.agents.vqa import ProgramPolicy, ToolUsingPolicy, policy_accuracy
from toolgym.envs.vqa.easyvqa import IMAGES, QUESTIONS, is_available, load_easy_vqa
from toolgym.envs.vqa.env import EasyVQAEnv, ShapesVQAEnv
from toolgym.envs.vqa.evaluate import easy_vqa_tool_accuracy, shapes_tool_accuracy
from toolgym.envs.vqa.scene import DIFFICULTIES, generate_scene, render_scene
from toolgym.envs.vqa.tools import VisualTools, format_box
from toolgym.envs.vqa.vision import analyze


def _stats(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "median_ms": round(statistics.median(ms), 4),
        "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 4),
        "n": len(ms),
    }


def _time(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def tool_latency(images: list[np.ndarray], large_threshold: float | None) -> dict[str, dict[str, float]]:
    """Latency of the analysis and of each tool (analysis cached) over the images."""
    samples: dict[str, list[float]] = {
        k: [] for k in ("analyze", "find", "count", "color", "shape", "size", "relation", "crop")
    }
    for image in images:
        _, dt = _time(analyze, image)
        samples["analyze"].append(dt)
        tools = VisualTools(image, large_threshold)
        _ = tools.analysis
        found = tools.find("object").found or ((0, 0, 8, 8),)
        a = format_box(found[0])
        b = format_box(found[-1])
        calls = (
            ("find", tools.find, ("red circle",)),
            ("count", tools.count, ("small object",)),
            ("color", tools.color, (a,)),
            ("shape", tools.shape, (a,)),
            ("size", tools.size, (a,)),
            ("relation", tools.relation, (f"{a}, {b}",)),
            ("crop", tools.crop, (a,)),
        )
        for name, fn, fn_args in calls:
            _, dt = _time(fn, *fn_args)
            samples[name].append(dt)
    return {k: _stats(v) for k, v in samples.items()}


def env_step_latency(env, task_ids: list[str]) -> dict[str, dict[str, float]]:
    """env.reset and the first env.step(find[object]) (which pays the analysis) through the whole env."""
    resets, first, later = [], [], []
    for tid in task_ids:
        _, dt = _time(lambda tid=tid: env.reset(options={"task_id": tid}))
        resets.append(dt)
        _, dt = _time(env.step, "find[object]")
        first.append(dt)
        _, dt = _time(env.step, "color[#1]")
        later.append(dt)
    return {
        "env.reset": _stats(resets),
        "env.step find (first call)": _stats(first),
        "env.step color (cached)": _stats(later),
    }


def scene_timing(n: int) -> dict[str, dict[str, float]]:
    out = {}
    for name, cfg in DIFFICULTIES.items():
        gen, ren = [], []
        for seed in range(n):
            scene, dt = _time(generate_scene, cfg, seed)
            gen.append(dt)
            _, dt = _time(render_scene, scene)
            ren.append(dt)
        out[f"generate {name}"] = _stats(gen)
        out[f"render {name}"] = _stats(ren)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and tasks (a smoke run)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "vqa_tools.json"))
    args = parser.parse_args()
    n_lat = 30 if args.quick else 200
    n_tasks = 50 if args.quick else 1000
    results: dict = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "toolgym": toolgym.__version__},
        "config": {"quick": args.quick, "latency_images": n_lat, "shapes_tasks": n_tasks},
    }
    have_easy = is_available(QUESTIONS, IMAGES)

    # ---- latency
    latency = {}
    for name in ("medium", "hard"):
        cfg = DIFFICULTIES[name]
        images = [render_scene(generate_scene(cfg, 10_000 + s)) for s in range(n_lat)]
        latency[f"ShapesVQA {name} 128x128"] = tool_latency(images, cfg.large_threshold)
        latency[f"ShapesVQA {name} 128x128"].update(
            env_step_latency(ShapesVQAEnv(difficulty=name), [f"shapes-{20_000 + s}" for s in range(n_lat)])
        )
    if have_easy:
        data = load_easy_vqa()
        images = [data.image(i) for i in range(n_lat)]
        latency["easy-VQA 64x64"] = tool_latency(images, None)
        latency["easy-VQA 64x64"].update(env_step_latency(EasyVQAEnv(), [f"q{i * 9}" for i in range(n_lat)]))
    results["latency"] = latency
    results["scenes"] = scene_timing(n_lat)

    # ---- policies
    policies = {}
    for name in DIFFICULTIES:
        env = ShapesVQAEnv(difficulty=name)
        ids = [f"shapes-{n}" for n in range(n_tasks)]
        rep = policy_accuracy(env, ToolUsingPolicy(), ids)
        policies[f"ShapesVQA {name}: tool-using policy"] = rep.to_dict()
        policies[f"ShapesVQA {name}: oracle"] = policy_accuracy(env, ExpertPolicy(), ids[:200]).to_dict()
    for name in ("medium", "hard"):
        env = ShapesVQAEnv(difficulty=name, mode="program")
        ids = [f"shapes-{n}" for n in range(n_tasks // 5)]
        policy_accuracy(env, ProgramPolicy(), ids[:2])  # start the sandbox's worker outside the timing
        rep = policy_accuracy(env, ProgramPolicy(), ids)
        policies[f"ShapesVQA {name}: program policy (sandbox)"] = rep.to_dict()
        env.close()
    if have_easy:
        easy = EasyVQAEnv(mode="program")
        ids = easy.task_ids()[:: (200 if args.quick else 20)]
        policy_accuracy(easy, ProgramPolicy(), ids[:2])
        policies["easy-VQA: program policy (sandbox)"] = policy_accuracy(easy, ProgramPolicy(), ids).to_dict()
        easy.close()
        easy = EasyVQAEnv()
        ids = easy.task_ids()[:: (20 if args.quick else 1)]
        policies["easy-VQA: tool-using policy"] = policy_accuracy(easy, ToolUsingPolicy(), ids).to_dict()
        policies["easy-VQA: oracle"] = policy_accuracy(easy, ExpertPolicy(), ids).to_dict()
    results["policies"] = policies

    # ---- tool accuracy
    accuracy = {}
    for name, cfg in DIFFICULTIES.items():
        tools = shapes_tool_accuracy(cfg, seeds=range(30_000, 30_000 + (40 if args.quick else 300)))
        accuracy[f"ShapesVQA {name}"] = {k: v.to_dict() for k, v in sorted(tools.items())}
    if have_easy:
        tools = easy_vqa_tool_accuracy(load_easy_vqa())
        accuracy["easy-VQA"] = {k: v.to_dict() for k, v in sorted(tools.items())}
    results["tool_accuracy"] = accuracy

    # ---- report
    print("\nTool latency (ms): median / p95")
    for source, rows in latency.items():
        print(f"  {source}")
        for tool, s in rows.items():
            print(f"    {tool:28s} {s['median_ms']:9.3f} / {s['p95_ms']:9.3f}   (n={s['n']})")
    print("\nScene generation and rendering (ms): median / p95")
    for name, s in results["scenes"].items():
        print(f"    {name:28s} {s['median_ms']:9.3f} / {s['p95_ms']:9.3f}")
    print("\nPolicies: accuracy, steps/s")
    for name, row in policies.items():
        o = row["overall"]
        kinds = ", ".join(f"{k} {v['correct']}/{v['total']}" for k, v in row["per_kind"].items())
        print(
            f"    {name:40s} {o['accuracy']:.4f} ({o['correct']}/{o['total']})  {row['steps_per_second']:8.1f} steps/s"
        )
        print(f"        {kinds}")
    print("\nTool accuracy against ground truth")
    for source, rows in accuracy.items():
        cells = ", ".join(f"{k} {v['accuracy']:.4f} ({v['correct']}/{v['total']})" for k, v in rows.items())
        print(f"    {source:20s} {cells}")
    if not have_easy:
        print("\n(easy-VQA rows skipped: set TOOLGYM_DATA_DIR to a folder with easy_vqa/)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
