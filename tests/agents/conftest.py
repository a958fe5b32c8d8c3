"""Fixtures for the agents tests: the tiny model, small envs of each family's shape, an oracle LLM."""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest

from toolgym.agents.llm.scripted import ScriptedLLM, prompt_text
from toolgym.agents.prompting.family import EnvAdapter
from toolgym.core import TextEnv, Transition
from toolgym.parsing import BracketGrammar, CommandGrammar, FencedCodeGrammar


@pytest.fixture(scope="module")
def tiny_parts():
    """The tiny tokenizer and a 2-layer model (separately, to build HFLLMs with other options)."""
    import torch

    from toolgym.agents.llm.tiny import build_tiny_model, build_tiny_tokenizer

    torch.set_num_threads(1)
    tok = build_tiny_tokenizer()
    return tok, build_tiny_model(tok, seed=0)


@pytest.fixture(scope="session")
def tiny_llm():
    import torch

    torch.set_num_threads(1)
    from toolgym.agents.llm.tiny import TinyLM

    return TinyLM(seed=0)


class MiniHousehold(TextEnv[str]):
    """A two-room household game with ALFWorld's wording (command grammar, admissible actions)."""

    family = "household"
    default_max_steps = 10

    def __init__(self, **kw):
        super().__init__(**kw)
        self.grammar = CommandGrammar(("go to", "take", "put", "open", "think:", "look"), examples=("go to fridge 1",))
        self._loc, self._held, self._done_task = "middle", None, False

    def instructions(self):
        return "Interact with the household. Commands: go to X, take X from Y, put X in/on Y, look, think: ..."

    def task_ids(self):
        return ["apple", "mug"]

    def _reset_task(self, task_id, options):
        self._obj = task_id or ("apple" if self.np_random.random() < 0.5 else "mug")
        self._loc, self._held = "middle", None
        text = (
            "You are in the middle of a room. Looking quickly around you, you see a countertop 1, and a fridge 1.\n"
            f"Your task is to: put some {self._obj} in fridge."
        )
        return text, self._obj

    def admissible_actions(self):
        acts = ["go to countertop 1", "go to fridge 1", "look"]
        if self._loc == "countertop 1" and self._held is None:
            acts.append(f"take {self._obj} 1 from countertop 1")
        if self._loc == "fridge 1" and self._held:
            acts.append(f"put {self._obj} 1 in/on fridge 1")
        return acts

    def _act(self, action):
        cmd = action.argument
        if action.name == "think":
            return Transition("OK.")
        if cmd.startswith("go to "):
            self._loc = cmd[6:]
            if self._loc == "countertop 1":
                return Transition(f"On the countertop 1, you see a {self._obj} 1.")
            return Transition(f"You arrive at {self._loc}.")
        if cmd == f"take {self._obj} 1 from countertop 1" and self._loc == "countertop 1":
            self._held = self._obj
            return Transition(f"You pick up the {self._obj} 1 from the countertop 1.")
        if cmd == f"put {self._obj} 1 in/on fridge 1" and self._held and self._loc == "fridge 1":
            return Transition(
                f"You put the {self._obj} 1 in/on the fridge 1.", reward=1.0, terminated=True, success=True, score=1.0
            )
        return Transition("Nothing happens.")

    def expert_action(self):
        if self._held is None:
            return "go to countertop 1" if self._loc != "countertop 1" else f"take {self._obj} 1 from countertop 1"
        return "go to fridge 1" if self._loc != "fridge 1" else f"put {self._obj} 1 in/on fridge 1"

    def _get_state(self):
        return (self._obj, self._loc, self._held)

    def _set_state(self, s):
        self._obj, self._loc, self._held = s


class MiniCode(TextEnv[str]):
    """Write add(a, b): fenced blocks run (here: echoed), 'Submit:' blocks are graded by a string check."""

    family = "code"
    default_max_steps = 5

    def __init__(self, **kw):
        super().__init__(**kw)
        self.grammar = FencedCodeGrammar()

    def task_ids(self):
        return ["add"]

    def _reset_task(self, task_id, options):
        return "Write a Python function add(a, b) that returns the sum of a and b.", "add"

    def _act(self, action):
        if action.name == "execute":
            return Transition(f"stdout: ran {len(action.argument)} characters")
        ok = "return a + b" in action.argument
        return Transition(
            f"Submitted: {'all tests passed' if ok else 'tests failed'}",
            reward=float(ok),
            terminated=True,
            success=ok,
            score=float(ok),
            feedback="" if ok else "assert add(2, 3) == 5 failed",
        )

    def expert_action(self):
        return "Submit:\n```python\ndef add(a, b):\n    return a + b\n```"

    def _get_state(self):
        return None

    def _set_state(self, s):
        pass


