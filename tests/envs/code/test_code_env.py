"""The code environments: actions, feedback, grading, costs, snapshots, pickling, close, bad input."""

from __future__ import annotations

import json
import pickle

import gymnasium as gym
import pytest

from toolgym.data import data_dir
from toolgym.envs.code.env import EXAMPLE_TASKS, CodeEnv, HumanEvalEnv, MBPPEnv, PythonTasksEnv
from toolgym.envs.code.grading import instrument
from toolgym.envs.code.tasks import CodeTask, defines, docstring_tests, load_jsonl, split_check_function
from toolgym.error import ConfigError, DataNotFoundError, UnknownTaskError
from toolgym.sandbox import ProcessSandbox
from toolgym.testing import check_info

HAS_MBPP = (data_dir() / "mbpp" / "mbpp.jsonl").is_file() and (data_dir() / "mbpp" / "sanitized-mbpp.json").is_file()
needs_mbpp = pytest.mark.skipif(not HAS_MBPP, reason="MBPP data missing: set TOOLGYM_DATA_DIR to a folder with mbpp/")


@pytest.fixture
def env():
    e = PythonTasksEnv(sandbox="process")
    yield e
    e.close()


def test_reset_shows_the_task_and_is_fast(env):
    obs, info = env.reset(options={"task_id": "add"})
    check_info(info, after_reset=True)
    assert obs.startswith("Task add:") and "add(a, b)" in obs and "assert add(1, 2) == 3" in obs
    assert "execute[<code>]" in obs and info["executions"] == 0 and info["hidden_total"] == 0
    assert env._sandbox is None  # nothing starts until code runs
    with pytest.raises(UnknownTaskError, match="task id"):
        env.reset(options={"task_id": "nope"})


def test_execute_keeps_state_and_reports_errors(env):
    env.reset(options={"task_id": "add"})
    obs, r, term, trunc, info = env.step("execute[x = 20\nprint('hello')]")
    assert obs == "hello" and not term and not trunc and not info["invalid_action"]
    assert r == pytest.approx(-(0.01 + 0.1 * 0.01))  # per call + nominal seconds
    assert info["tool_calls"][0]["name"] == "execute" and info["executions"] == 1
    obs, *_ = env.step("```python\nx + 22\n```")
    assert obs == "Out: 42"
    obs, _, _, _, info = env.step("execute[def f():\n    return 1 / 0\nf()]")
    assert "ZeroDivisionError: division by zero" in obs and 'File "<exec-3>", line 2, in f' in obs
    assert info["feedback"].startswith("ZeroDivisionError")
    obs, *_ = env.step('{"tool": "execute", "args": {"code": "print(x * 2)"}}')
    assert obs == "40"
    obs, *_ = env.step('execute[print("a]b", [1][0])]')  # a "]" inside a string
    assert obs == "a]b 1"


def test_limits_are_observations():
    env = PythonTasksEnv(sandbox="process", limits={"wall_s": 1.0, "cpu_s": 1.0, "memory_mb": 512})
    env.reset(options={"task_id": "add"})
    obs, _, term, _, info = env.step("execute[import time\ntime.sleep(60)]")
    assert "the wall-clock limit of 1 s was reached" in obs and not term and not info["invalid_action"]
    obs, *_ = env.step("execute[x = bytearray(8 << 30)]")
    assert "MemoryError" in obs and "[memory limit reached]" in obs
    obs, *_ = env.step("execute[print('x' * 100_000)]")
    assert obs.startswith("x" * 100) and "[output cut:" in obs and len(obs) < 2600
    obs, *_ = env.step("execute[import os; os._exit(2)]")
    assert "exited with status 2" in obs
    env.close()


