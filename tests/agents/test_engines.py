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


# ---------------------------------------------------------------------------------------------- vllm backend
class StandInParams:
    """Records the keywords vllm.SamplingParams would get."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs


class StandInEngine:
    """A stand-in for vllm.LLM: echoes each prompt's length; records calls and loaded weights."""

    sampling_params = StandInParams

    def __init__(self):
        self.calls, self.weights, self.resets = [], None, 0
        model = type("Model", (), {"load_weights": lambda _, pairs: setattr(self, "weights", list(pairs))})()
        runner = type("Runner", (), {"model": model})()
        worker = type("Worker", (), {"model_runner": runner})()
        executor = type("Executor", (), {"driver_worker": worker})()
        self.llm_engine = type("Engine", (), {"model_executor": executor})()

    def get_tokenizer(self):
        return type("Tok", (), {"chat_template": None})()

    def reset_prefix_cache(self):
        self.resets += 1

    def generate(self, texts, sampling, use_tqdm=True):
        from types import SimpleNamespace

        self.calls.append((texts, sampling, use_tqdm))
        outs = []
        for t, s in zip(texts, sampling):
            n = min(len(t), s.kwargs["max_tokens"])
            best = SimpleNamespace(text="x" * n, token_ids=[7] * n, finish_reason="length" if n == len(t) else "stop")
            outs.append(SimpleNamespace(outputs=[best], prompt_token_ids=list(range(len(t)))))
        return outs


def test_vllm_sampling_maps_every_parameter_one_to_one():
    from toolgym.agents.llm.vllm_backend import vllm_sampling

    greedy = vllm_sampling(SamplingParams(max_tokens=9, stop=("\nObs",)), None, 2, StandInParams)
    assert [g.kwargs for g in greedy] == [
        {
            "n": 1,
            "temperature": 0.0,
            "top_p": 1.0,
            "max_tokens": 9,
            "stop": ["\nObs"],
            "seed": None,
            "include_stop_str_in_output": False,
        }
    ] * 2
    sampled = vllm_sampling(SamplingParams(max_tokens=5, temperature=0.7, top_p=0.9), [11, 12], 2, StandInParams)
    assert [(s.kwargs["temperature"], s.kwargs["top_p"], s.kwargs["seed"], s.kwargs["stop"]) for s in sampled] == [
        (0.7, 0.9, 11, None),
        (0.7, 0.9, 12, None),
    ]


def test_vllm_backend_with_a_stand_in_engine():
    from toolgym.agents.llm import make_llm

    engine = StandInEngine()
    llm = make_llm({"backend": "vllm", "model": "some/model", "llm": engine})
    assert llm.name == "vllm:some/model" and llm.loaded
    params = SamplingParams(max_tokens=4, temperature=0.5, seeds=(3, 4, 5))
    outs = llm.generate(["ab", "abcdefgh", [{"role": "user", "content": "hi"}]], params)
    texts, sampling, use_tqdm = engine.calls[0]
    assert texts[:2] == ["ab", "abcdefgh"] and "hi" in texts[2] and use_tqdm is False
    assert [s.kwargs["seed"] for s in sampling] == [3, 4, 5]  # one seed per prompt, kept
    assert [(c.text, c.finish_reason, c.completion_tokens) for c in outs[:2]] == [
        ("xx", "length", 2),
        ("xxxx", "stop", 4),
    ]
    assert outs[0].prompt_tokens == 2 and outs[1].completion_ids == (7, 7, 7, 7)
    assert llm.stats.calls == 1 and llm.stats.prompts == 3
    torch_model = torch.nn.Linear(2, 1)
    llm.load_weights(torch_model)  # a model: its state dict, into the engine's model; then the prefix cache is reset
    assert [name for name, _ in engine.weights] == ["weight", "bias"] and engine.resets == 1
    llm.release()
    assert not llm.loaded


def test_vllm_backend_without_vllm_names_the_extra():
    from toolgym.agents.llm import make_llm
    from toolgym.error import DependencyNotInstalled

    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(DependencyNotInstalled, match=r"toolgym\[vllm\]"):
            make_llm({"backend": "vllm", "model": "google/gemma-3-270m"})
    else:
        pytest.skip("vllm is installed: the missing-extra error cannot show")


@pytest.mark.slow
@pytest.mark.llm
def test_vllm_backend_on_a_gpu():
    pytest.importorskip("vllm", reason="the vllm extra is not installed (it needs a CUDA GPU)")
    if not torch.cuda.is_available():
        pytest.skip("vllm needs a CUDA GPU")
    from toolgym.agents.llm import make_llm

    with make_llm({"backend": "vllm", "model": "google/gemma-3-270m", "gpu_memory_utilization": 0.3}) as llm:
        outs = llm.generate(["Question: What is 2 + 3?\nAnswer:"] * 2, SamplingParams(max_tokens=8, stop=("\n",)))
        assert outs[0].text == outs[1].text and outs[0].completion_tokens > 0
