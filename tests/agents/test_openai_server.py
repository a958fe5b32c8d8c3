"""The OpenAI-compatible backend against toolgym's own local server (real HTTP on loopback, real backends)."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest

from toolgym.agents import LLMError, SamplingParams, make_policy, rollout
from toolgym.agents.llm import make_llm
from toolgym.agents.llm.openai_compat import OpenAILLM
from toolgym.agents.llm.scripted import ScriptedLLM, prompt_text
from toolgym.agents.serve import LLMServer
from toolgym.error import ConfigError

ARITH = "toolgym/ToolChoice-Arithmetic-v0"


def test_chat_and_completions_against_the_tiny_model(tiny_llm):
    with LLMServer(tiny_llm, model_name="tiny") as server:
        params = SamplingParams(max_tokens=8)
        direct = tiny_llm.generate(["Question: hi\nThought 1:"], params)[0]
        remote = OpenAILLM("tiny", base_url=server.url, api="completions").generate(
            ["Question: hi\nThought 1:"], params
        )
        assert remote[0].text == direct.text
        assert remote[0].completion_tokens == direct.completion_tokens == 8
        assert remote[0].prompt_tokens == direct.prompt_tokens
        assert remote[0].finish_reason == "length"
        chat = OpenAILLM("tiny", base_url=server.url).generate([[{"role": "user", "content": "Hi"}]], params)
        expected = tiny_llm.generate([[{"role": "user", "content": "Hi"}]], params)[0].text
        assert chat[0].text == expected
        models = httpx.get(server.url + "/models").json()
        assert models["data"][0]["id"] == "tiny"


def test_concurrent_requests_are_batched():
    calls = []

    def respond(prompt, params):
        return "finish[" + prompt_text(prompt)[-1] + "]"

    backend = ScriptedLLM(respond, latency_s=0.05)
    orig = backend.generate

    def counting(prompts, params=None):
        calls.append(len(prompts))
        return orig(prompts, params)

    backend.generate = counting
    with LLMServer(backend, batch_window_s=0.02) as server:
        llm = OpenAILLM("s", base_url=server.url, max_concurrency=16)
        out = llm.generate([f"q{i % 10}" for i in range(16)], SamplingParams(stop=("]",)))
    assert [c.text for c in out] == [f"finish[{i % 10}" for i in range(16)]
    assert sum(calls) == 16 and len(calls) < 16  # gathered into batches
    assert llm.stats.prompts == 16


def test_stop_sequences_beyond_four_are_applied_locally():
    with LLMServer(ScriptedLLM(["a1b2c3d4e5f"])) as server:
        out = OpenAILLM("s", base_url=server.url).generate(["x"], SamplingParams(stop=("5", "6", "7", "8", "e")))
    assert out[0].text == "a1b2c3d4"


def test_images_travel_as_data_urls():
    def describe(prompt, params):
        image = prompt[0]["content"][1]["image"]
        return f"{image.shape} {int(image[..., 0].sum())}"

    img = np.zeros((5, 7, 3), np.uint8)
    img[0, :3, 0] = 10
    msg = [{"role": "user", "content": [{"type": "text", "text": "what?"}, {"type": "image", "image": img}]}]
    with LLMServer(ScriptedLLM(describe)) as server:
        out = OpenAILLM("s", base_url=server.url, supports_images=True).generate([msg])
        assert out[0].text == "(5, 7, 3) 30"
        with pytest.raises(ConfigError, match="supports_images"):
            OpenAILLM("s", base_url=server.url).generate([msg])
    with LLMServer(ScriptedLLM(["x"], supports_images=False)) as server:
        with pytest.raises(LLMError, match="HTTP 400.*images"):
            OpenAILLM("s", base_url=server.url, supports_images=True).generate([msg])


def test_unreachable_server_is_a_clear_error():
    llm = OpenAILLM("m", base_url="http://127.0.0.1:9/v1", max_retries=1, timeout_s=2)
    with pytest.raises(
        LLMError, match="expected an OpenAI-compatible server at http://127.0.0.1:9/v1.*Start the server"
    ):
        llm.generate(["hi"])
    assert llm.stats.errors == 1


def test_server_errors_are_retried_with_backoff():
    failures = {"left": 2}
    lock = threading.Lock()

    def flaky(prompt, params):
        with lock:
            if failures["left"] > 0:
                failures["left"] -= 1
                raise RuntimeError("GPU fell over")
        return "ok"

    with LLMServer(ScriptedLLM(flaky)) as server:
        assert OpenAILLM("s", base_url=server.url, max_retries=3).generate(["x"])[0].text == "ok"
        failures["left"] = 5
        with pytest.raises(LLMError, match="HTTP 500.*GPU fell over"):
            OpenAILLM("s", base_url=server.url, max_retries=1).generate(["x"])


def test_timeouts():
    with LLMServer(ScriptedLLM(["slow"], latency_s=1.5)) as server:
        llm = OpenAILLM("s", base_url=server.url, timeout_s=0.3, max_retries=0)
        start = time.perf_counter()
        with pytest.raises(LLMError):
            llm.generate(["x"])
        assert time.perf_counter() - start < 1.4


def test_bad_requests_get_openai_shaped_errors():
    with LLMServer(ScriptedLLM(["x"])) as server:
        base = server.url
        r = httpx.post(base + "/chat/completions", json={"model": "m", "messages": []})
        assert r.status_code == 400 and "messages" in r.json()["error"]["message"]
        r = httpx.post(
            base + "/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True},
        )
        assert r.status_code == 400 and "stream" in r.json()["error"]["message"]
        r = httpx.post(base + "/completions", content=b"{not json")
        assert r.status_code == 400
        r = httpx.post(base + "/nothing", json={})
        assert r.status_code == 404
        r = httpx.post(base + "/completions", json={"prompt": ["a", "b"], "n": 2, "max_tokens": 3})
        assert r.status_code == 200 and len(r.json()["choices"]) == 4


def test_backend_errors_mark_episodes_failed_and_the_run_goes_on():
    llm = OpenAILLM("m", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout_s=1)
    eps = rollout(make_policy("react", llm=llm), ARITH, episodes=4, num_envs=2)
    assert len(eps) == 4
    assert all(e.result.error and e.result.error.startswith("LLMError: openai:m: expected an OpenAI") for e in eps)


def test_react_through_the_server_matches_direct_calls(tiny_llm):
    direct = rollout(make_policy("react", llm=tiny_llm, max_tokens=16), ARITH, episodes=3, num_envs=3)
    with LLMServer(tiny_llm) as server:
        remote_llm = make_llm("openai", model="tiny", base_url=server.url, api="completions")
        remote = rollout(make_policy("react", llm=remote_llm, max_tokens=16), ARITH, episodes=3, num_envs=3)
    for a, b in zip(direct, remote):
        assert [s.action for s in a.trajectory.steps] == [s.action for s in b.trajectory.steps]
        assert a.result.tokens == b.result.tokens
        assert b.result.error is None
