"""Reflexion's trial loop, the verbal and repairing reflectors."""

from __future__ import annotations

import gymnasium as gym
import pytest

from toolgym.agents import Reflector, make_policy, rollout
from toolgym.agents.llm.scripted import ScriptedLLM, prompt_text
from toolgym.agents.reflectors import RepairReflector, VerbalReflector, repair
from toolgym.agents.reflexion import ReflexionPolicy
from toolgym.error import ConfigError
from toolgym.records import Step, Trajectory

ARITH = "toolgym/ToolChoice-Arithmetic-v0"
LESSON = "I guessed a product instead of computing it. Next time I will use the calculator."


def learner(prompt, params):
    """A scripted agent that guesses unless its prompt holds the lesson of a reflection."""
    text = prompt_text(prompt)
    if text.rstrip().endswith("Reflection:"):
        assert "Previous trial:" in text and "Feedback: The answer" in text
        return " " + LESSON
    task = text.rsplit("Question: What is ", 1)[1].split("?", 1)[0]
    episode = text.rsplit("Question:", 1)[1]
    if LESSON not in text:
        return " I can do this in my head.\nAction 1: finish[12345]"
    if "Observation 1:" in episode:
        value = episode.split("Observation 1: ", 1)[1].split("\n", 1)[0]
        return f" The calculator says {value}.\nAction 2: finish[{value}]"
    return f" My reflection says to use the calculator.\nAction 1: calc[{task}]"


def test_reflexion_improves_a_scripted_agent_that_learns_from_its_reflection():
    llm = ScriptedLLM(learner)
    policy = make_policy("reflexion", llm=llm, max_trials=3)
    eps = rollout(policy, ARITH, task_ids=["L4-1", "L4-2", "L5-3", "L4-4"], num_envs=2)
    for e in eps:
        assert e.result.metadata["trial_success"] == [False, True]
        assert e.result.success and e.result.metadata["trials"] == 2
        assert e.trials[0].steps[0].action == "finish[12345]"
        assert e.trials[1].steps[0].action.startswith("calc[")
        assert e.trials[0].task_id == e.trials[1].task_id
    assert policy.reflections(0) == [LESSON] or policy.reflections(1) == [LESSON]
    # reflections were made in batches: at most one reflection call per round of ended episodes
    reflection_prompts = [p for p in llm.prompts if p.rstrip().endswith("Reflection:")]
    assert len(reflection_prompts) == 4
    assert eps[0].result.tokens["completion"] > 0


def test_without_reflection_the_same_agent_never_improves():
    eps = rollout(
        make_policy("reflexion", llm=ScriptedLLM(learner), max_trials=3, strategy="none"),
        ARITH,
        task_ids=["L4-1", "L4-2"],
    )
    for e in eps:
        assert e.result.metadata["trial_success"] == [False, False, False]
        assert not e.result.success


def test_memory_keeps_the_last_reflections_and_is_cleared_per_task():
    counter = iter(range(100))

    def stubborn(prompt, params):
        text = prompt_text(prompt)
        if text.rstrip().endswith("Reflection:"):
            return f" reflection {next(counter)}"
        return " Guess.\nAction 1: finish[-1]"

    llm = ScriptedLLM(stubborn)
    policy = ReflexionPolicy(llm, max_trials=5, memory_size=3)
    eps = rollout(policy, ARITH, task_ids=["L4-1", "L4-2"])
    assert [e.result.metadata["trials"] for e in eps] == [5, 5]
    assert policy.reflections(0) == ["reflection 5", "reflection 6", "reflection 7"]
    last_prompt = [p for p in llm.prompts if not p.rstrip().endswith("Reflection:")][-1]
    assert "- reflection 4" not in last_prompt and "- reflection 7" in last_prompt
    assert "- reflection 3" not in last_prompt  # the first task's reflections are gone
    assert "You have attempted this task before and failed." in last_prompt


def test_last_attempt_strategy_shows_the_previous_trial():
    seen = []

    def agent(prompt, params):
        seen.append(prompt_text(prompt))
        return " Guess.\nAction 1: finish[-1]"

    rollout(make_policy("reflexion", llm=ScriptedLLM(agent), max_trials=2, strategy="last_attempt"), ARITH, episodes=1)
    assert "Previous trial:\nQuestion:" in seen[-1] and "Action 1: finish[-1]" in seen[-1]
    assert not any(p.rstrip().endswith("Reflection:") for p in seen)


