"""The engine adapters, driven by minimal stand-ins that call them as the engines do (the engines are not installed).

* TRL: ``GRPOTrainer`` inspects an ``environment_factory`` class (public methods become tools, ``reset`` and
  ``get_reward`` are special) and turns each tool into a JSON schema with ``transformers.utils.get_json_schema``.
* SkyRL-gym: its generator builds ``env_cls(env_config, extras)``, calls ``init(prompt)``, then ``step(text)``
  until ``done``, appending ``observations`` to the chat, then ``close()``.
* veRL: its agent-loop worker builds the loop with ``server_manager`` and ``tokenizer`` and awaits
  ``run(sampling_params, **row)``; ``server_manager.generate`` returns token ids.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest

from toolgym.algorithms.engines import AgentLoopOutput, SkyRLTextEnv, VerlAgentLoop
from toolgym.algorithms.grpo import ToolEnvironment, tool_environment
from toolgym.envs.arithmetic import ArithmeticEnv
from toolgym.error import ConfigError

ARITH = "toolgym/ToolChoice-Arithmetic-v0"


def _expert(task_id: str) -> str:
    env = ArithmeticEnv()
    env.reset(options={"task_id": task_id})
    return env.expert_action()


# ---------------------------------------------------------------------------------------------- TRL
def test_tool_environment_as_trl_inspects_it():
    transformers = pytest.importorskip("transformers")
    env_cls = tool_environment(ARITH, difficulty=1)
    env = env_cls()
    # what GRPOTrainer does: public functions of the class, minus reset / get_reward, are the tools
    names = [n for n, _ in inspect.getmembers(type(env), predicate=inspect.isfunction)]
    tools = [getattr(env, n) for n in names if n not in ("reset", "get_reward") and not n.startswith("_")]
    assert sorted(t.__name__ for t in tools) == ["calc", "finish"] and "reset" in names and "get_reward" in names
    schemas = {s["function"]["name"]: s for s in map(transformers.utils.get_json_schema, tools)}
    assert list(schemas["calc"]["function"]["parameters"]["properties"]) == ["expression"]
    assert schemas["finish"]["function"]["parameters"]["required"] == ["answer"]
    question = env.reset(task_id="L1-3", prompt=[{"role": "user", "content": ""}])
    assert question.startswith("Question: What is")
    assert env.calc(expression="2 + 3") == "5"
    assert env.get_reward() == pytest.approx(-0.1)  # the calculator's cost is in the reward
    out = env.finish(answer=_expert("L1-3").removeprefix("finish[").rstrip("]"))
    assert "ended" in out and env.success and env.get_reward() == pytest.approx(0.9)
    assert "ended" in env.calc(expression="1")  # no step after the end, no exception
    assert isinstance(env, ToolEnvironment)


def test_tool_environment_without_named_tools_gets_act():
    env_cls = tool_environment("toolgym/Household-v0")  # free commands ("go to fridge 1"): one act(action) tool
    assert hasattr(env_cls, "act") and not hasattr(env_cls, "calc")
    env = env_cls()
    assert env.reset(seed=0)
    assert isinstance(env.act(action="look"), str)


def test_grpo_trainer_accepts_the_environment_factory(tmp_path):
    """TRL's own GRPOTrainer takes the factory: tools registered, get_reward wired as a reward function."""
    pytest.importorskip("trl")
    import os

    import torch
    import trl
    from datasets import Dataset

    from toolgym.agents.llm.tiny import build_tiny_model, build_tiny_tokenizer

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    torch.set_num_threads(1)
    tok = build_tiny_tokenizer()
    tok.chat_template = _qwen_template()
    model = build_tiny_model(tok, seed=0)
    args = trl.GRPOConfig(
        output_dir=str(tmp_path),
        max_steps=1,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=8,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
    )
    data = Dataset.from_dict({"prompt": [[{"role": "user", "content": "Solve. "}]] * 2, "task_id": ["L1-3", "L1-4"]})
    trainer = trl.GRPOTrainer(
        model=model,
        args=args,
        train_dataset=data,
        processing_class=tok,
        environment_factory=tool_environment(ARITH, difficulty=1),
    )
    assert sorted(t.__name__ for t in trainer.tools) == ["calc", "finish"]
    assert trainer.reward_func_names[-1].endswith("ToolEnvironment")
    trainer.train()  # a random tiny model calls no tool: one step runs end to end, the env's reward scores it
    assert trainer.state.global_step == 1


