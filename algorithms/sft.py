"""Supervised fine-tuning on agent trajectories, with the loss on the agent's tokens only.

The text comes from the policy's own prompts (:func:`~toolgym.agents.prompting.training.training_segments`):
context segments (prompt, examples, observations) are masked (label ``-100``), the agent's segments (thought,
action and the stop marker that ended its completion) are learned. :func:`encode_segments` tokenises each
segment on its own, as at inference the model's tokens follow the prompt's.

Training runs on transformers' ``Trainer`` (gradient accumulation, length bucketing, bf16 where supported,
checkpoints with optimizer, scheduler and RNG states; ``accelerate launch`` runs it on several GPUs
unchanged), with peft LoRA or full fine-tuning. Two things are added:

* the loss is computed only where labels are set, from the decoder's last hidden states, in chunks of
  positions whose logits are recomputed in the backward pass, so a 262k-token vocabulary (Gemma 3) never
  materialises float32 logits for a whole batch (``loss_chunk``);
* resuming picks the last *complete* checkpoint (one killed mid-write is skipped), and a callback can roll
  the model out in an environment every ``eval_steps`` steps.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from toolgym.agents.prompting.training import Segment
from toolgym.error import ConfigError, require

__all__ = [
    "IGNORE",
    "LoraSettings",
    "SFTConfig",
    "SFTResult",
    "encode_segments",
    "last_complete_checkpoint",
    "masked_lm_loss",
    "run_sft",
    "state_hash",
]

logger = logging.getLogger(__name__)

#: The label of tokens the loss ignores.
IGNORE = -100


# ---------------------------------------------------------------------------------------------- encoding
def encode_segments(
    segments: Sequence[Segment], tokenizer: Any, *, bos: bool | None = None, max_length: int | None = None
) -> dict[str, list[int]] | None:
    """Token ids and labels of one training text: each segment tokenised on its own, context masked.

    Args:
        segments: From :func:`~toolgym.agents.prompting.training.training_segments`.
        tokenizer: The model's tokenizer.
        bos: Start with the BOS token (default: when the tokenizer adds one to an encoding, as Gemma's does).
        max_length: Longer examples are dropped (``None`` returned): cutting one would train on a task the
            model cannot see.

    Returns:
        ``{"input_ids": [...], "labels": [...]}`` (labels ``-100`` on context tokens), or ``None``.
    """
    if bos is None:
        probe = tokenizer("x", add_special_tokens=True)["input_ids"]
        bos = tokenizer.bos_token_id is not None and probe[:1] == [tokenizer.bos_token_id]
    ids: list[int] = [tokenizer.bos_token_id] if bos else []
    labels: list[int] = [IGNORE] if bos else []
    for seg in segments:
        toks = list(tokenizer(seg.text, add_special_tokens=False)["input_ids"])
        ids += toks
        labels += toks if seg.trained else [IGNORE] * len(toks)
    if max_length is not None and len(ids) > max_length:
        return None
    return {"input_ids": ids, "labels": labels}


def _pad_batch(features: Sequence[Mapping[str, Sequence[int]]], pad_id: int) -> dict[str, Any]:
    """Right-pad a batch (the policy's tokenizer pads left for generation; training wants natural positions)."""
    import torch

    width = max(len(f["input_ids"]) for f in features)
    ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    for i, f in enumerate(features):
        n = len(f["input_ids"])
        ids[i, :n] = torch.as_tensor(f["input_ids"])
        labels[i, :n] = torch.as_tensor(f["labels"])
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


# ---------------------------------------------------------------------------------------------- the loss
def _unwrap(model: Any) -> Any:
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


def masked_lm_loss(model: Any, inputs: Mapping[str, Any], *, chunk: int | None = None) -> tuple[Any, int]:
    """The summed next-token cross-entropy over labelled positions, and their number.

    Runs the decoder (LoRA layers included), keeps the last hidden states of the positions whose next token is
    labelled, and applies the output layer (and Gemma's final logit soft-capping) to ``chunk`` of them at a
    time under activation checkpointing: the logits of all labelled positions never coexist, in the forward or
    the backward pass.

    Args:
        model: A transformers causal LM (or a peft model around one).
        inputs: ``input_ids``, ``attention_mask``, ``labels``.
        chunk: Positions per chunk (default: about 2**25 logits per chunk).

    Returns:
        ``(loss_sum, n_labelled)``.
    """
    import torch
    from torch.utils.checkpoint import checkpoint

    base = _unwrap(model)
    decoder = base.get_decoder()
    head = base.get_output_embeddings()
    hidden = decoder(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask")).last_hidden_state
    labels = inputs["labels"][:, 1:]
    keep = labels != IGNORE
    h = hidden[:, :-1][keep]
    y = labels[keep]
    n = int(y.numel())
    if n == 0:
        return hidden.sum() * 0.0, 0
    config = getattr(base, "config", None)
    text_config = config.get_text_config() if config is not None and hasattr(config, "get_text_config") else config
    cap = getattr(text_config, "final_logit_softcapping", None)
    vocab = int(head.weight.shape[0])
    size = chunk or max(1, (1 << 25) // vocab)

    def piece(hs: Any, ys: Any) -> Any:
        logits = head(hs).float()
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return torch.nn.functional.cross_entropy(logits, ys, reduction="sum")

    total = hidden.new_zeros((), dtype=torch.float32)
    for lo in range(0, n, size):
        hs, ys = h[lo : lo + size], y[lo : lo + size]
        total = total + (checkpoint(piece, hs, ys, use_reentrant=False) if torch.is_grad_enabled() else piece(hs, ys))
    return total, n


# ---------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapters (peft).

    Attributes:
        r: Rank (FireAct: 8).
        alpha: Scale (FireAct: 16).
        dropout: Dropout on the adapter's input.
        target_modules: Module names to adapt (default: peft's choice for the architecture, e.g. q/v).
    """

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SFTConfig:
    """How to fine-tune.

    Attributes:
        output_dir: Checkpoints and the final model go here.
        epochs: Passes over the data (ignored when ``max_steps`` > 0).
        max_steps: Optimizer steps (> 0 overrides ``epochs``).
        learning_rate: Peak learning rate.
        batch_size: Examples per device per micro-batch.
        grad_accum: Micro-batches per optimizer step.
        warmup_ratio: Share of steps with a linear warm-up.
        lr_scheduler: transformers scheduler name (``"cosine"``, ``"linear"``, ``"constant"``...).
        weight_decay: AdamW weight decay.
        max_grad_norm: Gradient clipping.
        lora: LoRA settings, or ``None`` for full fine-tuning.
        max_length: Longer examples are dropped (and counted).
        group_by_length: Bucket examples of similar length into batches (less padding, faster steps). Off by
            default: on the arithmetic FireAct task, length-homogeneous batches (one difficulty level each) kept a
            small model from learning to copy numbers in 600 steps (2 of 2 seeds), random batches did not.
        bf16: ``"auto"`` (on CUDA devices that support it), ``True`` or ``False``.
        seed: Seeds data order, dropout and initialisation of adapters.
        save_steps: Checkpoint every so many steps (0: only at the end).
        save_total_limit: Checkpoints kept.
        logging_steps: Log the loss every so many steps.
        eval_steps: Call the evaluation hook every so many steps (0: only at the end, if one is given).
        loss_chunk: Positions per chunk of the loss (``None``: about 2**25 logits a chunk).
        threads: torch CPU threads (``None``: leave as is).
    """

    output_dir: str
    epochs: float = 3.0
    max_steps: int = -1
    learning_rate: float = 5e-4
    batch_size: int = 16
    grad_accum: int = 1
    warmup_ratio: float = 0.03
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    lora: LoraSettings | None = None
    max_length: int = 1024
    group_by_length: bool = False
    bf16: bool | str = "auto"
    seed: int = 0
    save_steps: int = 0
    save_total_limit: int = 2
    logging_steps: int = 10
    eval_steps: int = 0
    loss_chunk: int | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.output_dir, (str, os.PathLike)) or not str(self.output_dir):
            raise ConfigError(f"SFTConfig.output_dir: expected a folder path, got {self.output_dir!r}.")
        if self.max_steps <= 0 and not self.epochs > 0:
            raise ConfigError(f"SFTConfig: expected epochs > 0 or max_steps > 0, got {self.epochs}, {self.max_steps}.")
        for name in ("batch_size", "grad_accum", "max_length"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"SFTConfig.{name}: expected a positive int, got {getattr(self, name)!r}.")
        if self.bf16 not in ("auto", True, False):
            raise ConfigError(f"SFTConfig.bf16: expected 'auto', True or False, got {self.bf16!r}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


@dataclass
class SFTResult:
    """What :func:`run_sft` returns.

    Attributes:
        model: The trained model, in eval mode, on its device.
        final_dir: The saved model (a full model folder, or a peft adapter folder).
        steps: Optimizer steps taken in all (resumed runs included).
        train_tokens: Tokens in the examples trained on, times epochs (the training budget).
        dropped: Examples longer than ``max_length``, left out.
        log: The Trainer's log history (losses, learning rates, evaluation-hook results).
        wall_s: Seconds of this call.
    """

    model: Any
    final_dir: Path
    steps: int
    train_tokens: int
    dropped: int
    log: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0


# ---------------------------------------------------------------------------------------------- checkpoints
def last_complete_checkpoint(folder: str | os.PathLike[str]) -> Path | None:
    """The newest ``checkpoint-N`` whose trainer state (written last) is whole; torn ones are removed."""
    root = Path(folder)
    if not root.is_dir():
        return None
    found = []
    for d in root.iterdir():
        if d.is_dir() and d.name.startswith("checkpoint-") and d.name[len("checkpoint-") :].isdigit():
            found.append((int(d.name[len("checkpoint-") :]), d))
    for _, d in sorted(found, reverse=True):
        try:
            json.loads((d / "trainer_state.json").read_text(encoding="utf-8"))
            return d
        except (OSError, ValueError):
            logger.warning("removing the incomplete checkpoint %s (killed while it was written)", d)
            shutil.rmtree(d, ignore_errors=True)
    return None


def state_hash(model: Any) -> str:
    """A SHA-256 of the model's trainable tensors (names, shapes and bytes), to compare two runs."""
    h = hashlib.sha256()
    for name, p in sorted(_unwrap(model).named_parameters(), key=lambda kv: kv[0]):
        if not p.requires_grad:
            continue
        h.update(name.encode())
        t = p.detach().float().cpu().contiguous()
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- training
def _trainer_classes() -> tuple[Any, Any, Any]:
    transformers: Any = require("transformers", "llm", "Fine-tuning")

    class MaskedTrainer(transformers.Trainer):
        """``Trainer`` with :func:`masked_lm_loss` (chunked, labelled positions only)."""

        loss_chunk: int | None = None
        bucket_seed: int = 0

        def _get_train_sampler(self, train_dataset: Any = None) -> Any:  # noqa: D102 (transformers API)
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            if self.args.train_sampling_strategy != "group_by_length":
                return super()._get_train_sampler(train_dataset)
            lengths = [len(dataset[i]["input_ids"]) for i in range(len(dataset))]
            size = self.args.train_batch_size * self.args.gradient_accumulation_steps
            return _LengthBuckets(lengths, size, self.bucket_seed)

        def compute_loss(  # noqa: D102 (transformers API)
            self, model: Any, inputs: Any, return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            total, n = masked_lm_loss(model, inputs, chunk=self.loss_chunk)
            denom = num_items_in_batch if num_items_in_batch is not None else max(n, 1)
            if hasattr(denom, "to"):
                denom = denom.to(total.device)
            loss = total / denom
            if self.args.n_gpu > 1 or getattr(self.accelerator, "num_processes", 1) > 1:
                loss = loss * self.accelerator.num_processes  # Trainer averages over processes afterwards
            return (loss, None) if return_outputs else loss

    class EvalHook(transformers.TrainerCallback):
        """Call ``fn(model, step)`` every ``every`` steps and at the end; log and keep its metrics."""

        def __init__(self, fn: Callable[[Any, int], Mapping[str, float]], every: int) -> None:
            self.fn, self.every, self.done_at = fn, every, -1

        def _run(self, state: Any, model: Any) -> None:
            if state.global_step == self.done_at:
                return
            self.done_at = state.global_step
            was_training = model.training
            model.eval()
            metrics = {f"eval_{k}": float(v) for k, v in dict(self.fn(model, state.global_step)).items()}
            if was_training:
                model.train()
            state.log_history.append({"step": state.global_step, **metrics})

        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            if self.every > 0 and state.global_step % self.every == 0:
                self._run(state, model)

        def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            self._run(state, model)

    class LogToLogger(transformers.TrainerCallback):
        """The Trainer's log lines (loss, learning rate) to ``logging`` at INFO, not to stdout."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logger.info("step %d: %s", state.global_step, logs)

    return MaskedTrainer, EvalHook, LogToLogger


def _prepare_model(model: Any, config: SFTConfig) -> Any:
    if config.lora is None:
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    peft: Any = require("peft", "llm", "LoRA fine-tuning")
    if hasattr(model, "peft_config"):
        return model  # resumed or already wrapped
    lora = config.lora
    cfg = peft.LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules) if lora.target_modules else None,
        task_type="CAUSAL_LM",
    )
    return peft.get_peft_model(model, cfg)


def _use_bf16(config: SFTConfig, model: Any) -> bool:
    import torch

    if config.bf16 != "auto":
        return bool(config.bf16)
    param = next(iter(model.parameters()), None)
    on_cuda = param is not None and param.device.type == "cuda"
    return bool(on_cuda and torch.cuda.is_bf16_supported())


def run_sft(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Mapping[str, Sequence[int]]],
    config: SFTConfig,
    *,
    eval_fn: Callable[[Any, int], Mapping[str, float]] | None = None,
    resume: bool = False,
) -> SFTResult:
    """Fine-tune ``model`` on encoded examples (:func:`encode_segments`).

    Args:
        model: A transformers causal LM (trained in place; LoRA wraps it in a peft model).
        tokenizer: Its tokenizer (pad id; saved with the final model).
        examples: ``{"input_ids", "labels"}`` dicts; ``None`` entries (over-long examples) are counted as dropped.
        config: The training settings.
        eval_fn: Called as ``eval_fn(model, step)`` every ``config.eval_steps`` steps and at the end; its metrics
            are logged (``eval_<name>``) into the result's log.
        resume: Continue from the last complete checkpoint in ``config.output_dir`` (after a crash or kill);
            with the same data and config the final weights equal an uninterrupted run's.

    Returns:
        The :class:`SFTResult`; the final model is saved in ``<output_dir>/final``.

    Raises:
        ConfigError: No example to train on.
    """
    import time

    import torch

    transformers: Any = require("transformers", "llm", "Fine-tuning")
    start = time.perf_counter()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    kept = [dict(e) for e in examples if e is not None]
    dropped = len(examples) - len(kept)
    if not kept:
        raise ConfigError(
            f"run_sft: expected at least one example of at most max_length={config.max_length} tokens, got none "
            f"({dropped} dropped as too long). Raise max_length or shorten the prompts."
        )
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = last_complete_checkpoint(out) if resume else None
    if not resume and any(out.glob("checkpoint-*")):
        raise ConfigError(
            f"run_sft: {out} already holds checkpoints of an earlier run. Pass resume=True to continue it, or use "
            "another output_dir."
        )
    model = _prepare_model(model, config)
    model.train()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    steps_per_epoch = math.ceil(len(kept) / (config.batch_size * config.grad_accum))
    total_steps = config.max_steps if config.max_steps > 0 else math.ceil(steps_per_epoch * config.epochs)
    args = transformers.TrainingArguments(
        output_dir=str(out),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps if config.max_steps > 0 else -1,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        warmup_steps=int(config.warmup_ratio * total_steps),
        lr_scheduler_type=config.lr_scheduler,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        bf16=_use_bf16(config, model),
        seed=config.seed,
        data_seed=config.seed,
        save_strategy="steps" if config.save_steps > 0 else "no",
        save_steps=max(config.save_steps, 1),
        save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps,
        report_to=[],
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        use_cpu=not any(p.device.type == "cuda" for p in model.parameters()),
    )
    trainer_cls, hook_cls, log_cls = _trainer_classes()
    callbacks = [hook_cls(eval_fn, config.eval_steps)] if eval_fn is not None else []
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=_ListDataset(kept),
        data_collator=lambda feats: _pad_batch(feats, pad_id),
        callbacks=callbacks,
    )
    # the Trainer prints each log line (disable_tqdm keeps its PrinterCallback): log through logging instead
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
    trainer.add_callback(log_cls())
    trainer.loss_chunk = config.loss_chunk
    trainer.bucket_seed = config.seed
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
    model = trainer.model
    model.eval()
    final = out / "final"
    tmp = out / "final.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    tokens = sum(len(e["input_ids"]) for e in kept)
    epochs = trainer.state.global_step / max(steps_per_epoch, 1)
    return SFTResult(
        model=model,
        final_dir=final,
        steps=int(trainer.state.global_step),
        train_tokens=int(tokens * epochs),
        dropped=dropped,
        log=list(trainer.state.log_history),
        wall_s=time.perf_counter() - start,
    )


class _LengthBuckets:
    """Length-grouped batches (transformers' grouping) whose order depends only on the seed and the epoch.

    transformers' own length-grouped sampler draws from torch's global generator, whose state on resuming
    mid-epoch is the checkpoint's, not the epoch start's, so a resumed run would see other batches. This one is
    reseeded by ``set_epoch`` (the Trainer calls it), so a resumed run sees exactly the batches of an
    uninterrupted one.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int) -> None:
        self.lengths, self.batch_size, self.seed, self.epoch = list(lengths), batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Any:
        import torch
        from transformers.trainer_pt_utils import get_length_grouped_indices

        gen = torch.Generator()
        gen.manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=gen))


class _ListDataset:
    """A list of feature dicts as a map-style dataset."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]
