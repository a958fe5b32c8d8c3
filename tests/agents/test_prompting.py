"""Prompting methods: prompts, parsing, voting, fallbacks, family formats, few-shot sources."""

from __future__ import annotations

import os

import gymnasium as gym
import pytest

from toolgym.agents import make_policy, rollout, run_episode
from toolgym.agents.llm.scripted import ScriptedLLM, prompt_text
from toolgym.agents.prompting import EnvAdapter, select_examples
from toolgym.agents.prompting.fewshot import (
    alfworld_task_type,
    expert_examples,
    load_alfworld_examples,
    load_hotpotqa_examples,
    parse_react_examples,
)
from toolgym.error import ConfigError

ARITH = "toolgym/ToolChoice-Arithmetic-v0"
DATA = os.environ.get("TOOLGYM_DATA_DIR", "")
HAVE_PROMPTS = bool(DATA) and os.path.isfile(os.path.join(DATA, "react_prompts", "prompts_naive.json"))


def calc_agent(prompt, params):
    """ReAct on arithmetic: calc the question, then finish with the calculator's output."""
    text = prompt_text(prompt)
    question = text.rsplit("Question: What is ", 1)[1].split("?", 1)[0]
    last = text.rstrip().rsplit("\n", 1)[-1]
    if "Observation 1:" in text.rsplit("Question:", 1)[1]:
        value = text.rsplit("Observation 1: ", 1)[1].split("\n", 1)[0]
        return f" The calculator says {value}.\nAction 2: finish[{value}]\nObservation 2: imagined"
    assert last == "Thought 1:"
    return f" Hard, use the calculator.\nAction 1: calc[{question}]\nObservation 1: imagined"


def test_react_text_prompt_format_and_success():
    llm = ScriptedLLM(calc_agent)
    eps = rollout(make_policy("react", llm=llm), ARITH, episodes=4, num_envs=4)
    assert all(e.result.success for e in eps)
    assert all(e.result.steps == 2 for e in eps)
    assert eps[0].trajectory.steps[0].thought == "Hard, use the calculator."
    assert llm.stats.calls == 2  # one batched call per round for 4 episodes
    prompt = llm.prompts[-1]
    assert prompt.startswith("Solve a task with interleaving Thought, Action, Observation steps.")
    assert "Here are some examples." in prompt and "(END OF EXAMPLES)" in prompt
    assert "Question: What is 8327 × 724?\nThought 1:" in prompt  # the written arithmetic examples
    assert prompt.rstrip().endswith("Thought 2:")
    assert eps[0].result.tokens["prompt"] > 100


def test_react_reasks_for_the_action_when_missing():
    outputs = iter([" I am thinking but give no action.", " finish[3]"])
    llm = ScriptedLLM(lambda p, s: next(outputs))
    ep = run_episode(make_policy("react", llm=llm), gym.make(ARITH), task_id="L1-0")
    step = ep.trajectory.steps[0]
    assert step.thought == "I am thinking but give no action."
    assert step.action == "finish[3]"
    assert llm.prompts[1].endswith("Thought 1: I am thinking but give no action.\nAction 1:")


def test_act_only_chat_and_fireact_formats():
    llm = ScriptedLLM(["finish[0]"], cycle=True)
    run_episode(make_policy("act", llm=llm, examples="none"), gym.make(ARITH), task_id="L1-0")
    assert llm.prompts[-1].endswith("Question: What is 5 - 5?\nAction 1:")
    assert "Thought" not in llm.prompts[-1]

    chat = ScriptedLLM(["Thought: easy.\nAction: finish[0]"])
    ep = run_episode(make_policy("react", llm=chat, style="chat"), gym.make(ARITH), task_id="L1-0")
    msgs = chat.prompts[-1]
    assert msgs[0]["role"] == "system" and "Here are some examples." in msgs[0]["content"]
    assert msgs[1] == {"role": "user", "content": "Question: What is 5 - 5?"}
    assert ep.result.success and ep.trajectory.steps[0].thought == "easy."

    fire = ScriptedLLM([" easy.\nAction: finish[0]\nObservation: x"])
    ep = run_episode(make_policy("fireact", llm=fire), gym.make(ARITH), task_id="L1-0")
    assert fire.prompts[-1].startswith("Below is an instruction that describes a task.")
    assert fire.prompts[-1].endswith("### Instruction:\nWhat is 5 - 5?\n\n### Response:\nThought:")
    assert ep.result.success