def test_verbal_reflector_prompt_and_batch():
    llm = ScriptedLLM(lambda p, s: " Use the tool.")
    reflector = VerbalReflector(llm)
    assert isinstance(reflector, Reflector)
    t = Trajectory("e", "t", "What is 9 × 9?", (Step("finish[80]", "Episode finished, reward = False"),))
    out = reflector.reflect_batch(["What is 9 × 9?"] * 3, [t] * 3, ["The answer 80 is incorrect."] * 3)
    assert [r.text for r in out] == ["Use the tool."] * 3
    assert llm.stats.calls == 1
    prompt = llm.prompts[0]
    assert "Previous trial:\nQuestion: What is 9 × 9?\nAction 1: finish[80]" in prompt
    assert prompt.endswith("Feedback: The answer 80 is incorrect.\nReflection:")
    with pytest.raises(ConfigError):
        reflector.reflect_batch(["a"], [], [])


@pytest.mark.parametrize(
    "env_id, expected, absent",
    [
        ("toolgym/MultiHop-v0", "search[Orvane Lighthouse]", "calculator"),
        ("toolgym/Household-v0", "clean mug 1 with sinkbasin 1", "calculator"),
        ("toolgym/ToolChoice-Arithmetic-v0", "calculator", "Orvane"),
    ],
)
def test_the_reflection_example_matches_the_env_and_the_end_marker_is_cut(env_id, expected, absent):
    """A small model copies its one example: a calculator lesson on a search task was what Gemma wrote."""
    llm = ScriptedLLM(lambda p, s: " I answered too early. Next time I will read both pages.\n(END OF EXAMPLES)")
    failed = Trajectory(env_id, "t", "Who?", (Step("finish[x]", "Episode finished, reward = False"),))
    out = VerbalReflector(llm).reflect("Who?", failed, "")
    assert out.text == "I answered too early. Next time I will read both pages."
    assert expected in llm.prompts[0] and absent not in llm.prompts[0]
    assert "(END OF EXAMPLES)" in VerbalReflector(llm).params.stop


def test_the_repair_reflector_stops_at_the_end_of_examples_marker():
    """What a model writes after the examples' end marker is a copied example, not more of its repair."""
    completion = (
        " used the calculator.\nThought 1: compute it.\nAction 1: calc[2 + 3]\nObservation 1: 5\n"
        "Action 2: finish[5]\n(END OF EXAMPLES)\nThought 1: copy\nAction 1: finish[99]"
    )
    failed = Trajectory(ARITH, "t", "What is 2 + 3?", (Step("finish[1]", "Episode finished, reward = False"),))
    example = "Question: What is 1 + 1?\nPrevious Trial:\nAction 1: finish[3]\nReflection: I should have used calc."
    reflector = RepairReflector(ScriptedLLM(lambda p, s: completion), examples=[example])
    out = reflector.reflect("What is 2 + 3?", failed, "")
    assert out.actions == ("calc[2 + 3]", "finish[5]")
    assert "(END OF EXAMPLES)" in reflector.params.stop


def test_repair_reflector_produces_a_trajectory_that_is_re_executed():
    env = gym.make(ARITH)
    obs, info = env.reset(options={"task_id": "L4-7"})
    question = obs.removeprefix("Question: ")
    expr = question.removeprefix("What is ").rstrip("?")
    failed = Trajectory(ARITH, "L4-7", question, (Step("finish[1]", "Episode finished, reward = False"),))

    def reflect(prompt, params):
        assert prompt.endswith("Reflection: I should have")
        assert "Previous Trial:\nAction 1: finish[1]" in prompt
        return (
            " used the calculator.\nThought 1: Use the calculator.\nAction 1: calc[" + expr + "]\n"
            "Observation 1: 42\nThought 2: The result is 42.\nAction 2: finish[42]"
        )

    reflector = RepairReflector(ScriptedLLM(reflect), instructions=env.unwrapped.instructions())
    r = reflector.reflect(question, failed, "The answer 1 is incorrect.")
    assert r.text == "I should have used the calculator."
    assert r.actions == (f"calc[{expr}]", "finish[42]")
    repaired = repair(env, r, task_id="L4-7")
    assert repaired.steps[0].observation != "42"  # the env's real observation, not the imagined one
    assert not repaired.success  # 42 is wrong: the env has the last word
    good = RepairReflector(
        ScriptedLLM(
            lambda p, s: f" computed it.\nThought 1: ok\nAction 1: finish[{env.unwrapped.expert_action()[7:-1]}]"
        )
    ).reflect(question, failed, "")
    assert repair(env, good, task_id="L4-7").success


def test_repair_reflector_alpaca_format():
    llm = ScriptedLLM([" ok\nAction: finish[3]"])
    failed = Trajectory(ARITH, "L1-1", "What is 1 + 2?", (Step("finish[4]", "Episode finished, reward = False"),))
    r = RepairReflector(llm, style="alpaca").reflect("What is 1 + 2?", failed, "The answer 4 is incorrect.")
    assert llm.prompts[0].endswith(
        "### Instruction:\nWhat is 1 + 2?\nPrevious Trial:\nAction: finish[4]\n"
        "Observation: Episode finished, reward = False\nFeedback: The answer 4 is incorrect.\n\n### Response:\n"
    )
    assert r.actions == ("finish[3]",)
