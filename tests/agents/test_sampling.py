"""Sampling that really samples: k copies of a prompt give k samples, across batch chunks, calls and backends;
a seed gives the same samples whatever the batching."""

from __future__ import annotations

import pytest

from toolgym.agents import SamplingParams, make_policy, rollout
from toolgym.agents.llm.openai_compat import OpenAILLM
from toolgym.agents.serve import LLMServer
from toolgym.error import ConfigError

torch = pytest.importorskip("torch")

PROMPT = "Question: What is the capital of the country where the Colorado orogeny happened?\nThought 1:"


def make(tiny_parts, **kwargs):
    from toolgym.agents.llm.hf import HFLLM

    tok, model = tiny_parts
    return HFLLM(model, tokenizer=tok, **kwargs)


def texts(llm, prompts, params):
    return [c.text for c in llm.generate(prompts, params)]


@pytest.mark.parametrize("prefix_cache", [True, False], ids=["prefix-cache", "generate"])
def test_k_samples_of_one_prompt_are_distinct_across_batch_chunks_and_seeded(tiny_parts, prefix_cache):
    params = SamplingParams(max_tokens=12, temperature=1.0, seed=11)
    chunked = make(tiny_parts, batch_size=4, prefix_cache=prefix_cache)  # 8 copies: two chunks of 4
    assert chunked.load().uses_prefix_cache is prefix_cache
    eight = texts(chunked, [PROMPT] * 8, params)
    assert len(set(eight)) == 8, eight  # a chunk does not repeat the other's samples
    # same seed, same samples: again, and with any batching
    assert texts(chunked, [PROMPT] * 8, params) == eight
    assert texts(make(tiny_parts, batch_size=8, prefix_cache=prefix_cache), [PROMPT] * 8, params) == eight
    assert texts(make(tiny_parts, batch_size=3, prefix_cache=prefix_cache), [PROMPT] * 8, params) == eight
    # another seed, other samples
    assert texts(chunked, [PROMPT] * 8, params.replace(seed=12)) != eight


def test_the_prefix_cache_and_generate_draw_the_same_samples(tiny_parts):
    params = SamplingParams(max_tokens=10, temperature=0.8, top_p=0.9, seed=5)
    cached = texts(make(tiny_parts), [PROMPT] * 4, params)
    plain = texts(make(tiny_parts, prefix_cache=False), [PROMPT] * 4, params)
    assert cached == plain


def test_unseeded_calls_differ_and_torch_manual_seed_repeats_them(tiny_parts):
    llm = make(tiny_parts)
    params = SamplingParams(max_tokens=12, temperature=1.0)
    torch.manual_seed(0)
    first = texts(llm, [PROMPT] * 2, params)
    second = texts(llm, [PROMPT] * 2, params)
    assert first != second  # the global generator advanced
    assert first[0] != first[1]
    torch.manual_seed(0)
    assert texts(llm, [PROMPT] * 2, params) == first


def test_per_prompt_seeds_pin_each_sample(tiny_parts):
    llm = make(tiny_parts)
    params = SamplingParams(max_tokens=12, temperature=1.0)
    a, b, c = texts(llm, [PROMPT] * 3, params.replace(seeds=(1, 2, 1)))
    assert a == c != b
    assert texts(llm, [PROMPT], params.replace(seeds=(2,))) == [b]
    with pytest.raises(ConfigError, match="one seed per prompt"):
        llm.generate([PROMPT] * 2, params.replace(seeds=(1,)))
    with pytest.raises(ConfigError, match="seeds"):
        SamplingParams(seeds=("x",))


def test_greedy_ignores_seeds(tiny_parts):
    llm = make(tiny_parts)
    params = SamplingParams(max_tokens=8)
    assert texts(llm, [PROMPT] * 2, params.replace(seed=1)) == texts(llm, [PROMPT] * 2, params.replace(seed=2))


def test_rollout_of_one_task_k_times_gives_k_episodes_whatever_num_envs(tiny_parts):
    def run(num_envs):
        policy = make_policy("react", llm=make(tiny_parts), temperature=1.0, seed=3, max_tokens=24)
        eps = rollout(policy, "toolgym/ToolChoice-Arithmetic-v0", task_ids=["L3-5"] * 4, num_envs=num_envs)
        return [e.trajectory.to_react_text() for e in eps]

    two = run(2)
    assert len(set(two)) == 4, two  # four independent episodes, not two pairs
    assert run(4) == two == run(1)


def test_self_consistency_samples_differ(tiny_parts):
    policy = make_policy("cot-sc", llm=make(tiny_parts), k=6, temperature=1.0, seed=0, max_tokens=16)
    policy.reset("Question: What is 3 + 4?", {"task_id": "L1-0", "reset_seed": 0}, slot=0)
    candidates = policy.base.propose([0], n=6, params=policy.sample_params)[0]
    raws = [c.raw for c in candidates]
    assert len(set(raws)) == 6, raws


def test_openai_backend_sends_one_seed_per_request_and_the_server_keeps_them(tiny_parts):
    direct = make(tiny_parts)
    params = SamplingParams(max_tokens=10, temperature=1.0, seed=4)
    expected = texts(direct, [PROMPT] * 4, params)
    with LLMServer(make(tiny_parts), model_name="tiny", batch_window_s=0.05) as server:
        remote = OpenAILLM("tiny", base_url=server.url, api="completions", max_concurrency=4)
        got = texts(remote, [PROMPT] * 4, params)
    assert len(set(got)) == 4
    # each request carries seed mix(4, i); the server batches them and samples each with its own seed
    assert sorted(got) == sorted(expected)