def test_io_and_cot_answer_in_one_step():
    io = ScriptedLLM([" 0"])
    ep = run_episode(make_policy("io", llm=io), gym.make(ARITH), task_id="L1-0")
    assert ep.result.success and ep.trajectory.steps[0].action == "finish[0]"
    assert io.prompts[-1].endswith("Question: What is 5 - 5?\nAnswer:")
    assert "Question: What is 4 + 8?\nAnswer: 12" in io.prompts[-1]
    cot = ScriptedLLM([" 5 - 5 = 0.\nAnswer: 0\nQuestion: next"])
    ep = run_episode(make_policy("cot", llm=cot), gym.make(ARITH), task_id="L1-0")
    assert ep.result.success
    assert ep.trajectory.steps[0].thought == "5 - 5 = 0."
    assert "Thought: Let's think step by step. 8327 × 724 = 8327 × 700" in cot.prompts[-1]


def test_cot_sc_majority_vote_in_one_batch():
    answers = iter([" x\nAnswer: 2", " y\nAnswer: 0", " z\nAnswer: 0.", " w\nAnswer: 5", " v\nAnswer: 0"] * 2)
    llm = ScriptedLLM(lambda p, s: next(answers))
    eps = rollout(make_policy("cot-sc", llm=llm, k=5), ARITH, task_ids=["L1-0", "L1-0"], num_envs=2)
    assert llm.stats.calls == 1 and llm.stats.prompts == 10
    for e in eps:
        assert e.trajectory.steps[0].action in ("finish[0]", "finish[0.]")
        assert "[self-consistency: 3/5 votes]" in e.trajectory.steps[0].thought
        assert e.result.success


def test_react_cot_sc_backs_off_when_react_does_not_answer():
    def agent(prompt, params):
        text = prompt_text(prompt)
        if text.endswith("Let's think step by step."):
            return " So.\nAnswer: 0"
        return " Let me check.\nAction: calc[5-5]"

    llm = ScriptedLLM(agent)
    ep = run_episode(
        make_policy("react-cot-sc", llm=llm, k=3, react_steps=2), gym.make(ARITH, max_steps=5), task_id="L1-0"
    )
    actions = [s.action for s in ep.trajectory.steps]
    assert actions == ["calc[5-5]", "calc[5-5]", "finish[0]"]
    assert ep.result.success


def test_cot_sc_react_hands_over_when_the_vote_is_weak():
    answers = iter([" a\nAnswer: 0", " b\nAnswer: 2", " c\nAnswer: 3"])

    def agent(prompt, params):
        text = prompt_text(prompt)
        if text.endswith("Let's think step by step."):
            return next(answers)
        return " Use the tool.\nAction: finish[0]"

    ep = run_episode(make_policy("cot-sc-react", llm=ScriptedLLM(agent), k=3), gym.make(ARITH), task_id="L1-0")
    assert ep.trajectory.steps[0].thought == "Use the tool."  # ReAct took over
    assert ep.result.success
    assert ep.result.tokens["completion"] > 3  # the CoT-SC samples are counted too


@pytest.mark.parametrize("family", ["household", "code", "vqa"])
@pytest.mark.parametrize("method", ["react", "act", "io", "cot", "cot-sc", "reflexion", "react-cot-sc"])
def test_every_method_on_every_family_shape(family, method, fake_env, oracle):
    env = fake_env(family)
    options = {"k": 3} if "sc" in method else {}
    ep = run_episode(make_policy(method, llm=oracle(env), **options), env, seed=0)
    assert ep.result.error is None
    assert ep.result.success, [s.action for s in ep.trajectory.steps]


def test_household_uses_the_alfworld_transcript_format(fake_env, oracle):
    env = fake_env("household")
    llm = oracle(env)
    ep = run_episode(make_policy("react", llm=llm), env, task_id="apple")
    prompt = llm.prompts[-1]
    assert prompt.rstrip().endswith(">")
    assert "\n> go to countertop 1\nOn the countertop 1, you see a apple 1.\n>" in prompt
    assert "Your task is to: put some apple in fridge." in prompt
    assert ep.result.steps == 4


def test_code_answers_are_submitted_as_fenced_blocks(fake_env):
    env = fake_env("code")
    adapter = EnvAdapter.from_env(env)
    assert adapter.code_answers and adapter.answer_action("```python\nx = 1\n```") == "Submit:\n```python\nx = 1\n```"
    assert adapter.vote_key("Submit:\n```python\nx = 1   \n```") == adapter.vote_key("Submit:\n```python\nx = 1\n```")


def test_vision_llm_gets_the_image_in_a_chat_prompt(fake_env):
    env = fake_env("vqa")
    seen = []

    def look(prompt, params):
        seen.append(prompt)
        image = prompt[1]["content"][1]["image"]
        n = int((image[:, 0, 0] == 255).sum())
        return f"Thought: I count {n} red pixels.\nAction: answer[{n}]"

    llm = ScriptedLLM(look, supports_images=True)
    eps = rollout(make_policy("react", llm=llm, style="chat"), [env], task_ids=["q1", "q2"])
    assert [e.result.success for e in eps] == [True, True]
    assert seen[0][1]["content"][0] == {"type": "text", "text": "Question: How many red squares are there?"}