def _qwen_template(name: str = "qwen3") -> str:
    from pathlib import Path

    import trl

    return (Path(trl.__file__).parent / "chat_templates" / f"{name}.jinja").read_text()


# ---------------------------------------------------------------------------------------------- SkyRL-gym
def _skyrl_generator(env_cls, extras, answers):
    """SkyRL's generator loop, reduced to its calls into the env."""
    env = env_cls({"max_turns": 4}, extras)
    chat, _meta = env.init([{"role": "system", "content": "You are a calculator agent."}])
    rewards, done, outputs = [], False, []
    for text in answers:
        out = env.step(text)
        rewards.append(out["reward"])
        chat += [{"role": "assistant", "content": text}, *out["observations"]]
        outputs.append(out)
        if out["done"]:
            done = True
            break
    env.close()
    return chat, rewards, done, outputs


def test_skyrl_text_env_runs_an_episode_with_costs():
    extras = {"env_id": ARITH, "task_id": "L2-7", "env_kwargs": {"difficulty": 2}}
    chat, rewards, done, outputs = _skyrl_generator(SkyRLTextEnv, extras, ["calc[1 + 1]", "oops", _expert("L2-7")])
    assert done and rewards == pytest.approx([-0.1, 0.0, 1.0])
    assert chat[1]["role"] == "user" and "What is" in chat[1]["content"]
    assert chat[3] == {"role": "user", "content": "2"}
    assert outputs[1]["metadata"]["invalid_action"] and outputs[-1]["metadata"]["success"]
    assert outputs[-1]["metadata"]["episode_return"] == pytest.approx(0.9)


def test_skyrl_text_env_needs_an_env_id():
    with pytest.raises(ConfigError, match="env_id"):
        SkyRLTextEnv({}, {"task_id": "L1-1"})


# ---------------------------------------------------------------------------------------------- veRL
class _ServerManager:
    """veRL's AsyncLLMServerManager, reduced to ``generate``: returns scripted token ids."""

    def __init__(self, tok, texts):
        self.tok, self.texts, self.calls = tok, list(texts), []

    async def generate(self, request_id, *, prompt_ids, sampling_params, **kwargs):
        self.calls.append(list(prompt_ids))
        text = self.texts.pop(0)
        return self.tok(text, add_special_tokens=False)["input_ids"] + [self.tok.eos_token_id]


@pytest.mark.parametrize("template", ["qwen2_5", "qwen3"])
def test_verl_agent_loop_masks_env_tokens_and_scores_with_costs(template):
    pytest.importorskip("transformers")
    from toolgym.agents.llm.tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    tok.chat_template = _qwen_template(template)
    tok.eos_token = "<|im_end|>" if "<|im_end|>" in tok.get_vocab() else tok.eos_token
    answers = ["calc[3 + 4]", _expert("L1-5")]
    server = _ServerManager(tok, answers)
    loop = VerlAgentLoop(server_manager=server, tokenizer=tok)
    row = {"raw_prompt": [], "extra_info": {"env_id": ARITH, "task_id": "L1-5"}}
    out = asyncio.run(loop.run({"temperature": 1.0}, **row))
    assert isinstance(out, AgentLoopOutput)
    assert out.reward_score == pytest.approx(0.9) and out.extra_fields["success"]
    assert len(out.response_ids) == len(out.response_mask) and out.num_turns == 4
    model_ids = [t for t, m in zip(out.response_ids, out.response_mask) if m]
    assert tok.decode(model_ids, skip_special_tokens=True) == "".join(answers)
    env_text = tok.decode([t for t, m in zip(out.response_ids, out.response_mask) if not m])
    assert "7" in env_text  # the calculator's answer is context, not trained
    # each generate call saw exactly the ids so far: no re-tokenised text in between
    assert server.calls[1] == out.prompt_ids + out.response_ids[: len(server.calls[1]) - len(out.prompt_ids)]
    # Qwen 2.5's template re-renders earlier turns unchanged; Qwen 3's adds an empty think block to the last
    # assistant turn only, so a re-rendered conversation would differ from what the model saw: flagged
    assert out.metrics["template_drift"] == (0 if template == "qwen2_5" else 1)


def test_verl_agent_loop_needs_its_engine_arguments():
    with pytest.raises(ConfigError, match="server_manager"):
        VerlAgentLoop()