def test_visible_tests_on_session_and_on_code(env):
    env.reset(options={"task_id": "palindrome"})
    obs, _, _, _, info = env.step("test[]")
    assert obs.startswith("Visible tests: 0/2 passed.") and "NameError" in obs and info["feedback"] == obs
    env.step("execute[def is_palindrome(s):\n    return s == s[::-1]]")
    obs, *_ = env.step("test[]")
    assert (
        "1/2 passed" in obs
        and "FAIL assert is_palindrome('A man, a plan, a canal: Panama') == True  # output: False" in obs
    )
    obs, *_ = env.step(
        "test[def is_palindrome(s):\n    t = [c.lower() for c in s if c.isalnum()]\n    return t == t[::-1]]"
    )
    assert obs.startswith("Visible tests: 2/2 passed.")
    obs, *_ = env.step("execute[is_palindrome('Aa')]")
    assert obs == "Out: False"  # test[<code>] did not change the session (the naive version is still there)


def test_submit_grades_with_hidden_tests(env):
    env.reset(options={"task_id": "fizzbuzz"})
    obs, r, term, _, info = env.step("submit[def fizzbuzz(n):\n    return [str(i) for i in range(1, n + 1)]]")
    assert term and r == 0.0 and not info["success"] and info["score"] == pytest.approx(3 / 5)
    assert obs == "Submitted. Hidden tests passed: 3/5." and info["hidden_passed"] == 3 and info["hidden_total"] == 5
    assert "assert" not in info["feedback"]  # hidden tests stay hidden
    env.reset(options={"task_id": "fizzbuzz"})
    obs, r, term, _, info = env.step(env.expert_action())
    assert term and r == 1.0 and info["success"] and info["score"] == 1.0 and obs.endswith("All tests pass.")


def test_submit_variants(env):
    env.reset(options={"task_id": "flatten"})  # completion of the prompt's body
    body = "    out = []\n    for x in items:\n"
    body += "        out.extend(flatten(x) if isinstance(x, list) else [x])\n    return out\n"
    _, r, _, _, info = env.step("Submit:\n```python\n" + body + "```")
    assert info["success"] and r == 1.0
    env.reset(options={"task_id": "add"})
    obs, r, term, _, info = env.step("submit[def add(a, b) return a + b]")
    assert term and info["score"] == 0.0 and "SyntaxError" in obs
    env.reset(options={"task_id": "add"})
    obs, _, term, _, info = env.step("submit[]")
    assert not term and info["invalid_action"] and "needs your complete solution" in obs
    obs, _, term, _, info = env.step("submit[" + "x = 1\n" * 2_000_000 + "]")
    assert not term and info["invalid_action"] and "at most 100000 characters" in obs


def test_bad_input_never_raises(env):
    env.reset(options={"task_id": "add"})
    for action in [b"execute[print('\xff\xfe')]", "execute[x = 1\x00]", "execute[   ]", "", "```python\n", None, 3.5]:
        obs, r, term, trunc, info = env.step(action)
        check_info(info)
        assert isinstance(obs, str) and obs
    obs, *_ = env.step(b"execute[print('\xff')]")
    assert obs == "\ufffd"


def test_fraction_reward_and_truncation():
    env = PythonTasksEnv(sandbox="process", reward="fraction", max_steps=2)
    try:
        env.reset(options={"task_id": "fizzbuzz"})
        _, r, *_ = env.step("submit[def fizzbuzz(n):\n    return [str(i) for i in range(1, n + 1)]]")
        assert r == pytest.approx(0.6)
        env.reset(options={"task_id": "add"})
        env.step("execute[1]")
        obs, r, term, trunc, info = env.step("execute[2]")
        assert trunc and not term and "without a submission" in obs and info["score"] == 0.0
    finally:
        env.close()


def test_measured_latency_costs():
    env = PythonTasksEnv(sandbox="process", latency="measured", cost_weight=2.0)
    try:
        env.reset(options={"task_id": "add"})
        _, r, _, _, info = env.step("execute[import time; time.sleep(0.2)]")
        call = info["tool_calls"][0]
        assert call["latency_s"] >= 0.2 and call["cost"] == pytest.approx(0.01 + 0.1 * call["latency_s"])
        assert r == pytest.approx(-2.0 * call["cost"])
    finally:
        env.close()


