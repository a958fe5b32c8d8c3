"""Reflexion as a learning curve: the memory arm against plain retries, the verdict, resume and the report."""

from __future__ import annotations

import json

import pytest

from toolgym.agents.llm.scripted import ScriptedLLM, prompt_text
from toolgym.benchmarks.trials import TrialsConfig, held_out_check, run_trials
from toolgym.error import ConfigError

LESSON = "I guessed instead of computing. Next time I will use the calculator."


@pytest.fixture
def learns_from_reflection(calc_step):
    """Solves only when a reflection is in its prompt: memory should rise, retries stay flat."""

    def respond(prompt, params):
        text = prompt_text(prompt)
        if text.rstrip().endswith("Reflection:"):
            return " " + LESSON
        if LESSON not in text:
            return " I can do this in my head.\nAction 1: finish[12345]"
        return calc_step(text)

    return respond


@pytest.fixture
def confused_by_reflection(calc_step):
    """Never solves with a reflection in its prompt; without one, solves when its sample is lucky.

    Its luck is the row's sampling seed (one prompt per call with ``num_envs=1``), so it changes from trial to trial
    only if the retries are sampled with different seeds. The (question, seed) pairs it saw are in ``.seen``.
    """

    def respond(prompt, params):
        text = prompt_text(prompt)
        if text.rstrip().endswith("Reflection:"):
            return " I should think harder."
        if "Reflections:" in text or not params.seeds:
            return " Let me guess.\nAction 1: finish[12345]"
        episode = text.rsplit("Question:", 1)[1]
        respond.seen.append((episode.split("\n", 1)[0], params.seeds[0]))
        if "Observation 1:" not in episode and params.seeds[0] % 2:
            return " Let me guess.\nAction 1: finish[12345]"
        return calc_step(text)

    respond.seen = []
    return respond


def _config(llm, **kw):
    base = {"llm": llm, "trials": 3, "tasks": 4, "seeds": (0, 1), "examples": "none", "max_tokens": 32, "num_envs": 1}
    return TrialsConfig(**{**base, **kw})


def test_memory_rises_retries_stay_flat_and_the_claim_holds(tmp_path, learns_from_reflection):
    summary = run_trials(_config(ScriptedLLM(learns_from_reflection)), tmp_path)
    mem, ret = summary["arms"]["memory"], summary["arms"]["retry"]
    assert [e["mean"] for e in mem["success_by_trial"]] == [0.0, 1.0, 1.0]
    assert [e["mean"] for e in ret["success_by_trial"]] == [0.0, 0.0, 0.0]
    assert summary["verdict"] == {**summary["verdict"], "judged": True, "holds": True}
    assert mem["budget_mean_per_seed"]["trials"] == 8 and ret["budget_mean_per_seed"]["trials"] == 12
    assert mem["budget_mean_per_seed"]["completion_tokens"] > 0 and ret["budget_mean_per_seed"]["env_steps"] == 12
    report = (tmp_path / "report.md").read_text()
    assert "reflection helps: HELD" in report and "| memory | reflexion |" in report
    assert (tmp_path / "trials.png").read_bytes().startswith(b"\x89PNG")
    assert json.loads((tmp_path / "summary.json").read_text())["verdict"]["holds"] is True
    assert summary["paired_last_trial"] == {"mean": 1.0, "lo": 1.0, "hi": 1.0, "n": 2}
    rows = {arm: json.loads((tmp_path / arm / "seed-0.json").read_text())["tasks"] for arm in ("memory", "retry")}
    assert all(r["reflections"] == [LESSON] for r in rows["memory"])  # what the solving trial had in its memory
    assert all(r["reflections"] == [] for r in rows["retry"])
    assert "Memory minus retry at trial 3, paired by seed (for information): +1.000" in report
    assert not list(tmp_path.rglob("*.tmp"))


def test_when_retries_do_as_well_the_claim_does_not_hold(tmp_path, confused_by_reflection):
    summary = run_trials(_config(ScriptedLLM(confused_by_reflection), tasks=6), tmp_path)
    mem, ret = summary["arms"]["memory"], summary["arms"]["retry"]
    assert [e["mean"] for e in ret["success_by_trial"]] == sorted(e["mean"] for e in ret["success_by_trial"])
    assert ret["success_by_trial"][-1]["mean"] > ret["success_by_trial"][0]["mean"]  # retries rise by luck
    assert mem["success_by_trial"][-1]["mean"] == mem["success_by_trial"][0]["mean"]  # reflections never help
    assert summary["verdict"]["judged"] and not summary["verdict"]["holds"]
    assert "reflection helps: did not hold" in (tmp_path / "report.md").read_text()
    # retries of one task are sampled with different seeds (temperature > 0, seeded per trial)
    by_question: dict[str, set[int]] = {}
    for question, seed in confused_by_reflection.seen:
        by_question.setdefault(question, set()).add(seed)
    assert by_question and all(len(s) > 1 for s in by_question.values())
    assert ret["distinct_retries"] is not None


