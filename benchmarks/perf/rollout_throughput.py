"""Rollout throughput: episodes per minute of ReAct with the tiny local model, N parallel envs vs a sequential loop.

Measures, side by side in one run, on the same episodes (seeds 0..E-1, greedy decoding, so every
configuration takes the same steps):

* ``sequential``: a plain Python loop, one episode after the other, one model call per step;
* ``rollout N=1/4/16``: :func:`toolgym.agents.rollout` with N envs side by side and one batched model
  call per round;

for two backends: the tiny model in-process (``hf``), and the same model behind toolgym's OpenAI-compatible
server (``python -m toolgym.agents.serve``, a separate process started afresh for each configuration; the
client sends N concurrent requests and the server batches them). For each: episodes per minute, the
speed-up over sequential, and the share of wall time spent outside the model (wall time minus the time
inside ``LLM.generate``, over wall time).
Every configuration of a backend uses the same model settings, so the speed-ups compare like with like, and
starts with an empty prefix cache (the warm-up episode, outside the timing, is not one of those measured).

``--prefix-cache on`` (default) runs the backend with its prefix (key/value) cache, ``off`` without it
(transformers' ``generate`` over padded batches, as before the cache), ``both`` runs the whole set twice,
off first, for a before/after in one run. In-process rows also report the share of prompt tokens taken from
the cache and the seconds of prefill and decoding. The machine's load average (``os.getloadavg``) is
recorded at the start and the end: the figures are only comparable within one run.

``--engines`` compares, in one run on the same episodes, the ways the ``hf`` backend can generate (each with
its own rows): ``plain`` (transformers' ``generate`` over padded batches, no prefix cache), ``prefill-off``
(the prefix cache, each prompt prefilled on its own: the path before batched prefill), ``prefill-on`` (the
prefix cache with batched prefill, the default), ``paged`` (transformers' paged continuous batching,
``engine="paged"``), and ``vllm`` (the ``vllm`` backend, when vllm is installed and ``--model`` names a hub
model). Every row also reports generated tokens per second. The model is the tiny one on the CPU unless
``--model`` names another (then loaded with ``device="auto"``: a GPU when there is one).

Environment: ``toolgym/MultiHop-v0`` when it is registered, else ``toolgym/ToolChoice-Arithmetic-v0``
(``--env`` to choose). Usage::

    python benchmarks/perf/rollout_throughput.py [--episodes 32] [--env ID] [--prefix-cache on|off|both] [--out FILE]
    python benchmarks/perf/rollout_throughput.py --engines plain,prefill-off,prefill-on,paged,vllm --skip-server
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym  # noqa: E402
import torch  # noqa: E402

import toolgym  # noqa: E402, F401
from toolgym.agents import make_policy, rollout  # noqa: E402
from toolgym.agents.llm import make_llm  # noqa: E402
from toolgym.agents.llm.openai_compat import OpenAILLM  # noqa: E402
from toolgym.registry import toolgym_ids  # noqa: E402

torch.set_num_threads(1)

WARMUP_SEED = 1_000_000


def sequential(policy, env_id: str, episodes: int, env_kwargs: dict) -> int:
    """The naive loop a user would write: one env, one model call per step. Returns the steps taken."""
    env = gym.make(env_id, **env_kwargs)
    steps = 0
    for seed in range(episodes):
        obs, info = env.reset(seed=seed)
        policy.reset(obs, info, env=env, slot=0)
        done = False
        while not done:
            action = policy.act(obs, info, slot=0)
            obs, _, terminated, truncated, info = env.step(action)
            steps += 1
            done = terminated or truncated
    env.close()
    return steps


#: Engine name -> the ``hf`` backend's options for it (``vllm`` is its own backend).
ENGINES: dict[str, dict[str, Any]] = {
    "plain": {"prefix_cache": False},
    "prefill-off": {"prefix_cache": "auto", "batched_prefill": False},
    "prefill-on": {"prefix_cache": "auto", "batched_prefill": True},
    "paged": {"engine": "paged"},
}
ENGINE_LABELS = {
    "plain": "transformers generate",
    "prefill-off": "prefix cache, prefill one by one",
    "prefill-on": "prefix cache, batched prefill",
    "paged": "paged continuous batching",
    "vllm": "vllm",
}


def build_engine(engine: str, model: str | None):
    """The backend for one engine, or ``None`` (with the reason) when it cannot run here."""
    if engine == "vllm":
        if importlib.util.find_spec("vllm") is None:
            return None, "vllm is not installed"
        if not model:
            return None, "vllm needs --model (a hub model)"
        return make_llm({"backend": "vllm", "model": model}), ""
    if model:
        return make_llm({"backend": "hf", "model": model, "device": "auto", **ENGINES[engine]}), ""
    return make_llm("tiny", **ENGINES[engine]), ""


def measure(llm, env_id: str, episodes: int, n: int | None, args) -> dict:
    policy = make_policy("react", llm=llm, max_tokens=args.max_tokens, num_examples=args.examples)
    env_kwargs: dict[str, object] = {}
    store = getattr(llm, "prefix_cache", None)
    clear = getattr(llm, "clear_cache", None) or (store.clear if store is not None else None)
    if clear is not None:  # every configuration starts cold: the same episodes must not hit an earlier run's prompts
        clear()
    # warm-up (examples are built, lazy loads happen) outside the timing, on an episode not measured
    rollout(policy, env_id, seeds=[WARMUP_SEED], env_kwargs=env_kwargs)
    busy0 = llm.stats.busy_s
    calls0 = llm.stats.calls
    tokens0 = llm.stats.completion_tokens
    cache0 = store.stats.as_dict() if store is not None and getattr(llm, "uses_prefix_cache", False) else None
    start = time.perf_counter()
    if n is None:
        steps = sequential(policy, env_id, episodes, env_kwargs)
        errors = 0
    else:
        eps = rollout(policy, env_id, episodes=episodes, num_envs=n, env_kwargs=env_kwargs)
        steps = sum(e.result.steps for e in eps)
        errors = sum(e.result.error is not None for e in eps)
    wall = time.perf_counter() - start
    busy = llm.stats.busy_s - busy0
    extra = {}
    if cache0 is not None:
        assert store is not None  # cache0 is set only with a store
        now = store.stats.as_dict()
        d = {k: now[k] - cache0[k] for k in now}
        prompt = d["reused_tokens"] + d["computed_tokens"]
        extra = {
            "prompt_tokens_reused_share": round(d["reused_tokens"] / prompt, 4) if prompt else 0.0,
            "prefill_s": round(d["prefill_s"], 3),
            "decode_s": round(d["decode_s"], 3),
        }
    return {
        "config": "sequential" if n is None else f"rollout N={n}",
        "num_envs": n or 1,
        "episodes": episodes,
        "steps": steps,
        "errors": errors,
        "wall_s": round(wall, 3),
        "episodes_per_min": round(episodes / wall * 60, 1),
        "llm_s": round(busy, 3),
        "outside_llm_share": round(max(wall - busy, 0.0) / wall, 4),
        "llm_calls": llm.stats.calls - calls0,
        "completion_tokens": llm.stats.completion_tokens - tokens0,
        "tokens_per_s": round((llm.stats.completion_tokens - tokens0) / wall, 1),
        **extra,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, prefix_cache: bool) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "toolgym.agents.serve", "--backend", "tiny", "--port", str(port), "--threads", "1"]
    cmd += ["--prefix-cache", "auto" if prefix_cache else "off"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the toolgym server did not start within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    default_env = (
        "toolgym/MultiHop-v0" if "toolgym/MultiHop-v0" in toolgym_ids() else "toolgym/ToolChoice-Arithmetic-v0"
    )
    parser.add_argument("--env", default=default_env)
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=100, help="ReAct used 100")
    parser.add_argument("--examples", type=int, default=2, help="few-shot examples in the prompt")
    parser.add_argument("--sizes", default="1,4,16")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument(
        "--prefix-cache", choices=("on", "off", "both"), default="on", help="the backends' prefix cache (default on)"
    )
    parser.add_argument(
        "--engines", default="", help=f"compare these, comma-separated, among {sorted([*ENGINES, 'vllm'])} (in-process)"
    )
    parser.add_argument("--model", default=None, help="a hub model for --engines (default: the tiny model, CPU)")
    parser.add_argument("--no-sequential", action="store_true", help="skip the sequential loop")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "rollout_throughput.json"))
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    configs = sizes if args.no_sequential else [None, *sizes]

    load_start = os.getloadavg()
    rows = []
    skipped = {}
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - {*ENGINES, "vllm"})
    if unknown:
        parser.error(f"unknown engines {unknown}")
    for engine in engines:
        llm, why = build_engine(engine, args.model)
        if llm is None:
            skipped[engine] = why
            print(f"{engine}: skipped ({why})", flush=True)
            continue
        for n in configs:
            label = f"{ENGINE_LABELS[engine]} ({args.model or 'tiny'})"
            rows.append({"backend": label, "engine": engine, **measure(llm, args.env, args.episodes, n, args)})
            print(rows[-1], flush=True)
        release = getattr(llm, "release", None)
        if callable(release):
            release()
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.prefix_cache] if not engines else []
    for cached in modes:
        tag = "prefix cache" if cached else "no prefix cache"
        llm = make_llm("tiny", prefix_cache="auto" if cached else False)
        for n in [None, *sizes]:
            rows.append({"backend": f"hf (tiny, in-process), {tag}", **measure(llm, args.env, args.episodes, n, args)})
            print(rows[-1], flush=True)
        if args.skip_server:
            continue
        for n in [None, *sizes]:  # a fresh server per configuration: its prefix cache starts cold too
            port = free_port()
            proc = start_server(port, cached)
            try:
                remote = OpenAILLM(
                    model="tiny",
                    base_url=f"http://127.0.0.1:{port}/v1",
                    api="completions",
                    max_concurrency=32,
                )
                rows.append(
                    {"backend": f"openai (local server), {tag}", **measure(remote, args.env, args.episodes, n, args)}
                )
                print(rows[-1], flush=True)
                remote.close()
            finally:
                proc.terminate()
                proc.wait(timeout=10)
    load_end = os.getloadavg()

    for backend in dict.fromkeys(r["backend"] for r in rows):
        base = next((r for r in rows if r["backend"] == backend and r["config"] == "sequential"), None)
        for r in rows:
            if r["backend"] == backend:
                r["speedup_vs_sequential"] = (
                    round(r["episodes_per_min"] / base["episodes_per_min"], 2) if base else None
                )

    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(
        f"\nReAct, {args.model or 'tiny model'}, {args.env}, {args.episodes} episodes, {args.examples} examples, "
        f"max_tokens={args.max_tokens}, {device}; load average {load_start[0]:.2f} at the start, "
        f"{load_end[0]:.2f} at the end"
    )
    head = (
        f"{'backend':<46} {'config':<14} {'ep/min':>8} {'tok/s':>8} {'x seq':>6} {'wall s':>7} {'LLM s':>7} "
        f"{'outside':>8} {'calls':>6} {'reused':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        reused = f"{r['prompt_tokens_reused_share']:.1%}" if "prompt_tokens_reused_share" in r else "-"
        speedup = f"{r['speedup_vs_sequential']:.2f}" if r.get("speedup_vs_sequential") is not None else "-"
        print(
            f"{r['backend']:<46} {r['config']:<14} {r['episodes_per_min']:>8.1f} {r['tokens_per_s']:>8.1f} "
            f"{speedup:>6} {r['wall_s']:>7.2f} {r['llm_s']:>7.2f} {r['outside_llm_share']:>7.1%} "
            f"{r['llm_calls']:>6} {reused:>7}"
        )
    for engine, why in skipped.items():
        print(f"{engine}: skipped ({why})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "env": args.env,
        "episodes": args.episodes,
        "max_tokens": args.max_tokens,
        "examples": args.examples,
        "torch_threads": torch.get_num_threads(),
        "prefix_cache": args.prefix_cache,
        "engines": engines,
        "engines_skipped": skipped,
        "model": args.model or "tiny",
        "device": device,
        "cpu_count": os.cpu_count(),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in load_end],
        "toolgym": toolgym.__version__,
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