class MiniVQA(TextEnv[dict]):
    """How many red squares? Dict observations with an image; count[...] and answer[...] tools."""

    family = "vqa"
    default_max_steps = 4

    def __init__(self, **kw):
        super().__init__(**kw)
        self.grammar = BracketGrammar({"count": "color shape", "answer": "answer"})
        self.observation_space = gym.spaces.Dict(
            {
                "image": gym.spaces.Box(0, 255, (8, 8, 3), np.uint8),
                "question": gym.spaces.Text(
                    200, charset="abcdefghijklmnopqrstuvwxyz ?ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                ),
            }
        )
        self._n = 0
        self._text = ""

    def task_ids(self):
        return ["q1", "q2"]

    def _reset_task(self, task_id, options):
        self._n = 2 if task_id == "q1" else 3 if task_id else int(self.np_random.integers(1, 4))
        return "How many red squares are there?", task_id or f"q{self._n}"

    def _observe(self, text):
        img = np.zeros((8, 8, 3), np.uint8)
        img[: self._n, 0, 0] = 255
        return {"image": img, "question": "How many red squares are there?", "tool_output": text}

    def _act(self, action):
        if action.name == "count":
            return Transition(str(self._n))
        ok = action.argument.strip() == str(self._n)
        return Transition(
            f"Answer {'correct' if ok else 'wrong'}", reward=float(ok), terminated=True, success=ok, score=float(ok)
        )

    def expert_action(self):
        return f"answer[{self._n}]"

    def _get_state(self):
        return self._n

    def _set_state(self, s):
        self._n = s


FAKE_ENVS = {"household": MiniHousehold, "code": MiniCode, "vqa": MiniVQA}


def oracle_llm(env, *, wrong_first_trial=False, **kwargs):
    """A scripted LLM that answers every prompt format with the env's expert (read from privileged state).

    It reads the format from the prompt's end: ``Thought i:`` (ReAct), ``Action i:`` (Act or ReAct's
    re-ask), ``>`` (ALFWorld transcript), ``Let's think step by step.`` (CoT), ``Answer:`` (IO), the chat
    format, the Alpaca format, and the reflection prompts. With ``wrong_first_trial`` it answers wrongly
    unless the prompt holds a reflection or a previous trial (a scripted agent that learns from its reflection, or
    a closed-loop reflector that repairs the trial).
    """
    base = env.unwrapped
    adapter = EnvAdapter.from_env(env)

    def final_action():
        state = base.get_state()
        try:
            action = base.expert_action()
            for _ in range(50):
                if adapter.answer_of(action) is not None or adapter.fenced and "Submit" in action:
                    return action
                _, _, term, trunc, _ = env.step(action)
                if term or trunc:
                    return action
                action = base.expert_action()
            return action
        finally:
            base.set_state(state)

    def respond(prompt, params):
        text = prompt_text(prompt)
        if text.rstrip().endswith("Reflection:"):
            return " I answered without checking. I should follow the expert plan step by step."
        if text.rstrip().endswith("Reflection: I should have"):
            return f" followed the plan.\nThought 1: Do it right.\nAction 1: {final_action()}\nObservation 1: done"
        wrong = wrong_first_trial and "follow the expert plan" not in text and "Previous trial:" not in text
        action = "finish[definitely wrong]" if wrong else base.expert_action()
        if wrong and adapter.transcript:
            action = "look"
        tail = text.rstrip()
        if tail.endswith("Let's think step by step.") or (tail.endswith("Answer:") and "Thought" not in tail[-30:]):
            fa = final_action()
            ans = adapter.answer_of(fa) or fa
            if "```" in fa:
                ans = "\n```python\n" + re.search(r"```python\n(.*?)```", fa, re.S).group(1) + "```"
            if wrong:
                ans = "definitely wrong"
            return (" Reasoning.\nAnswer: " if tail.endswith("step.") else " ") + ans
        if tail.endswith(">"):
            return " " + action
        if re.search(r"Action( \d+)?:$", tail):
            return " " + action
        return f" I will act.\nAction: {action}\nObservation: imagined"

    return ScriptedLLM(respond, **kwargs)


@pytest.fixture
def fake_env():
    """Build a small env of a family's shape: ``fake_env("household")``."""
    return lambda family, **kw: FAKE_ENVS[family](**kw)


@pytest.fixture
def oracle():
    """:func:`oracle_llm`: a scripted LLM answering with an env's expert."""
    return oracle_llm