def test_one_seed_is_not_judged_and_a_run_resumes(tmp_path, learns_from_reflection):
    llm = ScriptedLLM(learns_from_reflection)
    config = _config(llm, seeds=(0,), tasks=2, trials=2)
    first = run_trials(config, tmp_path)
    assert not first["verdict"]["judged"] and "NOT JUDGED" in (tmp_path / "report.md").read_text()
    calls = len(llm.prompts)
    (tmp_path / "summary.json").unlink()
    again = run_trials(config, tmp_path, resume=True)  # every arm x seed is read back: no model call
    assert len(llm.prompts) == calls and again["arms"] == first["arms"]
    with pytest.raises(ConfigError, match="not empty"):
        run_trials(config, tmp_path)
    with pytest.raises(ConfigError, match="another config"):
        run_trials(_config(llm, seeds=(0,), tasks=3, trials=2), tmp_path, resume=True)


def test_the_tasks_are_held_out_and_the_config_is_checked(tmp_path, learns_from_reflection):
    import gymnasium as gym

    from toolgym.splits import task_split

    run_trials(_config(ScriptedLLM(learns_from_reflection), tasks=2, seeds=(0,), arms=("retry",)), tmp_path)
    rows = json.loads((tmp_path / "retry" / "seed-0.json").read_text())["tasks"]
    env = gym.make("toolgym/ToolChoice-Arithmetic-v0")
    assert [r["task_id"] for r in rows] == task_split(env, "test", 2)
    assert not set(task_split(env, "train", 200)) & {r["task_id"] for r in rows}
    for bad in ({"temperature": 0.0}, {"arms": ("memory", "nope")}, {"trials": 0}):
        with pytest.raises(ConfigError):
            _config("tiny", **bad)


def test_the_held_out_check_is_written_and_catches_an_example_task(tmp_path, learns_from_reflection):
    import gymnasium as gym

    from toolgym.splits import task_split

    config = _config(ScriptedLLM(learns_from_reflection), tasks=2, seeds=(0,), arms=("retry",), examples="expert")
    summary = run_trials(config, tmp_path)
    held = summary["held_out"]
    assert held["disjoint"] and held["task_splits"] == {"test": 2} and held["example_questions"] == 2
    assert held["shared_questions"] == 0
    assert (
        "Held out (checked in code): 2 tasks, splits {'test': 2}; 2 few-shot example questions, 0 shared"
        in (tmp_path / "report.md").read_text()
    )
    env = gym.make("toolgym/ToolChoice-Arithmetic-v0")
    leaked = held_out_check(env, config, task_split(env, "examples", 2))  # the examples' own tasks
    assert not leaked["disjoint"] and leaked["shared_questions"] == 2 and "test" not in leaked["task_splits"]


def test_the_repair_arm_runs_the_closed_loop_reflector(tmp_path, calc_step):
    def repairing(prompt, params):
        text = prompt_text(prompt)
        if "Previous trial:" in text:
            return calc_step(text)
        return " Guess.\nAction 1: finish[12345]"

    summary = run_trials(_config(ScriptedLLM(repairing), arms=("repair", "retry"), tasks=2), tmp_path)
    assert [e["mean"] for e in summary["arms"]["repair"]["success_by_trial"]] == [0.0, 1.0, 1.0]
    assert not summary["verdict"]["judged"]  # no memory arm: nothing to judge


@pytest.mark.slow
def test_the_tiny_model_samples_different_retries(tmp_path):
    """The HF backend's per-row seeds: at temperature > 0 the retries of a task are not copies of each other."""
    config = TrialsConfig(
        llm="tiny", trials=2, tasks=2, seeds=(0,), arms=("retry",), examples="none", max_tokens=8, max_steps=2
    )
    summary = run_trials(config, tmp_path)
    assert summary["arms"]["retry"]["distinct_retries"] == 1.0


def test_the_cli_runs_and_refuses_a_bad_arm(tmp_path):
    from typer.testing import CliRunner

    from toolgym.benchmarks.cli import app

    args = ["trials", "--llm", "tiny", "--trials", "1", "--tasks", "1", "--seeds", "1", "--arms", "retry"]
    args += ["--examples", "none", "--max-tokens", "4", "--max-steps", "1", "--out", str(tmp_path / "run")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "reflection helps: NOT JUDGED" in res.output and (tmp_path / "run" / "trials.png").is_file()
    bad = CliRunner().invoke(app, ["trials", "--arms", "memory,nope", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "arms" in bad.output
