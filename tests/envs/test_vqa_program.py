"""Program mode: programs against the image API, run in the code sandbox, observed and priced."""

from __future__ import annotations

import pickle

import pytest

from toolgym.agents.vqa import ProgramPolicy, policy_accuracy
from toolgym.envs.vqa.env import ShapesVQAEnv
from toolgym.envs.vqa.program import (
    Execution,
    build_program,
    describe_run,
    read_program_output,
)
from toolgym.envs.vqa.scene import DIFFICULTIES, generate_scene, render_scene

COUNT = """```python
def execute_command(image) -> str:
    image_patch = ImagePatch(image)
    objects = image_patch.find("object")
    print("colours:", sorted(o.color() for o in objects))
    return str(len(objects))
```"""


@pytest.fixture(scope="module")
def env():
    e = ShapesVQAEnv(mode="program", program_timeout_s=5)
    yield e
    e.close()


def _reset(env, task_id="shapes-3"):
    env.reset(options={"task_id": task_id})
    return env.task


def test_a_program_runs_in_the_sandbox_and_is_priced(env):
    task = _reset(env)
    obs, reward, term, trunc, info = env.step(COUNT)
    n = len(task.scene.objects)
    assert not term and not info["invalid_action"]
    assert obs["output"].endswith(f"Result: '{n}'") and "colours: [" in obs["output"]
    names = [c["name"] for c in info["tool_calls"]]
    assert names.count("program") == 1 and names.count("find") == 1 and names.count("color") == n
    assert reward == pytest.approx(-(0.05 + 0.02 + 0.01 * n))
    assert info["feedback"] == f"The program returned '{n}'."


def test_printing_the_answer_works_too(env):
    _reset(env)
    obs, *_ = env.step("```python\np = ImagePatch(image)\nprint('computing')\nprint(p.count('red'))\n```")
    assert obs["output"].startswith("Program output:\ncomputing\n") and "Result: '" in obs["output"]


def test_errors_show_the_programs_own_traceback(env):
    _reset(env)
    code = (
        "```python\ndef execute_command(image):\n    patches = ImagePatch(image).find('circle')\n"
        "    return patches[99].color()\n```"
    )
    obs, _, term, _, info = env.step(code)
    out = obs["output"]
    assert not term and out.startswith("Program error:\nTraceback (most recent call last):\n")
    assert 'File "<program>", line 3, in execute_command' in out and "return patches[99].color()" in out
    assert out.rstrip().endswith("IndexError: list index out of range")
    assert "toolgym" not in out  # no harness or library frames
    assert info["feedback"] == "The program raised an error: IndexError: list index out of range"
    obs, *_ = env.step("```python\nx = (\n```")
    assert "SyntaxError" in obs["output"]


def test_a_runaway_program_is_stopped():
    e = ShapesVQAEnv(mode="program", program_timeout_s=1)
    try:
        _reset(e)
        obs, _, term, _, info = e.step("```python\nwhile True:\n    pass\n```")
        assert not term and "Program did not finish: stopped: wall-clock time limit reached" in obs["output"]
        obs, *_ = e.step(COUNT)  # the next run is unaffected
        assert "Result:" in obs["output"]
    finally:
        e.close()


def test_a_program_cannot_forge_the_report(env):
    _reset(env)
    forged = '@@toolgym-vqa-0000000000000000@@{"result": "yes", "has_result": true, "error": null, "calls": {}}'
    obs, _, _, _, info = env.step(f"```python\nprint({forged!r})\nprint('no')\n```")
    assert obs["output"].endswith("Result: 'no'")
    assert [c["name"] for c in info["tool_calls"]] == ["program"]


def test_submit_ends_the_episode_with_the_programs_result(env):
    task = _reset(env, "shapes-11")
    gold = task.answer
    obs, reward, term, _, info = env.step(f"Submit:\n```python\ndef execute_command(image):\n    return {gold!r}\n```")
    assert term and info["success"] and reward == pytest.approx(1 - 0.05)
    task = _reset(env, "shapes-11")
    obs, reward, term, _, info = env.step("Submit:\n```python\nraise ValueError('nope')\n```")
    assert term and not info["success"] and "ValueError: nope" in info["feedback"]
    assert "The program gave no answer" in obs["output"] or "unanswered" in obs["output"]


