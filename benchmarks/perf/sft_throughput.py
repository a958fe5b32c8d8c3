"""SFT throughput: toolgym's ``run_sft`` (transformers Trainer, chunked masked loss) vs a plain PyTorch loop.

Side by side in one run, on the same examples (FireAct-format ToolChoice-Arithmetic demonstrations encoded with
agent-only labels), the same model (a GPT-2 built from scratch, same initial weights), the same batch size,
optimizer (AdamW), learning rate and number of steps:

* ``plain``: a hand-written loop: shuffle, right-pad, ``model(..., labels=...)``, backward, clip, step;
* ``run_sft``: :func:`toolgym.algorithms.sft.run_sft` (Trainer, random batches as by default, chunked loss),
  no checkpoints; ``run_sft_buckets``: the same with length-grouped batches (less padding).

Reports trained tokens per second (all tokens of the batches, padding excluded) and the ratio (target: run_sft
within 1.3x of the plain loop's time). The order is plain, run_sft, run_sft_buckets, twice (the
best kept). One thread (``torch.set_num_threads(1)``); the load average is recorded. Usage::

    python benchmarks/perf/sft_throughput.py [--steps 60] [--batch 32] [--layers 4] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from toolgym.agents import make_policy, rollout  # noqa: E402
from toolgym.agents.prompting.training import training_segments  # noqa: E402
from toolgym.algorithms.models import ModelSpec, build_model, trained_llm  # noqa: E402
from toolgym.algorithms.sft import IGNORE, SFTConfig, _pad_batch, encode_segments, run_sft  # noqa: E402


def examples(n: int, spec: ModelSpec) -> tuple[list[dict], int]:
    eps = rollout(
        make_policy("calc-teacher"),
        "toolgym/ToolChoice-Arithmetic-v0",
        task_ids=[f"L{1 + i % 5}-{i}" for i in range(n)],
    )
    model, tok = build_model(spec)
    renderer = make_policy("fireact", llm=trained_llm(model, tok), thoughts=False)
    encoded = [encode_segments(training_segments(renderer, e.trajectory), tok) for e in eps]
    return [x for x in encoded if x is not None], tok.pad_token_id  # None: an example with nothing to learn


def plain(spec: ModelSpec, data: list[dict], pad: int, steps: int, batch: int, lr: float) -> float:
    model, _ = build_model(spec)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(data), generator=gen).tolist()
    start = time.perf_counter()
    for s in range(steps):
        idx = [order[(s * batch + i) % len(order)] for i in range(batch)]
        b = _pad_batch([data[i] for i in idx], pad)
        loss = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def trainer(spec: ModelSpec, data: list[dict], pad: int, steps: int, batch: int, lr: float, buckets: bool) -> float:
    model, tok = build_model(spec)
    folder = Path(tempfile.mkdtemp(prefix="sft-bench-"))
    try:
        cfg = SFTConfig(
            output_dir=str(folder), max_steps=steps, batch_size=batch, learning_rate=lr, warmup_ratio=0.0,
            lr_scheduler="constant", logging_steps=10_000, group_by_length=buckets,
        )  # fmt: skip
        res = run_sft(model, tok, data, cfg)
        train_s = next((r["train_runtime"] for r in res.log if "train_runtime" in r), res.wall_s)
        return float(train_s)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--examples", type=int, default=2000)
    ap.add_argument("--out", default="benchmarks/perf/results/sft_throughput.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    spec = ModelSpec(n_layer=args.layers, n_embd=128, n_head=4, n_positions=256)
    data, pad = examples(args.examples, spec)
    tokens_per_step = args.batch * sum(len(d["input_ids"]) for d in data) / len(data)
    supervised = sum(sum(t != IGNORE for t in d["labels"]) for d in data) / sum(len(d["input_ids"]) for d in data)
    load_start = os.getloadavg()[0]
    runs: dict[str, list[float]] = {"plain": [], "run_sft": [], "run_sft_buckets": []}
    for _ in range(2):
        runs["plain"].append(plain(spec, data, pad, args.steps, args.batch, 2e-3))
        runs["run_sft"].append(trainer(spec, data, pad, args.steps, args.batch, 2e-3, False))
        runs["run_sft_buckets"].append(trainer(spec, data, pad, args.steps, args.batch, 2e-3, True))
    best = {k: min(v) for k, v in runs.items()}
    result = {
        "steps": args.steps,
        "batch": args.batch,
        "layers": args.layers,
        "tokens_per_step_mean": tokens_per_step,
        "supervised_token_share": supervised,
        "seconds": runs,
        "tokens_per_s": {k: tokens_per_step * args.steps / v for k, v in best.items()},
        "ratio_run_sft_over_plain": best["run_sft"] / best["plain"],
        "ratio_run_sft_buckets_over_plain": best["run_sft_buckets"] / best["plain"],
        "target_ratio": 1.3,
        "load_average": [load_start, os.getloadavg()[0]],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print("| loop | best s | tokens/s |\n|---|---|---|")
    for k, v in best.items():
        print(f"| {k} | {v:.2f} | {result['tokens_per_s'][k]:.0f} |")
    print(
        f"run_sft / plain = {result['ratio_run_sft_over_plain']:.2f} (target <= 1.3), with length buckets "
        f"{result['ratio_run_sft_buckets_over_plain']:.2f}; load {result['load_average']}"
    )


if __name__ == "__main__":
    main()
