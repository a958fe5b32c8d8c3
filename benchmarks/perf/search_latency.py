"""Search latency of the offline HotpotQA backend, bm25s vs rank_bm25, and expert episodes per second.

Usage::

    TOOLGYM_DATA_DIR=/path/to/shared/data python benchmarks/perf/search_latency.py [--queries 400] [--out FILE]

Measures, over the 24,528-page offline mini-Wikipedia of ``toolgym/HotpotQA-v0``:

* per-call latency (median, p95) of ``search`` (exact title hit; miss with five suggestions; free-text query in
  ``search_mode="query"``) and ``lookup``, as the env's tool timer records it (``latency="measured"``), and the
  whole ``env.step`` around it;
* the index build, cold (tokenize, index, save) and warm (load from the on-disk cache);
* bm25s against rank_bm25 on the same tokenized corpus and the same queries, top-5, interleaved query by query
  (one run, side by side), and their ratio;
* expert episodes per second on HotpotQA-v0 (all 1,838 questions) and MultiHop-v0 (1,000 questions), plus the
  MultiHop world's generation and index time.

Prints a table and writes JSON (default ``benchmarks/perf/results/search_latency.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def pct(xs, q):
    return float(np.percentile(np.asarray(xs) * 1000.0, q))


def summary(xs):
    return {"median_ms": pct(xs, 50), "p95_ms": pct(xs, 95), "n": len(xs)}


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def measure_env_calls(env, actions):
    """Per-call tool latency (the env's own timer) and env.step wall time for each action."""
    tool, step = [], []
    for task_id, pre, action in actions:
        env.reset(seed=0, options={"task_id": task_id})
        for a in pre:
            env.step(a)
        t0 = time.perf_counter()
        _, _, _, _, info = env.step(action)
        step.append(time.perf_counter() - t0)
        tool.append(info["tool_calls"][0]["latency_s"])
    return summary(tool), summary(step)


def run_expert(env, task_ids):
    base = env.unwrapped
    wins = 0
    t0 = time.perf_counter()
    for tid in task_ids:
        env.reset(seed=0, options={"task_id": tid})
        done, info = False, {}
        while not done:
            _, _, term, trunc, info = env.step(base.expert_action())
            done = term or trunc
        wins += info["success"]
    dt = time.perf_counter() - t0
    n = len(task_ids)
    return {"episodes": n, "seconds": dt, "episodes_per_s": n / dt, "success": wins / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--queries", type=int, default=400, help="queries per call type (default 400)")
    ap.add_argument("--rank-bm25-queries", type=int, default=150, help="queries for the side-by-side comparison")
    ap.add_argument("--out", default="benchmarks/perf/results/search_latency.json")
    args = ap.parse_args()

    import gymnasium as gym
    import rank_bm25

    import toolgym  # noqa: F401
    from toolgym.data import fetch
    from toolgym.envs.search.corpus import Corpus
    from toolgym.envs.search.index import BM25Index, load_or_build, tokenize
    from toolgym.envs.search.tasks import HOTPOT_CORPUS, hotpotqa
    from toolgym.envs.search.world import World
    from toolgym.rng import rand_elem

    rng = np.random.default_rng(0)
    results: dict = {
        "benchmark": "search_latency",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "git_commit": git_commit(),
        "queries": args.queries,
    }

    # ------------------------------------------------------------------ corpus and index build
    path = fetch(HOTPOT_CORPUS)
    t0 = time.perf_counter()
    corpus = Corpus.from_jsonl(path)
    load_s = time.perf_counter() - t0
    docs = corpus.documents()
    previous = os.environ.get("TOOLGYM_CACHE_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TOOLGYM_CACHE_DIR"] = tmp  # an empty cache: the first load_or_build is a cold build
        t0 = time.perf_counter()
        _, cold = load_or_build(docs, corpus.checksum, data_path=None)
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        idx, warm = load_or_build(docs, corpus.checksum, data_path=None)
        warm_s = time.perf_counter() - t0
        assert warm["cached"] and not cold["cached"]
        size_mb = sum(p.stat().st_size for p in Path(str(warm["path"])).iterdir()) / 1e6
    if previous is None:
        del os.environ["TOOLGYM_CACHE_DIR"]
    else:
        os.environ["TOOLGYM_CACHE_DIR"] = previous
    t0 = time.perf_counter()
    tokens = [tokenize(d) for d in docs]
    tok_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rb = rank_bm25.BM25Okapi(tokens)
    rb_build_s = time.perf_counter() - t0 + tok_s
    results["corpus"] = {"pages": len(corpus), "load_s": load_s}
    results["index_build"] = {
        "bm25s_cold_s": cold_s,
        "bm25s_warm_s": warm_s,
        "bm25s_disk_mb": size_mb,
        "rank_bm25_build_s": rb_build_s,
        "tokenize_s": tok_s,
    }

    # ------------------------------------------------------------------ bm25s vs rank_bm25, side by side
    data = hotpotqa("distractor")
    questions = [t.question for t in data.tasks]
    order = rng.permutation(len(questions))
    queries = [questions[int(i)] for i in order[: args.rank_bm25_queries]]
    for q in queries[:5]:  # warm-up
        idx.top(q, 5)
        rb.get_scores(tokenize(q))
    t_bm25s, t_rank = [], []
    agree = 0
    for q in queries:
        t0 = time.perf_counter()
        top_a = idx.top(q, 5)
        t_bm25s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        s = rb.get_scores(tokenize(q))
        top_b = np.argsort(-s, kind="stable")[:5]
        t_rank.append(time.perf_counter() - t0)
        agree += bool(top_a) and top_a[0][0] == int(top_b[0])
    results["bm25s_vs_rank_bm25"] = {
        "queries": len(queries),
        "bm25s": summary(t_bm25s),
        "rank_bm25": summary(t_rank),
        "ratio_median": pct(t_rank, 50) / pct(t_bm25s, 50),
        "top1_agreement": agree / len(queries),
    }

    # ------------------------------------------------------------------ env-level call latency
    env = gym.make("toolgym/HotpotQA-v0", latency="measured", max_steps=50)
    qenv = gym.make("toolgym/HotpotQA-v0", latency="measured", max_steps=50, search_mode="query")
    tasks = [data.tasks[int(i)] for i in order[: args.queries]]
    exact: list[tuple[str, list[str], str]] = [(t.id, [], f"search[{t.titles[0]}]") for t in tasks]
    miss: list[tuple[str, list[str], str]] = [(t.id, [], f"search[{t.titles[0]} history]") for t in tasks]
    free: list[tuple[str, list[str], str]] = [(t.id, [], f"search[{t.question}]") for t in tasks]
    look = []
    for t in tasks:
        page = corpus.find(t.titles[0])
        assert page is not None  # the gold page is in the corpus
        words = [w for w in tokenize(corpus.texts[page]) if len(w) > 3]
        look.append((t.id, [f"search[{t.titles[0]}]"], f"lookup[{rand_elem(rng, words)}]"))
    calls = [("search_exact", env, exact), ("search_miss", env, miss), ("search_free_text", qenv, free)]
    for name, e, acts in [*calls, ("lookup", env, look)]:
        measure_env_calls(e, acts[:20])  # warm-up
        tool, step = measure_env_calls(e, acts)
        results.setdefault("calls", {})[name] = {"tool": tool, "env_step": step}
    # sanity: the miss queries are misses, the exact ones hits
    env.reset(seed=0, options={"task_id": tasks[0].id})
    assert env.step(miss[0][2])[0].startswith("Could not find")

    # ------------------------------------------------------------------ expert episodes per second
    hp = gym.make("toolgym/HotpotQA-v0")
    results["expert"] = {"HotpotQA-v0": run_expert(hp, hp.unwrapped.task_ids())}  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    world = World(seed=123, size=600, distractors=2, split="train")
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    BM25Index.build(world.corpus.documents())
    mh_index_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    mh = gym.make("toolgym/MultiHop-v0")
    make_s = time.perf_counter() - t0
    results["expert"]["MultiHop-v0"] = run_expert(mh, mh.unwrapped.task_ids())  # type: ignore[attr-defined]
    results["multihop_world"] = {
        "pages": len(world.corpus),
        "generate_s": gen_s,
        "index_s": mh_index_s,
        "first_make_s": make_s,
    }

    # ------------------------------------------------------------------ report
    print(f"search latency, {len(corpus):,} pages, {args.queries} queries per call type ({results['platform']})")
    print(f"{'call':<18}{'tool median':>13}{'tool p95':>11}{'step median':>13}{'step p95':>11}  (ms)")
    for name, r in results["calls"].items():
        t, s = r["tool"], r["env_step"]
        print(f"{name:<18}{t['median_ms']:>13.3f}{t['p95_ms']:>11.3f}{s['median_ms']:>13.3f}{s['p95_ms']:>11.3f}")
    c = results["bm25s_vs_rank_bm25"]
    print(
        f"\ntop-5 retrieval, {c['queries']} questions, side by side: bm25s median {c['bm25s']['median_ms']:.3f} ms "
        f"(p95 {c['bm25s']['p95_ms']:.3f}), rank_bm25 median {c['rank_bm25']['median_ms']:.1f} ms "
        f"(p95 {c['rank_bm25']['p95_ms']:.1f}): ratio {c['ratio_median']:.0f}x (top-1 agreement "
        f"{c['top1_agreement']:.0%})"
    )
    b = results["index_build"]
    print(
        f"index build: bm25s cold {b['bm25s_cold_s']:.2f} s (tokenize + index + save, {b['bm25s_disk_mb']:.1f} MB), "
        f"warm {b['bm25s_warm_s'] * 1000:.0f} ms (load from the cache); rank_bm25 {b['rank_bm25_build_s']:.2f} s; "
        f"corpus load {results['corpus']['load_s']:.2f} s"
    )
    for name, r in results["expert"].items():
        rate, n, ok = r["episodes_per_s"], r["episodes"], r["success"]
        print(f"expert on {name}: {rate:.0f} episodes/s ({n} episodes, success {ok:.0%})")
    w = results["multihop_world"]
    print(
        f"MultiHop world ({w['pages']} pages): generate {w['generate_s'] * 1000:.0f} ms, index "
        f"{w['index_s'] * 1000:.0f} ms, first gym.make {w['first_make_s'] * 1000:.0f} ms"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