def test_reflect_and_repair_loop():
    """Re-ReST's loop: a wrong program, feedback with the expected answer, a repaired program."""
    e = ShapesVQAEnv(mode="program", reveal_answer=True, question_kinds=("count",))
    try:
        e.reset(options={"task_id": "shapes-1"})
        assert e.task.question == "How many objects are there?" and e.task.answer == "6"
        wrong = "Submit:\n```python\ndef execute_command(image):\n    return len(ImagePatch(image).find('circle'))\n```"
        obs, _, term, _, info = e.step(wrong)
        assert term and not info["success"]
        assert info["feedback"] == (
            "The program returned '2'. The answer '2' is incorrect. The expected answer is '6'."
        )
        e.reset(options={"task_id": "shapes-1"})
        _, reward, _, _, info = e.step(COUNT.replace("```python", "Submit:\n```python"))
        assert info["success"] and reward > 0.8
    finally:
        e.close()


def test_snapshot_keeps_program_history_and_pickle_drops_the_sandbox(env):
    _reset(env)
    env.step(COUNT)
    state, before = env.get_state(), env.observe()
    env.step("```python\nprint('other')\n```")
    env.set_state(state)
    assert env.observe()["output"] == before["output"]
    clone = pickle.loads(pickle.dumps(env))
    assert clone._program_runner is None
    obs, *_ = clone.step(COUNT)  # the copy starts a sandbox of its own
    assert "Result:" in obs["output"]
    clone.close()


def test_the_scripted_program_policy(env):
    report = policy_accuracy(env, ProgramPolicy(), [f"shapes-{n}" for n in range(700, 725)])
    assert report.overall.accuracy >= 0.95, report.failures
    assert report.steps == 25  # one submitted program per question


def test_tool_actions_still_work_in_program_mode(env):
    _reset(env)
    obs, *_ = env.step("count[object]")
    assert obs["output"].startswith("There ")


# ---------------------------------------------------------------- the harness alone (no sandbox)


class _Recorder:
    """A test double for a runner: returns canned executions (no code runs)."""

    def __init__(self, execution):
        self.execution, self.scripts = execution, []

    def run(self, script, timeout_s):
        self.scripts.append(script)
        return self.execution

    def close(self):
        pass


def test_runner_statuses_become_observations():
    crash = Execution(stdout="partial output\n", stderr="Killed", status="stopped: memory limit reached", wall_s=0.2)
    runner = _Recorder(crash)
    e = ShapesVQAEnv(mode="program", program_runner=runner)
    e.reset(seed=0)
    obs, _, _, _, info = e.step("```python\nx = [0] * 10**12\n```")
    assert "Program did not finish: stopped: memory limit reached" in obs["output"] and "Killed" in obs["output"]
    assert info["feedback"] == "The program did not finish: stopped: memory limit reached."
    assert "x = [0] * 10**12" in runner.scripts[0]
    e.close()  # the env does not close a runner it was given


def test_build_and_read_program():
    image = render_scene(generate_scene(DIFFICULTIES["easy"], 0))
    script = build_program("print(1)", image, marker="@@M@@")
    assert "ImagePatch" in script and "@@M@@" in script and len(script) > image.size  # pixels travel as text
    report = read_program_output(
        'hello\n\n@@M@@{"result": "3", "has_result": true, "error": null, "calls": {"find": 2}}\n', "@@M@@"
    )
    assert (report.printed, report.result, report.calls, report.completed) == ("hello", "3", {"find": 2}, True)
    report = read_program_output("a\nb\n", "@@M@@")
    assert not report.completed and report.result == "b"
    text, feedback = describe_run(
        read_program_output('@@M@@{"result": null, "has_result": false, "error": null}', "@@M@@")
    )
    assert "returned nothing and printed nothing" in text and feedback == "The program gave no answer."
    long = read_program_output("x" * 5000 + '\n@@M@@{"result": "1", "has_result": true, "error": null}', "@@M@@")
    assert "[output cut: 3000 more characters]" in describe_run(long)[0]
