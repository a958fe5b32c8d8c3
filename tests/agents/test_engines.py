"""HFLLM's paged continuous-batching engine and the vllm backend (with a stand-in for vllm)."""

from __future__ import annotations

import pytest

from toolgym.agents import SamplingParams
from toolgym.error import ConfigError

torch = pytest.importorskip("torch")

PROMPTS = [
    "Solve a task with Thought, Action, Observation steps.\nQuestion: what is 2 + 3?\nThought 1:",
    "Solve a task with Thought, Action, Observation steps.\nQuestion: what is 12 * 7?\nThought 1:",
    "Hi",
    "Question: name a fruit.\nThought 1: I think of one.\nAction 1: finish[pear]\nObservation 1:",
]


def completions(outs):
    return [(c.text, c.finish_reason, c.completion_tokens, c.prompt_tokens, c.completion_ids) for c in outs]


# ---------------------------------------------------------------------------------------------- paged engine
@pytest.mark.parametrize("stop", [(), ("iHi",), ("::",)])
def test_paged_engine_gives_the_default_engines_greedy_completions(tiny_parts, stop):
    from toolgym.agents.llm.hf import HFLLM

    tok, model = tiny_parts
    params = SamplingParams(max_tokens=14, stop=stop)
    with HFLLM(model, tokenizer=tok, engine="paged") as paged:
        for _ in range(2):  # the second call runs on the same (still running) manager
            got = paged.generate(PROMPTS, params)
            assert completions(got) == completions(HFLLM(model, tokenizer=tok).generate(PROMPTS, params))
        if stop:
            assert any(c.finish_reason == "stop" for c in got)
    assert model.config._attn_implementation == "sdpa" and paged._paged is None


def test_paged_engine_options_and_unsupported_models(tiny_parts):
    from peft import LoraConfig, get_peft_model

    from toolgym.agents.llm.hf import HFLLM
    from toolgym.agents.llm.paged import PagedEngine, paged_unavailable_reason
    from toolgym.agents.llm.tiny import build_tiny_model

    tok, model = tiny_parts
    with pytest.raises(ConfigError, match="engine"):
        HFLLM(model, tokenizer=tok, engine="vllm")
    assert paged_unavailable_reason(model) is None
    lora = get_peft_model(build_tiny_model(tok, seed=1), LoraConfig(task_type="CAUSAL_LM", target_modules=["c_attn"]))
    assert paged_unavailable_reason(lora) is None  # PEFT forwards to the base model's method

    class Plain(torch.nn.Module):  # a model without transformers' continuous batching
        def __init__(self, inner):
            super().__init__()
            self.inner, self.config = inner, inner.config

    with pytest.raises(ConfigError, match="init_continuous_batching"):
        HFLLM(Plain(model), tokenizer=tok, engine="paged").load()
    engine = PagedEngine(model, tok, torch.device("cpu"), {"num_blocks": 8})
    assert engine.options["num_blocks"] == 8 and engine.options["use_cuda_graph"] is False  # CPU defaults fill in
