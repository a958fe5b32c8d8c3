"""The closed-loop reflector: its prompts hold the failed attempt and the feedback, never the gold answer; it acts
in the env (a malformed action is an observation); its rollouts are charged to the ledger; its training text is
rendered from its own prompts."""

from __future__ import annotations

import gymnasium as gym
import pytest

from toolgym.agents import make_policy
from toolgym.agents.closed_loop import ClosedLoopReflector, attempt_feedback, attempt_specs
from toolgym.agents.llm.scripted import ScriptedLLM, prompt_text
from toolgym.agents.prompting.training import training_segments, training_text
from toolgym.algorithms.ledger import Ledger
from toolgym.algorithms.trajectories import collect, collect_episodes

ARITH = "toolgym/ToolChoice-Arithmetic-v0"
MULTIHOP = "toolgym/MultiHop-v0"


def _gold(env_id: str, task_id: str) -> str:
    """The gold answer, read from the env's private state (what the reflector must never see)."""
    env = gym.make(env_id)
    env.reset(seed=0, options={"task_id": task_id})
    u = env.unwrapped
    if env_id == ARITH:
        from toolgym.envs.arithmetic import format_number

        return format_number(u._answer)
    return str(u._task.answer)


def _failures(env_id: str, task_ids: list[str]) -> list:
    wrong = make_policy("scripted", actions=["finish[zzz wrong answer]"])
    failed = collect(wrong, env_id, task_ids, k=2, num_envs=2)
    assert failed and not any(t.success for t in failed)
    return failed


@pytest.mark.parametrize(
    ("env_id", "task_ids"),
    [(ARITH, ["L3-0", "L4-0", "L5-1"]), (MULTIHOP, None)],
    ids=["arithmetic", "multihop"],
)
@pytest.mark.parametrize("feedback", [True, False])
def test_no_reflector_prompt_contains_the_gold_answer(env_id, task_ids, feedback):
    from toolgym.splits import task_split

    task_ids = task_ids or task_split(gym.make(env_id), "train", 3)
    golds = {t: _gold(env_id, t) for t in task_ids}
    for t, g in golds.items():  # the check can only bite where the gold is not in the question itself
        env = gym.make(env_id)
        obs, _ = env.reset(seed=0, options={"task_id": t})
        assert g and g not in str(obs), (t, g)
    failed = _failures(env_id, task_ids)
    llm = ScriptedLLM(["I should check more carefully.\nAction 1: finish[still wrong]"])
    reflector = ClosedLoopReflector(llm, feedback=feedback, max_tokens=32)
    specs = reflector.assign(failed)
    repairs = collect_episodes(reflector, env_id, specs, num_envs=3, max_steps=3)
    assert len(repairs) == len(failed) and all(r.steps for r in repairs)
    assert llm.prompts, "the reflector never prompted its model"
    feedbacks = {attempt_feedback(t) for t in failed}
    assert all(feedbacks)
    by_task = {}
    for p in llm.prompts:
        text = prompt_text(p)
        task = next(t for t in task_ids if text.count(f"Question: {_question(env_id, t)}") >= 1)
        by_task.setdefault(task, []).append(text)
        assert golds[task] not in text, f"the gold answer {golds[task]!r} leaked into a reflector prompt"
        assert "gold" not in text.lower()
        assert "Previous trial:" in text and "finish[zzz wrong answer]" in text  # the failed attempt
        assert any(f in text for f in feedbacks) is feedback  # the env's feedback, unless ablated
    assert set(by_task) == set(task_ids)


@pytest.mark.parametrize(
    ("env_id", "task_ids"),
    [(ARITH, ["L3-0", "L4-0", "L5-1"]), (MULTIHOP, None)],
    ids=["arithmetic", "multihop"],
)
@pytest.mark.parametrize("mode", ["feedback", "nofeedback", "vote"])
def test_no_prompt_of_the_repair_policy_contains_the_gold_answer(env_id, task_ids, mode):
    """The same check for ``make_policy("repair")``: M's trials and R's (which see M's failed trials) alike."""
    from toolgym.agents import rollout
    from toolgym.splits import task_split

    task_ids = task_ids or task_split(gym.make(env_id), "train", 3)
    golds = {t: _gold(env_id, t) for t in task_ids}
    llm = ScriptedLLM(["I should check more carefully.\nAction 1: finish[still wrong]"])
    options = {"feedback": mode == "feedback", "vote": mode == "vote", "temperature": 0.7, "seed": 0}
    policy = make_policy("repair", llm=llm, max_trials=3, max_tokens=32, **options)
    eps = rollout(policy, env_id, task_ids=task_ids, num_envs=2, max_steps=3)
    assert all(e.result.metadata["trials"] == 3 + (mode == "vote") for e in eps)
    reflector_prompts = 0
    for p in llm.prompts:
        text = prompt_text(p)
        task = next(t for t in task_ids if f"Question: {_question(env_id, t)}" in text)
        assert golds[task] not in text, f"the gold answer {golds[task]!r} leaked into a prompt"
        assert "gold" not in text.lower()
        if "Previous trial:" in text:
            reflector_prompts += 1
            assert "finish[still wrong]" in text
            assert ("Feedback:" in text) is (mode == "feedback")
            assert ("reward =" in text.split("Previous trial:", 1)[1]) is (mode != "vote")  # vote: shown blind
    assert reflector_prompts == len(task_ids) * (1 if mode == "vote" else 2)