def test_few_shot_sources(fake_env):
    env = gym.make(ARITH)
    assert len(select_examples(env, "react")) == 3  # written for arithmetic
    made = expert_examples(env, 2)
    assert len(made) == 2 and made[0].steps[-1][1].startswith("finish[")
    assert made[0].steps[0][0].startswith("I have the information I need")
    assert select_examples(env, "react", source="none") == []
    assert len(select_examples(env, "react", source="expert", k=1)) == 1
    # a two-task env has no task in the examples split (toolgym.splits): no example can be held out
    assert expert_examples(fake_env("household"), 1) == []
    ex = expert_examples(gym.make("toolgym/Household-v0"), 1)
    assert "Your task is to:" in ex[0].question and ex[0].steps[0][1].startswith("go to ")
    assert parse_react_examples("Question: q\nAction 1: Search[x]\nObservation 1: y\nAction 2: Finish[z]")[0].steps[
        1
    ] == (
        None,
        "Finish[z]",
        "",
    )
    assert alfworld_task_type("Your task is to: heat some egg and put it in countertop.") == "heat"
    assert alfworld_task_type("Your task is to: look at bowl under the desklamp.") == "examine"


@pytest.mark.skipif(not HAVE_PROMPTS, reason="TOOLGYM_DATA_DIR has no react_prompts/ (CI sets it)")
def test_published_react_prompts_load():
    react = load_hotpotqa_examples("react")
    assert len(react) == 6 and react[0].steps[0][1] == "Search[Colorado orogeny]"
    assert load_hotpotqa_examples("cot")[1].answer == "Richard Nixon"
    assert len(load_hotpotqa_examples("io")) == 6
    alf = load_alfworld_examples("Your task is to: put a clean lettuce in diningtable.", "react")
    assert len(alf) == 2 and "> think:" in alf[0].transcript
    assert (
        "think:"
        not in load_alfworld_examples("Your task is to: put a clean lettuce in diningtable.", "act")[0].transcript
    )


def test_bad_options():
    llm = ScriptedLLM(["x"])
    with pytest.raises(ConfigError, match="examples"):
        make_policy("react", llm=llm, examples="many")
    with pytest.raises(ConfigError, match="style"):
        make_policy("react", llm=llm, style="poem")
    with pytest.raises(ConfigError, match="temperature"):
        make_policy("cot-sc", llm=llm, temperature=0)
    with pytest.raises(ConfigError, match="order"):
        make_policy("react-cot-sc", llm=llm, order="x")
    with pytest.raises(ConfigError, match="expected the option"):
        make_policy("react")
    with pytest.raises(ConfigError, match="expected options among"):
        make_policy("react", llm=llm, temprature=0.5)


def test_tiny_model_runs_react_cot_sc_and_reflexion_end_to_end(tiny_llm):
    for name, opts in [("react", {}), ("cot-sc", {"k": 3}), ("reflexion", {"max_trials": 2})]:
        eps = rollout(make_policy(name, llm=tiny_llm, max_tokens=16, **opts), ARITH, episodes=2, num_envs=2)
        assert all(e.result.error is None for e in eps), name
        assert all(e.result.tokens["completion"] > 0 for e in eps), name
        if name == "reflexion":
            assert all(e.result.metadata["trials"] == 2 for e in eps)


@pytest.mark.parametrize("style", ["text", "chat", "act"])
def test_an_action_is_one_line_and_the_raw_output_is_kept(style):
    """What the model writes after the action's line never reaches the trajectory (it would be trained on)."""
    from toolgym.envs.arithmetic import make_question

    answer = int(make_question(1, 0)[1])
    body = f"finish[{answer}]\n(END OF EXAMPLES)\nQuestion: What is 1 + 1?"
    text = {"text": f" Easy.\nAction 1: {body}", "chat": f"Thought: Easy.\nAction: {body}", "act": f" {body}"}[style]
    llm = ScriptedLLM(lambda p, s: text)
    kwargs = {"style": "chat"} if style == "chat" else {"thoughts": False} if style == "act" else {}
    ep = run_episode(make_policy("react", llm=llm, **kwargs), gym.make(ARITH), task_id="L1-0")
    step = ep.trajectory.steps[0]
    assert step.action == f"finish[{answer}]"
    assert ep.result.success
    assert "(END OF EXAMPLES)" in step.info["raw"]


def test_fenced_code_actions_keep_their_lines():
    from toolgym.agents.base import AgentAction, Completion

    policy = make_policy("react", llm=ScriptedLLM(lambda p, s: ""))
    policy.reset("Question: write f", {"task_id": "t"}, slot=0)
    policy.episode(0)["adapter"] = EnvAdapter("code", "", "", ("submit",), True, False, "submit")
    code = "```python\ndef f():\n    return 1\n```"
    action = policy._parse(0, Completion(f" ok\nAction 1: {code}"))
    assert isinstance(action, AgentAction) and str(action) == code
