"""Supervised fine-tuning: the chunked masked loss, checkpoints and exact resume, LoRA, the evaluation hook."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from toolgym.agents.prompting.training import Segment  # noqa: E402
from toolgym.algorithms.models import ModelSpec, build_model, load_trained  # noqa: E402
from toolgym.algorithms.sft import (  # noqa: E402
    IGNORE,
    SFTConfig,
    encode_segments,
    last_complete_checkpoint,
    masked_lm_loss,
    run_sft,
    state_hash,
)
from toolgym.error import ConfigError  # noqa: E402

SMALL = ModelSpec(n_layer=2, n_embd=32, n_head=2, n_positions=128, init_seed=3)


def examples(tok, n=24):
    out = []
    for i in range(n):
        segs = [Segment(f"Question: What is {i} + 1?\nAction:", False), Segment(f" finish[{i + 1}]\nObservation", True)]
        out.append(encode_segments(segs, tok))
    return out


def batch(tok, feats):
    from toolgym.algorithms.sft import _pad_batch

    return _pad_batch(feats, tok.pad_token_id)


def test_masked_loss_equals_the_models_own_loss_in_any_chunking():
    torch.set_num_threads(1)
    model, tok = build_model(SMALL)
    b = batch(tok, examples(tok, 5))
    ref = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
    for chunk in (1, 3, 1000):
        total, n = masked_lm_loss(model, b, chunk=chunk)
        assert n == int((b["labels"][:, 1:] != IGNORE).sum())
        assert torch.allclose(total / n, ref, atol=1e-5)
    # gradients too
    total, n = masked_lm_loss(model, b, chunk=2)
    (total / n).backward()
    g1 = model.lm_head.weight.grad.clone()
    model.zero_grad()
    model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss.backward()
    assert torch.allclose(g1, model.lm_head.weight.grad, atol=1e-6)


def _train(tmp, tok_examples, *, max_steps=12, resume=False, stop_at=None, lora=None, eval_fn=None, buckets=False):
    torch.set_num_threads(1)
    model, tok = build_model(SMALL)
    cfg = SFTConfig(
        output_dir=str(tmp),
        max_steps=max_steps,
        batch_size=4,
        learning_rate=1e-2,
        save_steps=4,
        save_total_limit=5,
        logging_steps=100,
        eval_steps=6,
        lora=lora,
        seed=7,
        group_by_length=buckets,
    )
    if stop_at is not None:
        import transformers

        class Kill(transformers.TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                if state.global_step == stop_at:
                    raise KeyboardInterrupt("killed")

        import toolgym.algorithms.sft as sft

        orig = sft._trainer_classes

        def patched():
            trainer_cls, hook, log = orig()

            class Killing(trainer_cls):
                def __init__(self, *a, **kw):
                    kw["callbacks"] = [*kw.get("callbacks", []), Kill()]
                    super().__init__(*a, **kw)

            return Killing, hook, log

        sft._trainer_classes = patched
        try:
            with pytest.raises(KeyboardInterrupt):
                run_sft(model, tok, tok_examples(tok), cfg, resume=resume)
        finally:
            sft._trainer_classes = orig
        return None
    return run_sft(model, tok, tok_examples(tok), cfg, resume=resume, eval_fn=eval_fn)


@pytest.mark.parametrize("buckets", [False, True], ids=["random-batches", "length-buckets"])
def test_resume_after_a_kill_ends_with_the_same_weights(tmp_path, buckets):
    whole = _train(tmp_path / "whole", examples, buckets=buckets)
    assert whole.steps == 12 and whole.final_dir.is_dir()
    _train(tmp_path / "killed", examples, stop_at=9, buckets=buckets)  # checkpoint-8 is on disk, step 9 was lost
    assert last_complete_checkpoint(tmp_path / "killed").name == "checkpoint-8"
    resumed = _train(tmp_path / "killed", examples, resume=True, buckets=buckets)
    assert resumed.steps == 12
    assert state_hash(resumed.model) == state_hash(whole.model)
    reloaded, _ = load_trained(SMALL, resumed.final_dir)
    assert state_hash(reloaded) == state_hash(whole.model)


def test_a_torn_checkpoint_is_skipped(tmp_path):
    (tmp_path / "checkpoint-4").mkdir(parents=True)
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-8").mkdir()
    (tmp_path / "checkpoint-8" / "trainer_state.json").write_text('{"global_st')  # killed while writing
    assert last_complete_checkpoint(tmp_path).name == "checkpoint-4"
    assert not (tmp_path / "checkpoint-8").exists()


def test_a_second_run_into_the_same_folder_is_refused(tmp_path):
    _train(tmp_path, examples, max_steps=4)
    with pytest.raises(ConfigError, match="resume=True"):
        _train(tmp_path, examples, max_steps=4)


def test_lora_trains_only_the_adapter_and_reloads(tmp_path):
    from toolgym.algorithms.sft import LoraSettings

    calls = []
    res = _train(
        tmp_path,
        examples,
        lora=LoraSettings(r=4, alpha=8, target_modules=("c_attn",)),
        eval_fn=lambda m, step: calls.append((step, m.training)) or {"score": float(step)},
    )
    assert (res.final_dir / "adapter_config.json").is_file()
    trainable = [n for n, p in res.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert [c[0] for c in calls] == [6, 12] and not any(c[1] for c in calls)  # eval mode during the hook
    assert [r["eval_score"] for r in res.log if "eval_score" in r] == [6.0, 12.0]
    assert not res.model.training
    reloaded, _ = load_trained(SMALL, res.final_dir)
    b = batch(_train.__globals__["build_model"](SMALL)[1], examples(build_model(SMALL)[1], 3))
    with torch.no_grad():
        a = res.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        c = reloaded(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
    assert torch.allclose(a, c, atol=1e-5)


def test_no_examples_is_a_clear_error(tmp_path):
    model, tok = build_model(SMALL)
    with pytest.raises(ConfigError, match="at least one example"):
        run_sft(model, tok, [None, None], SFTConfig(output_dir=str(tmp_path), max_steps=1))