def test_snapshot_restores_the_session_history(env):
    env.reset(options={"task_id": "add"})
    env.step("execute[x = 1]")
    env.step("execute[items = [x]]")
    state, key = env.get_state(), env.state_key()
    env.step("execute[x = 100\nitems.append(x)]")
    assert env.step("execute[print(x, items)]")[0] == "100 [1, 100]"
    env.set_state(state)
    assert env.state_key() == key
    assert env.step("execute[print(x, items)]")[0] == "1 [1]"  # replayed into a fresh session
    # a snapshot restores into another env too (e.g. one unpickled in another process)
    other = PythonTasksEnv(sandbox="process")
    try:
        other.reset(seed=5)
        other.set_state(pickle.loads(pickle.dumps(state)))
        assert other.state_key() == key
        assert other.step("execute[print(x, items)]")[0] == "1 [1]"
    finally:
        other.close()


def test_snapshot_to_a_later_state_runs_only_the_missing_executions(env):
    env.reset(options={"task_id": "add"})
    env.step("execute[log = []]")
    early = env.get_state()
    env.step("execute[log.append('a')]")
    late = env.get_state()
    env.set_state(early)
    env.set_state(late)
    assert env.step("execute[print(log)]")[0] == "['a']"
    assert env.get_state().task[1] == ("log = []", "log.append('a')", "print(log)")


def test_pickle_mid_episode_continues(env):
    env.reset(options={"task_id": "add"})
    env.step("execute[secret = 41]")
    clone = pickle.loads(pickle.dumps(env))
    try:
        assert clone.step("execute[secret + 1]")[0] == "Out: 42"
        assert env.step("execute[secret + 1]")[0] == "Out: 42"
    finally:
        clone.close()


def test_close_leaves_no_process(uid_processes):
    env = gym.make("toolgym/PythonTasks-v0", sandbox="process")
    env.reset(seed=0)
    env.step("execute[import subprocess\np = subprocess.Popen(['sleep', '300'])]")
    sb = env.unwrapped.sandbox
    uid = sb.info.get("drop_uid")
    worker = sb._holder.transport.proc.pid
    env.close()
    assert not sb.alive
    import os

    assert not os.path.exists(f"/proc/{worker}/status")
    if uid is not None:
        assert uid_processes(uid) == []


def test_shared_sandbox_is_not_closed_by_the_env():
    with ProcessSandbox() as sb:
        env = PythonTasksEnv(sandbox=sb)
        env.reset(options={"task_id": "add"})
        assert env.step("execute[print(3)]")[0] == "3"
        env.close()
        assert sb.run("print(4)").stdout == "4\n"


def test_same_actions_same_observations():
    # The CPU limit always stops the loop (the wall limit is far off), so the observation is the same.
    actions = ["execute[import math\nprint(math.factorial(10))]", "execute[1/0]", "test[]", "execute[while True: pass]"]
    outs = []
    for _ in range(2):
        e = PythonTasksEnv(sandbox="process", limits={"wall_s": 30.0, "cpu_s": 1.0})
        try:
            e.reset(seed=3)
            outs.append([e.step(a)[:2] for a in actions])
        finally:
            e.close()
    assert outs[0] == outs[1]


def test_config_errors():
    with pytest.raises(ConfigError, match="reward"):
        PythonTasksEnv(reward="partial")
    with pytest.raises(ConfigError, match="test_timeout"):
        PythonTasksEnv(test_timeout=0)
    with pytest.raises(ConfigError, match="sandbox"):
        PythonTasksEnv(sandbox=3)
    with pytest.raises(ConfigError, match="at least one task"):
        CodeEnv([])
    with pytest.raises(ConfigError, match="variant"):
        MBPPEnv(variant="tiny")