def _question(env_id: str, task_id: str) -> str:
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0, options={"task_id": task_id})
    text = str(obs).strip()
    return text[len("Question:") :].strip() if text.startswith("Question:") else text


def test_a_malformed_action_is_an_observation_never_a_crash():
    failed = _failures(ARITH, ["L2-0"])
    reflector = ClosedLoopReflector(ScriptedLLM(["%%% ???", "calc[[[(", ""], cycle=True), max_tokens=16)
    repairs = collect_episodes(reflector, ARITH, reflector.assign(failed), num_envs=2, max_steps=4)
    for r in repairs:
        assert "error" not in r.metadata
        assert len(r.steps) == 4 and not r.success
        assert any(s.invalid_action for s in r.steps)
        assert all(s.observation for s in r.steps)


def test_its_rollouts_are_charged_to_the_ledger():
    failed = _failures(ARITH, ["L1-0", "L2-0"])
    ledger = Ledger()
    reflector = ClosedLoopReflector(ScriptedLLM(["Thought.\nAction 1: finish[1]"]), max_tokens=16)
    repairs = collect_episodes(
        reflector, ARITH, reflector.assign(failed), num_envs=2, max_steps=3, ledger=ledger, phase="reflect"
    )
    row = ledger.phases["reflect"]
    assert row["episodes"] == len(failed) == 4
    assert row["env_steps"] == sum(len(r.steps) for r in repairs) > 0
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
    assert all(r.metadata["method"] == "reflector" for r in repairs)


def test_a_verified_repair_and_its_training_text_from_the_same_prompts():
    failed = _failures(ARITH, ["L1-0"])[:1]
    gold = _gold(ARITH, "L1-0")
    llm = ScriptedLLM([f"The feedback says I was wrong; I will answer properly.\nAction 1: finish[{gold}]"])
    reflector = ClosedLoopReflector(llm, examples="none", max_tokens=32)
    repair = collect_episodes(reflector, ARITH, reflector.assign(failed), num_envs=1, max_steps=3)[0]
    assert repair.success  # verified by the env, not by the reflector
    segments = training_segments(reflector, repair, env=gym.make(ARITH))
    text = training_text(segments)
    assert prompt_text(llm.prompts[0]) == segments[0].text  # the prompt it sent is the training context
    assert text.startswith(segments[0].text) and "Previous trial:" in segments[0].text
    assert [s.text.strip() for s in segments if s.trained][0].endswith("\nObservation")


def test_an_unassigned_episode_is_a_clear_error():
    from toolgym.agents import rollout

    reflector = ClosedLoopReflector(ScriptedLLM(["Action 1: finish[1]"]))
    ep = rollout(reflector, ARITH, task_ids=["L1-0"])[0]
    assert ep.result.error and "assign" in ep.result.error


def test_attempt_specs_name_each_attempt_once():
    failed = _failures(ARITH, ["L1-0"])
    twice = [*failed, *failed]  # the same seeds again: new seeds are derived
    specs = attempt_specs(twice)
    assert len({(s.task_id, s.seed) for s in specs}) == len(twice)
    assert [s.seed for s in specs[: len(failed)]] == [t.metadata["seed"] for t in failed]


def test_the_reflector_is_a_registered_policy():
    r = make_policy("closed-loop-reflector", llm=ScriptedLLM(["x"]), feedback=False)
    assert isinstance(r, ClosedLoopReflector) and r.name == "reflector-nofeedback"


def test_a_long_attempt_is_cut_to_its_last_steps():
    long = collect(
        make_policy("scripted", actions=["calc[1+1]", "calc[2+2]", "calc[3+3]", "finish[0]"]), ARITH, ["L3-0"]
    )
    assert len(long[0].steps) == 4
    llm = ScriptedLLM(["Action 1: finish[1]"])
    reflector = ClosedLoopReflector(llm, attempt_steps=2, max_tokens=16)
    collect_episodes(reflector, ARITH, reflector.assign(long), num_envs=1, max_steps=1)
    text = prompt_text(llm.prompts[0])
    assert "(earlier steps omitted)" in text and "calc[3+3]" in text and "finish[0]" in text
    assert "calc[1+1]" not in text and "calc[2+2]" not in text


def test_an_env_that_reveals_the_gold_answer_in_its_feedback_is_refused():
    from types import SimpleNamespace

    from toolgym.error import ConfigError

    failed = _failures(ARITH, ["L1-0"])
    reflector = ClosedLoopReflector(ScriptedLLM(["Action 1: finish[1]"]))
    (spec,) = reflector.assign(failed[:1])
    revealing = SimpleNamespace(unwrapped=SimpleNamespace(reveal_answer=True))  # VQA made with reveal_answer=True
    info = {"task_id": spec.task_id, "reset_seed": spec.seed}
    with pytest.raises(ConfigError, match="reveal_answer"):
        reflector.reset("Question: What is 5 - 5?", info, env=revealing)
    ablated = ClosedLoopReflector(ScriptedLLM(["Action 1: finish[1]"]), feedback=False)
    ablated.assign(failed[:1])
    ablated.reset("Question: What is 5 - 5?", info, env=gym.make(ARITH))  # no feedback shown: allowed
