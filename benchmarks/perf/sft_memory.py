"""Peak memory of one SFT micro-batch on Gemma-3-270M (262,144-token vocabulary): chunked loss vs full logits.

Each variant runs in its own process (peak RSS is per process): load Gemma-3-270M (GGUF, dequantised), wrap it in
LoRA (r=8 on q/v, so parameter gradients are small and the loss dominates), then one forward + backward on a
micro-batch of ``--batch`` x ``--tokens`` tokens, half of them labelled:

* ``full``: the model's own loss (``model(..., labels=...)``): float32 logits of the whole micro-batch;
* ``chunked``: :func:`toolgym.algorithms.sft.masked_lm_loss`: labelled positions only, in chunks recomputed in
  the backward pass.

Reports the peak RSS after loading, the peak after the step, their difference (the step's own memory), the
seconds of the step and the loss (equal within float error). Usage::

    python benchmarks/perf/sft_memory.py [--batch 4] [--tokens 256] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "2")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def one(variant: str, batch: int, tokens: int) -> dict:
    import peft
    import torch
    import transformers

    from toolgym.agents.llm.gemma import gemma_gguf_path
    from toolgym.algorithms.sft import IGNORE, masked_lm_loss

    torch.set_num_threads(2)
    path = gemma_gguf_path()
    model: Any = transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32
    )
    model = peft.get_peft_model(model, peft.LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    model.train()
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 20000, (batch, tokens), generator=gen)
    labels = ids.clone()
    labels[:, : tokens // 2] = IGNORE
    mask = torch.ones_like(ids)
    loaded = _peak_mb()
    start = time.perf_counter()
    if variant == "full":
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    else:
        total, n = masked_lm_loss(model, {"input_ids": ids, "attention_mask": mask, "labels": labels})
        loss = total / n
    loss.backward()
    seconds = time.perf_counter() - start
    peak = _peak_mb()
    return {
        "variant": variant,
        "peak_after_load_mb": loaded,
        "peak_after_step_mb": peak,
        "step_mb": peak - loaded,
        "seconds": seconds,
        "loss": float(loss),
        "logits_fp32_mb_if_materialised": batch * tokens * 262144 * 4 / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--variant", choices=["full", "chunked"])
    ap.add_argument("--out", default="benchmarks/perf/results/sft_memory.json")
    args = ap.parse_args()
    if args.variant:  # the child process
        print(json.dumps(one(args.variant, args.batch, args.tokens)))
        return
    rows = []
    for variant in ("chunked", "full"):
        cmd = [sys.executable, __file__, "--variant", variant, "--batch", str(args.batch), "--tokens", str(args.tokens)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        rows.append(json.loads(out))
    result = {"batch": args.batch, "tokens": args.tokens, "rows": rows, "load_average": os.getloadavg()[0]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print("| variant | step memory (MB) | peak RSS (MB) | seconds | loss |\n|---|---|---|---|---|")
    for r in rows:
        peak, step = r["peak_after_step_mb"], r["step_mb"]
        print(f"| {r['variant']} | {step:.0f} | {peak:.0f} | {r['seconds']:.1f} | {r['loss']:.4f} |")


if __name__ == "__main__":
    main()