def test_jsonl_schema_errors(tmp_path):
    p = tmp_path / "tasks.jsonl"
    p.write_text('{"task_id": "a", "prompt": "p"}\n')
    with pytest.raises(ConfigError, match=r"tasks.jsonl:1: expected the keys .* missing \['tests'\]"):
        load_jsonl(p)
    p.write_text('{"task_id": "a", "prompt": "p", "tests": ["assert 1"], "colour": 1}\n')
    with pytest.raises(ConfigError, match=r"unknown \['colour'\]"):
        load_jsonl(p)
    p.write_text("not json\n")
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_jsonl(p)
    with pytest.raises(DataNotFoundError):
        load_jsonl(tmp_path / "missing.jsonl")
    rows = [json.loads(line) for line in EXAMPLE_TASKS.read_text().splitlines()]
    assert all({"task_id", "prompt", "tests", "reference"} <= set(r) for r in rows)


def test_user_tasks_from_a_file(tmp_path):
    p = tmp_path / "mine.jsonl"
    p.write_text(json.dumps({"task_id": "sq", "prompt": "square(x)", "tests": ["assert square(3) == 9"]}) + "\n")
    env = gym.make("toolgym/PythonTasks-v0", path=str(p), sandbox="process")
    try:
        obs, info = env.reset(seed=0)
        assert info["task_id"] == "sq" and not env.unwrapped.expert_solves_all
        obs, *_ = env.step("test[]")
        assert "no visible tests" in obs
        _, r, term, _, info = env.step("submit[square = lambda x: x * x]")
        assert term and info["success"]
    finally:
        env.close()


def test_humaneval_tasks_and_prompt():
    env = HumanEvalEnv(sandbox="process")
    try:
        assert len(env.task_ids()) == 164
        obs, info = env.reset(options={"task_id": "HumanEval/0"})
        assert "def has_close_elements" in obs and "assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False" in obs
        task = env.task
        assert task.completion_prefix == task.prompt and len(task.tests) == 7
        _, r, _, _, info = env.step("submit[" + "    return False\n" + "]")  # a completion, wrong
        assert info["hidden_total"] == 7 and 0 < info["score"] < 1 and r == 0.0
    finally:
        env.close()


@needs_mbpp
def test_mbpp_variants_and_splits():
    env = MBPPEnv(sandbox="process")
    try:
        assert len(env.task_ids()) == 500 and env.task_ids()[0] == "MBPP/11"
        obs, _ = env.reset(options={"task_id": "MBPP/11"})
        assert obs.startswith("Task MBPP/11:\n\nYou are an expert Python programmer") and "Visible tests" not in obs
        _, r, *_ = env.step(env.expert_action())
        assert r == 1.0
    finally:
        env.close()
    assert len(MBPPEnv(variant="sanitized").task_ids()) == 257
    assert len(MBPPEnv(split="all").task_ids()) == 974
    one = MBPPEnv(num_visible=1)
    assert all(len(t.visible_tests) == 1 and len(t.tests) == 3 for t in one.tasks)
    assert any(len(t.tests) > 3 for t in MBPPEnv(split="all", challenge=True).tasks)


def test_docstring_tests_and_check_splitting():
    assert docstring_tests("    >>> f(2)\n    4\n    f(3) ==> 9\n    f(n) == f(n-1)\n    f(x) -> true\n", "f") == (
        "assert f(2) == 4",
        "assert f(3) == 9",
    )
    setup, steps = split_check_function(
        "def check(candidate):\n    import math\n    assert candidate(1) == 1\n    for i in range(3):\n"
        "        assert candidate(i) >= 0\n    def helper():\n        assert False\n",
        "g",
    )
    assert setup.endswith("candidate = g\n")
    assert [is_test for _, is_test in steps] == [False, True, True, False]
    assert steps[2][0] == "for i in range(3):\n    assert candidate(i) >= 0\n"
    assert defines("def g(): pass", "g") and defines("g = lambda: 1", "g") and not defines("def h(): pass", "g")
    assert instrument("assert x") == "assert x" and instrument("assert f(1) == 2, 'msg'") == "assert f(1) == 2, 'msg'"


def test_code_task_validation():
    with pytest.raises(ConfigError, match="at least one hidden test"):
        CodeTask("t", "p", ())
    with pytest.raises(ConfigError, match="non-empty"):
        CodeTask("", "p", ("assert 1",))
